"""Push-to-talk from every keyboard under /dev/input, read through evdev without grabbing."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat
from collections.abc import AsyncGenerator, Hashable, Iterable
from dataclasses import dataclass
from typing import Protocol

from evdev import InputDevice, ecodes

from assistant.triggers.keys import ComboTracker, KeyCombo, parse_combo
from assistant.triggers.source import Action, Emit

log = logging.getLogger(__name__)

INPUT_DIR = "/dev/input"
RESCAN_SECONDS = 2.0

PERMISSION_HINT = (
    "add yourself to the input group with `sudo usermod -aG input $USER`, then log out and back in"
)


class Keyboard(Protocol):
    """One opened input device."""

    path: str
    key_codes: frozenset[int]

    def __hash__(self) -> int:
        """Identity hash: each opened device is its own entry in the combination state."""
        ...

    def events(self) -> AsyncGenerator[tuple[int, int, int], None]:
        """(type, code, value) as the kernel reports them; raises OSError when the device goes away."""
        ...

    def held_keys(self) -> Iterable[int]:
        """Key codes the kernel says are down right now."""
        ...

    def close(self) -> None: ...


class Hardware(Protocol):
    """Stands in for /dev/input: DevInputHardware in production, scripted fakes in tests."""

    def scan(self) -> dict[str, Hashable]:
        """Event node path -> identity of that node; a node recreated under the same name gets a new one."""
        ...

    def open(self, path: str) -> Keyboard:
        """Open a node for reading; raises OSError (PermissionError without access)."""
        ...

    async def wait_for_change(self, timeout: float) -> None:
        """Return when devices may have come or gone, or after `timeout` seconds."""
        ...


class _EvdevKeyboard:
    def __init__(self, device: InputDevice[str]) -> None:
        self._device = device
        self.path = str(device.path)
        self.key_codes = frozenset(device.capabilities().get(ecodes.EV_KEY, []))

    async def events(self) -> AsyncGenerator[tuple[int, int, int], None]:
        loop = asyncio.get_running_loop()
        readable = asyncio.Event()
        fd = self._device.fd
        loop.add_reader(fd, readable.set)
        try:
            while True:
                await readable.wait()
                readable.clear()
                try:
                    batch = list(self._device.read())
                except BlockingIOError:
                    continue
                for event in batch:
                    yield event.type, event.code, event.value
        finally:
            loop.remove_reader(fd)

    def held_keys(self) -> Iterable[int]:
        return [int(code) for code in self._device.active_keys()]

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._device.close()


class DevInputHardware:
    """The real /dev/input, polled for hotplug."""

    def __init__(self, root: str = INPUT_DIR) -> None:
        self.root = root

    def scan(self) -> dict[str, Hashable]:
        nodes: dict[str, Hashable] = {}
        with os.scandir(self.root) as entries:
            for entry in entries:
                if not entry.name.startswith("event"):
                    continue
                try:
                    info = entry.stat()
                except FileNotFoundError:
                    continue
                if stat.S_ISCHR(info.st_mode):
                    # devtmpfs gives a recreated node a fresh inode, so a new keyboard that
                    # reuses the name of an unplugged mouse is still noticed.
                    nodes[entry.path] = (info.st_rdev, info.st_ino)
        return nodes

    def open(self, path: str) -> Keyboard:
        # Read-only: we never write, and opening read-write makes some keyboards
        # re-assert their LED state. Older python-evdev releases lack the flag.
        try:
            device: InputDevice[str] = InputDevice(path, readonly=True)
        except TypeError:
            device = InputDevice(path)
        return _EvdevKeyboard(device)

    async def wait_for_change(self, timeout: float) -> None:
        # Polling rather than inotify: the stdlib has no inotify, a scan is one directory
        # listing, and a keyboard plugged in is picked up within `timeout` seconds.
        await asyncio.sleep(timeout)


@dataclass
class _Reader:
    keyboard: Keyboard
    identity: Hashable
    task: asyncio.Task[None]


class _Listener:
    """One run() of the source: which devices are being read, and the combination state."""

    def __init__(self, combo: KeyCombo, hardware: Hardware, emit: Emit) -> None:
        self.combo = combo
        self.hardware = hardware
        self.emit = emit
        self.tracker = ComboTracker(combo)
        self.readers: dict[str, _Reader] = {}
        # Nodes opened once and found without our keys. They are not reopened on every
        # scan because opening a node powers up some USB devices from autosuspend.
        self.skipped: dict[str, Hashable] = {}
        self.stopping = False
        self.warned: set[str] = set()

    def send(self, action: Action | None) -> None:
        if action is None:
            return
        try:
            self.emit(action)
        except Exception:
            # The daemon's trouble, not the keyboard's: keep listening.
            log.exception("hotkey %s handler failed", action)

    def rescan(self) -> None:
        try:
            nodes = self.hardware.scan()
        except OSError as exc:
            self.warn_once("scan", "cannot list input devices: %s; will keep trying", exc)
            nodes = {}
        for path, reader in list(self.readers.items()):
            if nodes.get(path) != reader.identity:
                self.forget(reader.keyboard)
        self.skipped = {p: i for p, i in self.skipped.items() if nodes.get(p) == i}
        for path, identity in nodes.items():
            if path in self.readers or self.skipped.get(path) == identity:
                continue
            self.try_open(path, identity)

    def try_open(self, path: str, identity: Hashable) -> None:
        try:
            keyboard = self.hardware.open(path)
        except PermissionError:
            # Retried on each scan: udev applies group and ACLs just after the node appears.
            self.warn_once("permission", "cannot read %s: %s", path, PERMISSION_HINT)
            return
        except OSError as exc:
            log.debug("cannot open %s: %s", path, exc)
            return
        if not keyboard.key_codes & self.combo.codes:
            keyboard.close()
            self.skipped[path] = identity
            return
        log.info("listening to %s for %s", path, self.combo.spec)
        task = asyncio.create_task(self.read(keyboard), name=f"hotkey {path}")
        self.readers[path] = _Reader(keyboard, identity, task)
        task.add_done_callback(lambda _: self.finished(keyboard))

    async def read(self, keyboard: Keyboard) -> None:
        dropping = False
        try:
            async with contextlib.aclosing(keyboard.events()) as events:
                async for ev_type, code, value in events:
                    if ev_type == ecodes.EV_SYN and code == ecodes.SYN_DROPPED:
                        # The kernel's buffer overflowed: events up to the next report are
                        # partial, and the true key state must be asked for afterwards.
                        dropping = True
                    elif ev_type == ecodes.EV_SYN and code == ecodes.SYN_REPORT and dropping:
                        dropping = False
                        self.send(self.tracker.resync(keyboard, keyboard.held_keys()))
                    elif ev_type == ecodes.EV_KEY and not dropping:
                        self.send(self.tracker.feed(code, value, device=keyboard))
        except OSError as exc:
            log.info("stopped reading %s: %s", keyboard.path, exc)
        except Exception:
            log.exception("hotkey reader for %s failed", keyboard.path)

    def finished(self, keyboard: Keyboard) -> None:
        # Closed here, not in read(): a task cancelled before its first step never runs
        # read()'s cleanup, and closing while read() still has the fd registered with the
        # loop could let a newly opened device reuse that fd number.
        keyboard.close()
        self.forget(keyboard)

    def forget(self, keyboard: Keyboard) -> None:
        """Stop reading a device; keys it held count as released."""
        reader = self.readers.get(keyboard.path)
        if self.stopping or reader is None or reader.keyboard is not keyboard:
            return
        del self.readers[keyboard.path]
        reader.task.cancel()
        self.send(self.tracker.remove_device(keyboard))

    async def stop(self) -> None:
        self.stopping = True
        tasks = [reader.task for reader in self.readers.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.readers.clear()

    def warn_once(self, topic: str, message: str, *args: object) -> None:
        if topic in self.warned:
            log.debug(message, *args)
        else:
            self.warned.add(topic)
            log.warning(message, *args)


class EvdevSource:
    """Reads every keyboard that has the combination's keys; other programs still get the keys."""

    name: str = "evdev"

    def __init__(
        self,
        key: str,
        *,
        hardware: Hardware | None = None,
        rescan_seconds: float = RESCAN_SECONDS,
    ) -> None:
        self.combo = parse_combo(key)
        self.hardware: Hardware = hardware if hardware is not None else DevInputHardware()
        self.rescan_seconds = rescan_seconds

    def check(self) -> str | None:
        try:
            nodes = self.hardware.scan()
        except OSError:
            nodes = {}
        if not nodes:
            return (
                f"No input devices are visible under {INPUT_DIR} (container or remote session?); "
                "run on the machine with the keyboard or use the x11 source."
            )
        denied = 0
        for path in nodes:
            try:
                keyboard = self.hardware.open(path)
            except PermissionError:
                denied += 1
                continue
            except OSError:
                continue
            usable = bool(keyboard.key_codes & self.combo.codes)
            keyboard.close()
            if usable:
                return None
        if denied:
            return f"This user may not read keyboards under {INPUT_DIR}; {PERMISSION_HINT}."
        return (
            f"No readable keyboard under {INPUT_DIR} has the key(s) {self.combo.spec!r}; "
            "plug one in or choose another key."
        )

    async def run(self, emit: Emit) -> None:
        """Listen until cancelled; no release is emitted for the cancellation itself."""
        listener = _Listener(self.combo, self.hardware, emit)
        try:
            while True:
                listener.rescan()
                await self.hardware.wait_for_change(self.rescan_seconds)
        finally:
            await listener.stop()
