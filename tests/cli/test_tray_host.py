"""`assistant tray` as a host that introspects sees it: the hosts built on dbus-next or dbus-fast, Qt's
QDBusInterface, busctl and d-feet ask org.freedesktop.DBus.Introspectable first and read the item through
org.freedesktop.DBus.Properties, where Waybar and KDE call blindly. Here that host is dbus-fast's proxy
objects (built from the tray's own introspection data) and busctl, on a private session bus, with the real
daemon changing state under them (a text turn; its sound devices are the private PulseAudio server's, since a
daemon without any shows the error icon when idle)."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assistant.core.paths import Paths

from ..daemon_process import DaemonProcess
from ..pulse import Pulse, pulse  # noqa: F401  (the session fixture)
from .test_tray import StandinWatcher, start_bus
from ..waiting import wait_for

pytestmark = [pytest.mark.audio, pytest.mark.tray]

ITEM = "org.kde.StatusNotifierItem"
MENU = "com.canonical.dbusmenu"
PROPERTIES = "org.freedesktop.DBus.Properties"


@pytest.fixture
def host_bus(
    tmp_path: Path, xdg: Paths, pulse: Pulse  # noqa: F811
) -> Iterator[tuple[DaemonProcess, str, StandinWatcher]]:
    if shutil.which("dbus-daemon") is None:
        pytest.skip("dbus-daemon not installed (Debian package dbus-daemon)")
    xdg.config_file.write_text("[desktop]\ntray = false\n")  # only the tray the test starts, whatever the session
    bus, address = start_bus(tmp_path)
    watcher = StandinWatcher(address)
    try:
        with DaemonProcess(xdg, env={**pulse.env, "DBUS_SESSION_BUS_ADDRESS": address}) as daemon:
            daemon.wait_warm()
            yield daemon, address, watcher
    finally:
        watcher.close()
        bus.terminate()
        bus.wait(5)


def busctl(address: str, *args: str) -> str:
    done = subprocess.run(["busctl", f"--address={address}", *args], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout


async def within(seconds: float, step: Any) -> Any:
    return await asyncio.wait_for(step, seconds)


async def play_host(address: str, name: str, daemon: DaemonProcess) -> None:
    from dbus_fast.aio import MessageBus

    bus = await MessageBus(bus_address=address).connect()
    try:
        # What a host learns of the item: its interfaces and their typed properties, from introspection alone.
        node = await within(10, bus.introspect(name, "/StatusNotifierItem"))
        assert {ITEM, PROPERTIES, "org.freedesktop.DBus.Introspectable"} <= {i.name for i in node.interfaces}
        declared = {p.name: p.signature for p in next(i for i in node.interfaces if i.name == ITEM).properties}
        assert {"Status": "s", "IconName": "s", "Title": "s", "ToolTip": "(sa(iiay)ss)", "Menu": "o"}.items() <= declared.items()
        item = bus.get_proxy_object(name, "/StatusNotifierItem", node)
        sni, props = item.get_interface(ITEM), item.get_interface(PROPERTIES)

        # Each read is a Properties.Get; the tray shows "not running" until it has heard from the daemon.
        for _ in range(300):
            if await sni.get_icon_name() == "assistant-idle-symbolic":  # type: ignore[attr-defined]
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError(f"the tray never showed idle: {await sni.get_icon_name()}")  # type: ignore[attr-defined]
        assert await sni.get_status() == "Active"  # type: ignore[attr-defined]
        assert await sni.get_title() == "Assistant"  # type: ignore[attr-defined]
        assert await sni.get_menu() == "/MenuBar"  # type: ignore[attr-defined]
        icon, _, title, tip = await sni.get_tool_tip()  # type: ignore[attr-defined]
        assert (icon, title) == ("assistant-idle-symbolic", "Assistant: idle") and "llm: smollm2-135m" in tip
        every = await props.call_get_all(ITEM)  # type: ignore[attr-defined]
        assert every["IconName"].value == "assistant-idle-symbolic" and every["Menu"].value == "/MenuBar"

        # A change of the daemon's state, heard as PropertiesChanged and as the item's own NewIcon.
        changes: list[dict[str, Any]] = []
        new_icons: list[None] = []
        props.on_properties_changed(  # type: ignore[attr-defined]
            lambda interface, changed, _: changes.append({k: v.value for k, v in changed.items()}) if interface == ITEM else None)
        sni.on_new_icon(lambda: new_icons.append(None))  # type: ignore[attr-defined]
        await props.call_get_all(ITEM)  # type: ignore[attr-defined]  # a round trip: the match rules are in place
        await asyncio.to_thread(daemon.call, "ask", text="Why is the sky blue?", speak=False)
        for _ in range(300):
            icons = [change["IconName"] for change in changes if "IconName" in change]
            if icons[-1:] == ["assistant-idle-symbolic"] and len(new_icons) == len(icons):
                break
            await asyncio.sleep(0.1)
        assert icons == ["assistant-thinking-symbolic", "assistant-idle-symbolic"], changes
        assert changes[0]["ToolTip"][2] == "Assistant: thinking" and len(new_icons) == 2

        # The menu is introspectable too, with its properties and its layout.
        menu_node = await within(10, bus.introspect(name, "/MenuBar"))
        menu = bus.get_proxy_object(name, "/MenuBar", menu_node).get_interface(MENU)
        assert await menu.get_version() == 3  # type: ignore[attr-defined]
        _, (_, _, children) = await menu.call_get_layout(0, -1, [])  # type: ignore[attr-defined]
        labels = {child.value[1]["label"].value for child in children}
        assert {"Start listening", "Wake word", "Quit the assistant"} <= labels, labels
    finally:
        bus.disconnect()


def test_a_host_that_introspects_reads_the_tray_and_hears_it_change(
    host_bus: tuple[DaemonProcess, str, StandinWatcher],
) -> None:
    daemon, address, watcher = host_bus
    tray = subprocess.Popen([sys.executable, "-m", "assistant", "tray"], env=daemon.env, stdout=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: watcher.items, timeout=30)
        name = watcher.items[0]
        if shutil.which("busctl") is not None:  # systemd's own client, which knows nothing of dbus-fast
            listed = busctl(address, "introspect", name, "/StatusNotifierItem", ITEM)
            assert all(f".{p}" in listed for p in ("Status", "IconName", "Title", "ToolTip", "Menu", "NewIcon")), listed
            assert busctl(address, "get-property", name, "/StatusNotifierItem", ITEM, "Menu").strip() == 'o "/MenuBar"'
        asyncio.run(play_host(address, name, daemon))
    finally:
        tray.terminate()
        tray.wait(10)
