"""Test helpers for the tools: a private D-Bus session bus, and a desktop on it (a music player, a notification server)."""

from __future__ import annotations

import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest


class SessionBus:
    """A dbus-daemon of our own, as a desktop session has one."""

    def __init__(self, root: Path) -> None:
        if shutil.which("dbus-daemon") is None:
            pytest.skip("dbus-daemon not installed (Debian package dbus-daemon)")
        self.address = f"unix:path={root / 'bus'}"
        self.proc = subprocess.Popen(
            ["dbus-daemon", "--session", "--nofork", f"--address={self.address}", "--print-address"],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.proc.stdout.readline()  # printed once the bus listens

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(5)


def serve_bus(address: str, names: tuple[str, ...], answer: Any, ready: threading.Event, stop: threading.Event) -> None:
    """Own these bus names and hand each method call to `answer(conn, msg)` until `stop` is set."""
    from jeepney import MessageType, message_bus
    from jeepney.io.blocking import open_dbus_connection

    with open_dbus_connection(bus=address) as conn:
        for name in names:
            conn.send_and_get_reply(message_bus.RequestName(name))
        ready.set()
        while not stop.is_set():
            try:
                msg = conn.receive(timeout=0.2)
            except TimeoutError:
                continue
            if msg.header.message_type == MessageType.method_call:
                answer(conn, msg)


class Desktop:
    """A music player with MPRIS (org.mpris.MediaPlayer2.testplayer) and a notification server, on one connection.

    They stand in for the user's music app and notification daemon: the test records what the
    assistant asked of them. The bus and the messages are real.
    """

    PLAYER = "org.mpris.MediaPlayer2.testplayer"

    def __init__(self, address: str) -> None:
        self.address = address
        self.calls: list[str] = []
        self.notifications: list[tuple[str, str]] = []
        self.status = "Playing"
        self.title = "Bohemian Rhapsody"
        self.artist = "Queen"
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        assert self._ready.wait(10), "the test desktop did not connect to the bus"

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _property(self, name: str) -> tuple[str, Any]:
        if name == "PlaybackStatus":
            return ("s", self.status)
        if name == "Metadata":
            return ("a{sv}", {"xesam:title": ("s", self.title), "xesam:artist": ("as", [self.artist])})
        return ("s", "")

    def _serve(self) -> None:
        serve_bus(self.address, (self.PLAYER, "org.freedesktop.Notifications"), self._answer, self._ready, self._stop)

    def _answer(self, conn: Any, msg: Any) -> None:
        from jeepney import new_error, new_method_return
        from jeepney.low_level import HeaderFields

        member = msg.header.fields.get(HeaderFields.member)
        if member == "Notify":
            self.notifications.append((str(msg.body[3]), str(msg.body[4])))
            conn.send(new_method_return(msg, "u", (len(self.notifications),)))
        elif member == "Get":
            conn.send(new_method_return(msg, "v", (self._property(msg.body[1]),)))
        elif member in ("Play", "Pause", "PlayPause", "Next", "Previous", "Stop"):
            self.calls.append(member)
            self.status = {"Play": "Playing", "Pause": "Paused", "Stop": "Stopped"}.get(member, self.status)
            conn.send(new_method_return(msg))
        else:
            conn.send(new_error(msg, "org.freedesktop.DBus.Error.UnknownMethod", "s", (f"no {member}",)))
