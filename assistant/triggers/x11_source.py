"""Push-to-talk inside an X11 session from XInput2 raw key events, without grabbing any key."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from dataclasses import dataclass
from typing import Any

from assistant.triggers.keys import ComboTracker, parse_combo
from assistant.triggers.source import Action, Emit

log = logging.getLogger(__name__)

RETRY_SECONDS = 2.0
# X keycodes under the XKB "evdev" keycodes (Xorg with libinput or evdev, Xwayland, Xvfb)
# are the kernel's key codes plus 8; X keycodes stop at 255.
X_KEYCODE_OFFSET = 8
X_KEYCODE_MAX = 255
# XInput2 protocol numbers (XI2proto.h); fixed by the protocol, so not looked up per event.
GENERIC_EVENT = 35
XI_RAW_KEY_PRESS = 13
XI_RAW_KEY_RELEASE = 14
XI_KEY_REPEAT = 1 << 16


class X11Unavailable(Exception):
    """The display cannot deliver raw key events; the message says why."""


class X11Source:
    """Listens to raw key events on the root window, so every client still gets its keys.

    Raw events are used rather than core KeyPress/KeyRelease because they carry no
    autorepeat: XKB repeats a held key as fake release/press pairs in the core stream
    (and as repeat-flagged presses in XI2 device events), but never as raw events.
    """

    name: str = "x11"

    def __init__(self, key: str, *, display: str | None = None, retry_seconds: float = RETRY_SECONDS) -> None:
        self.combo = parse_combo(key)
        self.display = display
        self.retry_seconds = retry_seconds

    def display_name(self) -> str | None:
        return self.display or os.environ.get("DISPLAY") or None

    def check(self) -> str | None:
        unreachable = sorted(c for c in self.combo.codes if c + X_KEYCODE_OFFSET > X_KEYCODE_MAX)
        if unreachable:
            return (
                f"X11 cannot report key code(s) {unreachable} of {self.combo.spec!r} (mouse buttons "
                "and keys past X keycode 255); use the evdev source or another key."
            )
        name = self.display_name()
        if name is None:
            return "DISPLAY is not set, so there is no X11 session to listen to; use the evdev source."
        try:
            conn = _connect(name)
        except ImportError:
            return "python-xlib is not installed; install it to listen through X11."
        except X11Unavailable as exc:
            return f"{exc}; use the evdev source."
        except Exception as exc:
            return f"Cannot open X display {name!r} ({exc}); check DISPLAY and XAUTHORITY for this user."
        conn.close()
        return None

    async def run(self, emit: Emit) -> None:
        """Listen until cancelled, reconnecting when the X server goes away."""
        tracker = ComboTracker(self.combo)
        failures = 0
        while True:
            name = self.display_name()
            try:
                if name is None:
                    raise X11Unavailable("DISPLAY is not set")
                conn = _connect(name)
            except Exception as exc:
                # The first failure in a row is worth a warning; retries stay quiet.
                level = logging.WARNING if failures == 0 else logging.DEBUG
                log.log(level, "cannot listen to X display %s: %s; retrying", name, exc)
                failures += 1
            else:
                failures = 0
                try:
                    await self._listen(name, conn, tracker, emit)
                except Exception as exc:
                    log.warning("lost X display %s: %s; reconnecting", name, exc)
                # Nothing can be held once the connection is gone.
                _send(emit, tracker.reset())
            await asyncio.sleep(self.retry_seconds)

    async def _listen(self, name: str, conn: _Connection, tracker: ComboTracker, emit: Emit) -> None:
        if os.environ.get("WAYLAND_DISPLAY"):
            log.warning("under Wayland, X11 sees keys only while an X11 window has focus; "
                        "the evdev source works everywhere")
        loop = asyncio.get_running_loop()
        lost: asyncio.Future[None] = loop.create_future()
        fd = conn.display.fileno()

        def on_readable() -> None:
            try:
                while conn.display.pending_events():
                    conn.handle(conn.display.next_event(), tracker, emit)
            except Exception as exc:  # the connection broke or the server sent garbage
                loop.remove_reader(fd)
                if not lost.done():
                    lost.set_exception(exc)

        log.info("listening to X display %s for %s", name, self.combo.spec)
        loop.add_reader(fd, on_readable)
        try:
            # Replies read while setting up may already have queued events.
            on_readable()
            await lost
        finally:
            loop.remove_reader(fd)
            conn.close()


def _send(emit: Emit, action: Action | None) -> None:
    if action is None:
        return
    try:
        emit(action)
    except Exception:
        log.exception("hotkey %s handler failed", action)


@dataclass
class _Connection:
    display: Any  # Xlib.display.Display, which has no type information
    xi_opcode: int

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.display.close()

    def handle(self, event: Any, tracker: ComboTracker, emit: Emit) -> None:
        if event.type != GENERIC_EVENT or event.extension != self.xi_opcode:
            return
        if event.evtype == XI_RAW_KEY_PRESS:
            # Never set by XKB autorepeat, but a driver forwarding hardware repeats flags them.
            value = 2 if int(event.data.flags) & XI_KEY_REPEAT else 1
        elif event.evtype == XI_RAW_KEY_RELEASE:
            value = 0
        else:
            return
        # Keyed by the physical (slave) device, so a key held on one keyboard and released
        # on another behaves as with evdev. An unplugged keyboard needs no care here: the
        # server sends releases for whatever it held before removing it.
        code = int(event.data.detail) - X_KEYCODE_OFFSET
        _send(emit, tracker.feed(code, value, device=int(event.data.sourceid)))


def _connect(name: str) -> _Connection:
    """Open the display and select raw key events from all keyboards; raises X11Unavailable."""
    from Xlib import display as xdisplay
    from Xlib.ext import xinput
    from Xlib.protocol import rq

    conn = xdisplay.Display(name)
    try:
        if not conn.has_extension(xinput.extname):
            raise X11Unavailable(f"X display {name!r} has no XInput extension for raw key events")
        opcode = int(conn.display.get_extension_major(xinput.extname))
        # The server picks event semantics from the version the client announces; 2.1+
        # keeps raw events flowing while another client holds a grab (menus, games).
        reply = xinput.XIQueryVersion(display=conn.display, opcode=opcode, major_version=2, minor_version=2)
        if reply.major_version < 2:
            raise X11Unavailable(f"X display {name!r} has XInput {reply.major_version}, raw key events need 2.0")
        # python-xlib does not decode raw events itself; this is the fixed head of xXIRawEvent.
        raw_event = rq.Struct(
            rq.Card16("deviceid"),
            rq.Card32("time"),
            rq.Card32("detail"),
            rq.Card16("sourceid"),
            rq.Card16("valuators_len"),
            rq.Card32("flags"),
        )
        for evtype in (XI_RAW_KEY_PRESS, XI_RAW_KEY_RELEASE):
            conn.ge_add_event_data(opcode, evtype, raw_event)
        # Master devices only: selecting all devices would deliver each key twice, once
        # from the physical keyboard and once from the master it drives.
        mask = (1 << XI_RAW_KEY_PRESS) | (1 << XI_RAW_KEY_RELEASE)
        conn.screen().root.xinput_select_events([(xinput.AllMasterDevices, mask)])
        conn.sync()  # surface a rejected selection now rather than as a later async error
    except BaseException:
        with contextlib.suppress(Exception):
            conn.close()
        raise
    return _Connection(conn, opcode)
