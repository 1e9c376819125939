"""A stand-in for the desktop's RemoteDesktop portal, on a private session bus.

The real ones (xdg-desktop-portal with its GNOME or KDE backend) need a running GNOME Shell or KWin to show
the consent dialog, which cannot run headless here. This one speaks the portal's documented D-Bus
interface (org.freedesktop.portal.RemoteDesktop, version 2): Request objects answered by a Response
signal, a restore token good for one session, and keysyms recorded as they arrive. Where a real desktop
would show its dialog, it counts the question and gives the test's answer. The bus and the messages are real.
"""

from __future__ import annotations

import itertools
import threading
from typing import Any

from .tool_services import serve_bus


def text_of(keysyms: list[tuple[int, int]]) -> str:
    """What a compositor would type for these (keysym, pressed) events: the presses, as characters."""
    special = {0xFF0D: "\n", 0xFF09: "\t", 0xFF08: "\b"}
    out = []
    for sym, pressed in keysyms:
        if pressed:
            out.append(special.get(sym) or chr(sym & 0xFFFFFF if sym & 0x01000000 else sym))
    return "".join(out)


class StandInRemoteDesktopPortal:
    NAME = "org.freedesktop.portal.Desktop"
    PATH = "/org/freedesktop/portal/desktop"

    def __init__(self, address: str, allow: bool = True) -> None:
        self.address = address
        self.allow = allow  # the user's answer to the dialog
        self.asked = 0  # times the dialog would have been shown
        self.keysyms: list[tuple[int, int]] = []
        self.closed: list[str] = []
        self.issued: set[str] = set()  # restore tokens not yet used
        self._tokens = itertools.count(1)
        self._started: set[str] = set()
        self._restore: dict[str, str] = {}
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        assert self._ready.wait(10), "the stand-in portal did not connect to the bus"

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _serve(self) -> None:
        serve_bus(self.address, (self.NAME,), self._answer, self._ready, self._stop)

    def _answer(self, conn: Any, msg: Any) -> None:
        from jeepney import DBusAddress, new_error, new_method_return, new_signal
        from jeepney.low_level import HeaderFields

        member = msg.header.fields.get(HeaderFields.member)
        sender = str(msg.header.fields.get(HeaderFields.sender)).lstrip(":").replace(".", "_")

        def respond(options: dict[str, Any], code: int, results: dict[str, Any]) -> None:
            request = f"{self.PATH}/request/{sender}/{options['handle_token'][1]}"
            conn.send(new_method_return(msg, "o", (request,)))
            where = DBusAddress(request, interface="org.freedesktop.portal.Request")
            conn.send(new_signal(where, "Response", "ua{sv}", (code, results)))

        if member == "Get" and msg.body[1] == "AvailableDeviceTypes":
            conn.send(new_method_return(msg, "v", (("u", 7),)))  # keyboard | pointer | touchscreen
        elif member == "CreateSession":
            session = f"{self.PATH}/session/{sender}/{msg.body[0]['session_handle_token'][1]}"
            respond(msg.body[0], 0, {"session_handle": ("s", session)})
        elif member == "SelectDevices":
            session, options = msg.body
            if "restore_token" in options:
                self._restore[session] = options["restore_token"][1]
            respond(options, 0, {})
        elif member == "Start":
            session, _parent, options = msg.body
            token = self._restore.pop(session, "")
            if token in self.issued:
                self.issued.discard(token)  # good for one session
            else:
                self.asked += 1
                if not self.allow:
                    respond(options, 1, {})
                    return
            new = f"token-{next(self._tokens)}"
            self.issued.add(new)
            self._started.add(session)
            respond(options, 0, {"devices": ("u", 1), "restore_token": ("s", new)})
        elif member == "NotifyKeyboardKeysym":
            session, _options, sym, state = msg.body
            if session not in self._started:
                conn.send(new_error(msg, "org.freedesktop.DBus.Error.AccessDenied", "s", ("session not started",)))
                return
            self.keysyms.append((sym, state))
            conn.send(new_method_return(msg))
        elif member == "Close":
            self.closed.append(str(msg.header.fields.get(HeaderFields.path)))
            self._started.discard(str(msg.header.fields.get(HeaderFields.path)))
            conn.send(new_method_return(msg))
        else:
            conn.send(new_error(msg, "org.freedesktop.DBus.Error.UnknownMethod", "s", (f"no {member}",)))
