"""Desktop notifications over a real D-Bus session bus, to a notification server the test runs."""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assistant.daemon.notify import Notifier


@pytest.fixture
def session_bus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if shutil.which("dbus-daemon") is None:
        pytest.skip("dbus-daemon not installed (Debian package dbus-daemon)")
    address = f"unix:path={tmp_path / 'bus'}"
    proc = subprocess.Popen(
        ["dbus-daemon", "--session", "--nofork", f"--address={address}", "--print-address"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    proc.stdout.readline()  # printed once the bus listens
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", address)
    yield address
    proc.terminate()
    proc.wait(5)


def serve_one_notification(address: str, received: list[Any], ready: threading.Event) -> None:
    """Stands in for the desktop's notification daemon (mako, dunst, GNOME Shell): records one Notify."""
    from jeepney import MessageType, message_bus, new_method_return
    from jeepney.io.blocking import open_dbus_connection

    with open_dbus_connection(bus=address) as conn:
        conn.send_and_get_reply(message_bus.RequestName("org.freedesktop.Notifications"))
        ready.set()
        while True:
            msg = conn.receive(timeout=20)
            if msg.header.message_type == MessageType.method_call and msg.header.fields.get(3) == "Notify":
                received.append(msg.body)
                conn.send(new_method_return(msg, "u", (7,)))
                return


def test_notification_reaches_the_desktop(session_bus: str) -> None:
    received: list[Any] = []
    ready = threading.Event()
    server = threading.Thread(target=serve_one_notification, args=(session_bus, received, ready))
    server.start()
    assert ready.wait(10)
    notifier = Notifier(enabled=True)
    assert notifier.enabled
    notifier.send("Assistant", "LLM switched to qwen3-8b")
    server.join(20)
    app, _, _, summary, body, _, _, timeout = received[0]
    assert (app, summary, body, timeout) == ("assistant", "Assistant", "LLM switched to qwen3-8b", 4000)


def test_notifications_are_off_without_a_session_bus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    notifier = Notifier(enabled=True)
    assert not notifier.enabled
    notifier.send("Assistant", "nothing happens")  # and nothing raises


def test_a_bus_with_no_notification_server_turns_them_off_quietly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", f"unix:path={tmp_path / 'nobody-listens'}")
    notifier = Notifier(enabled=True)
    notifier.send("Assistant", "lost")
    assert not notifier.enabled
