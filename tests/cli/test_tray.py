"""`assistant tray` on a private session bus (dbus-daemon): registered with a watcher, its icon following a
real voice turn, and each menu item doing what it says. The watcher is a stand-in (no panel runs here)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assistant.core.paths import Paths

from ..daemon_process import DaemonProcess, write_catalog
from ..pulse import Pulse, pulse  # noqa: F401  (the session fixture)
from ..daemon.test_voice_loop import speak_into_mic
from ..waiting import wait_for
from ..tool_services import serve_bus

pytestmark = [pytest.mark.audio, pytest.mark.tray]

WATCHER = "org.kde.StatusNotifierWatcher"


class StandinWatcher:
    """Stands in for the panel's StatusNotifierWatcher (KDE, Waybar's tray, the GNOME extension): records items."""

    def __init__(self, address: str) -> None:
        self.items: list[str] = []
        self._ready, self._stop = threading.Event(), threading.Event()
        self._thread = threading.Thread(
            target=serve_bus, args=(address, (WATCHER,), self._answer, self._ready, self._stop), daemon=True
        )
        self._thread.start()
        assert self._ready.wait(10)

    def _answer(self, conn: Any, msg: Any) -> None:
        from jeepney import new_method_return
        from jeepney.low_level import HeaderFields

        if msg.header.fields.get(HeaderFields.member) == "RegisterStatusNotifierItem":
            self.items.append(str(msg.body[0]))
        conn.send(new_method_return(msg))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)


def start_bus(root: Path) -> tuple[subprocess.Popen[str], str]:
    address = f"unix:path={root / 'bus'}"
    proc = subprocess.Popen(["dbus-daemon", "--session", "--nofork", f"--address={address}", "--print-address"],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    proc.stdout.readline()
    return proc, address


class TrayClient:
    """What a panel does with the item: read its properties, read its menu, click an entry."""

    def __init__(self, address: str, name: str) -> None:
        from jeepney.io.blocking import open_dbus_connection

        self.conn = open_dbus_connection(bus=address)
        self.name = name

    def prop(self, name: str) -> Any:
        from jeepney import DBusAddress, Properties

        item = DBusAddress("/StatusNotifierItem", bus_name=self.name, interface="org.kde.StatusNotifierItem")
        return self.conn.send_and_get_reply(Properties(item).get(name), timeout=10).body[0][1]

    def menu(self) -> dict[str, tuple[int, dict[str, Any]]]:
        from jeepney import DBusAddress, new_method_call

        menu = DBusAddress("/MenuBar", bus_name=self.name, interface="com.canonical.dbusmenu")
        reply = self.conn.send_and_get_reply(new_method_call(menu, "GetLayout", "iias", (0, -1, [])), timeout=10)
        children = reply.body[1][2]
        return {child[1][1]["label"][1]: (child[1][0], {k: v[1] for k, v in child[1][1].items()}) for child in children}

    def click(self, label: str) -> None:
        from jeepney import DBusAddress, new_method_call

        menu = DBusAddress("/MenuBar", bus_name=self.name, interface="com.canonical.dbusmenu")
        item_id = self.menu()[label][0]
        self.conn.send_and_get_reply(new_method_call(menu, "Event", "isvu", (item_id, "clicked", ("s", ""), 0)), timeout=10)


@pytest.fixture
def desk(tmp_path: Path, xdg: Paths, pulse: Pulse) -> Iterator[tuple[DaemonProcess, str, StandinWatcher, Path]]:  # noqa: F811
    if shutil.which("dbus-daemon") is None:
        pytest.skip("dbus-daemon not installed (Debian package dbus-daemon)")
    write_catalog(xdg, llm_gb=0.5)  # a second LLM for the menu to switch to
    opener = tmp_path / "bin"
    opener.mkdir()
    (opener / "xdg-open").write_text(f"#!/bin/sh\necho \"$@\" >> {tmp_path / 'opened'}\n")  # stands in for the desktop's
    (opener / "xdg-open").chmod(0o755)
    bus, address = start_bus(tmp_path)
    watcher = StandinWatcher(address)
    env = {**pulse.env, "DBUS_SESSION_BUS_ADDRESS": address}
    try:
        with DaemonProcess(xdg, env=env) as daemon:
            daemon.wait_warm()
            daemon.env["PATH"] = f"{opener}:{daemon.env['PATH']}"
            yield daemon, address, watcher, tmp_path / "opened"
    finally:
        watcher.close()
        bus.terminate()
        bus.wait(5)


def test_the_tray_registers_follows_a_turn_and_its_menu_does_what_it_says(
    desk: tuple[DaemonProcess, str, StandinWatcher, Path], pulse: Pulse  # noqa: F811
) -> None:
    daemon, address, watcher, opened = desk
    tray = subprocess.Popen([sys.executable, "-m", "assistant", "tray"], env=daemon.env, stdout=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: watcher.items, timeout=30)
        client = TrayClient(address, watcher.items[0])
        wait_for(lambda: client.prop("IconName") == "assistant-idle-symbolic", timeout=30)
        assert Path(client.prop("IconThemePath"), "assistant-idle-symbolic.svg").exists()
        labels = set(client.menu())
        assert {"Start listening", "Wake word", "LLM: smollm2-135m", "LLM: smollm2-alt", "Stop speaking",
                "Open the log", "Quit the assistant"} <= labels, labels

        seen: list[str] = []
        watching = threading.Event()

        def watch() -> None:
            while not watching.is_set():
                icon = client.prop("IconName")
                if not seen or seen[-1] != icon:
                    seen.append(icon)
                time.sleep(0.02)

        watcher_thread = threading.Thread(target=watch, daemon=True)
        watcher_thread.start()
        wait_for(lambda: seen, timeout=120)  # the idle icon is read before the press, however loaded the machine
        daemon.call("ptt.press")
        speak_into_mic(pulse, "Why is the sky blue?")
        daemon.call("ptt.release")
        wait_for(lambda: len(daemon.call("history")) == 1 and daemon.call("status")["state"] == "idle", timeout=120)
        time.sleep(0.5)
        watching.set()
        watcher_thread.join(5)
        states = [icon.removeprefix("assistant-").removesuffix("-symbolic") for icon in seen]
        # Read by polling the property, as a panel does after each NewIcon: a short "thinking" may fall
        # between two reads, but what is seen is in the turn's order, and listening and speaking are.
        assert states[0] == states[-1] == "idle" and {"listening", "speaking"} <= set(states), states
        middle = states[1:-1]
        assert middle == [state for state in ("listening", "thinking", "speaking") if state in middle], states

        client.click("LLM: smollm2-alt")
        wait_for(lambda: daemon.cli("llm", "current").stdout.strip() == "smollm2-alt", timeout=60)
        wait_for(lambda: client.menu()["LLM: smollm2-alt"][1]["toggle-state"] == 1, timeout=120)
        client.click("Wake word")
        wait_for(lambda: (daemon.call("status").get("wake") or {}).get("enabled") is True, timeout=60)
        wait_for(lambda: client.menu()["Wake word"][1]["toggle-state"] == 1, timeout=120)
        client.click("Start listening")
        wait_for(lambda: daemon.call("status")["state"] == "listening", timeout=120)
        assert "Stop listening" in client.menu()
        client.click("Stop speaking")
        wait_for(lambda: daemon.call("status")["state"] == "idle", timeout=120)
        client.click("Open the log")
        wait_for(lambda: opened.exists() and str(daemon.paths.log_file) in opened.read_text(), timeout=120)
        client.click("Quit the assistant")
        assert daemon.proc is not None
        daemon.proc.wait(30)
        out, _ = tray.communicate(timeout=30)
        assert tray.returncode == 0, out
    finally:
        if tray.poll() is None:
            tray.kill()


def test_with_no_watcher_the_tray_says_why_in_one_line(tmp_path: Path) -> None:
    if shutil.which("dbus-daemon") is None:
        pytest.skip("dbus-daemon not installed (Debian package dbus-daemon)")
    bus, address = start_bus(tmp_path)
    try:
        done = subprocess.run([sys.executable, "-m", "assistant", "tray"], capture_output=True, text=True, timeout=60,
                              env={**__import__("os").environ, "DBUS_SESSION_BUS_ADDRESS": address})
    finally:
        bus.terminate()
        bus.wait(5)
    assert done.returncode == 1 and "no StatusNotifierWatcher" in done.stdout and len(done.stdout.splitlines()) == 1


def test_the_daemon_starts_its_tray_in_a_graphical_session_and_says_when_it_cannot(tmp_path: Path, xdg: Paths) -> None:
    if shutil.which("dbus-daemon") is None:
        pytest.skip("dbus-daemon not installed (Debian package dbus-daemon)")
    bus, address = start_bus(tmp_path)
    env = {"DBUS_SESSION_BUS_ADDRESS": address, "WAYLAND_DISPLAY": "wayland-test"}  # a session the tray can show in
    try:
        with DaemonProcess(xdg, "--no-audio", env=env) as daemon:  # no watcher on this bus yet
            wait_for(lambda: "no StatusNotifierWatcher" in daemon.log.read_text(), timeout=60)
            assert daemon.call("status")["state"] == "idle"  # the daemon goes on
            doctor = json.loads(daemon.cli("doctor", "--json").stdout)
            tray = next(check for check in doctor if check["name"] == "tray")
            assert not tray["ok"] and "AppIndicator" in tray["detail"], tray
            watcher = StandinWatcher(address)  # the panel starts after the daemon, as in many sessions
            try:
                wait_for(lambda: watcher.items, timeout=60)  # its own tray registered then
                doctor = json.loads(daemon.cli("doctor", "--json").stdout)
                assert next(check for check in doctor if check["name"] == "tray")["ok"]
            finally:
                watcher.close()
            assert daemon.log.read_text().count("no StatusNotifierWatcher") == 1  # said once, not per retry
        xdg.config_file.write_text("[desktop]\ntray = false\n")
        watcher = StandinWatcher(address)
        try:
            with DaemonProcess(xdg, "--no-audio", env=env) as daemon:
                daemon.wait_warm()
                time.sleep(2)
                assert watcher.items == []  # off
        finally:
            watcher.close()
    finally:
        bus.terminate()
        bus.wait(5)
