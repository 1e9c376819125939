"""A real panel: Waybar under a headless sway, with the README's custom module and Waybar's own tray (whose
StatusNotifierWatcher is Waybar's, not a stand-in), following the real daemon through a voice turn.

Screenshots (grim) are kept in $ASSISTANT_TEST_ARTIFACTS (default build/test-artifacts/): panel-idle.png,
panel-listening.png, panel-after.png."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

from assistant.core.paths import Paths

from ..daemon_process import DaemonProcess
from ..desktop import SWAY_MISSING, Sway, stop_process
from ..pulse import Pulse, pulse  # noqa: F401  (the session fixture)
from .test_tray import start_bus
from ..daemon.test_voice_loop import speak_into_mic
from ..waiting import wait_for

if TYPE_CHECKING:
    from PIL import Image  # in the full store only (a dependency of the engines): the quick group collects this file

pytestmark = [pytest.mark.audio, pytest.mark.tray]

ROOT = Path(__file__).resolve().parents[2]
BAR_HEIGHT = 30
LISTENING_RGB = (0xE5, 0x53, 0x4B)  # the README's CSS colour for #custom-assistant.listening


def readme_block(language: str, contains: str) -> str:
    """The README's fenced block in `language` that mentions `contains`: the test runs what a user copies."""
    for block in re.findall(rf"```{language}\n(.*?)```", (ROOT / "README.md").read_text(), re.S):
        if contains in block:
            return str(block)
    raise AssertionError(f"README has no {language} block with {contains!r}")


def waybar_module() -> dict[str, Any]:
    text = "\n".join(line for line in readme_block("jsonc", "custom/assistant").splitlines()
                     if not line.lstrip().startswith("//"))
    module: dict[str, Any] = json.loads("{" + text + "}")["custom/assistant"]
    return module


def artifacts() -> Path:
    folder = Path(os.environ.get("ASSISTANT_TEST_ARTIFACTS", ROOT / "build" / "test-artifacts"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class Panel:
    """Waybar on the sway output: the README's module on the left, the tray on the right."""

    def __init__(self, sway: Sway, env: dict[str, str], folder: Path) -> None:
        config = folder / "waybar.json"
        config.write_text(json.dumps({
            "layer": "top", "position": "top", "height": BAR_HEIGHT,
            "modules-left": ["custom/assistant"], "modules-right": ["tray"],
            "custom/assistant": waybar_module(), "tray": {"icon-size": 20, "spacing": 8},
        }))
        style = folder / "waybar.css"
        style.write_text("* { font-size: 14px; }\nwindow#waybar { background: #20242b; color: #d0d0d0; }\n"
                         + readme_block("css", "#custom-assistant"))
        # An absolute WAYLAND_DISPLAY reaches sway's socket without taking its XDG_RUNTIME_DIR, so the
        # module's `assistant` still finds the daemon's control socket in the daemon's runtime dir.
        self.env = {**env, "WAYLAND_DISPLAY": str(sway.runtime / "wayland-1")}
        self.log = folder / "waybar.log"
        self.proc = subprocess.Popen(["waybar", "-c", str(config), "-s", str(style)], env=self.env,
                                     stdout=self.log.open("w"), stderr=subprocess.STDOUT)

    def shot(self, path: Path) -> Image.Image:
        subprocess.run(["grim", str(path)], env=self.env, check=True, capture_output=True, timeout=30)
        from PIL import Image

        with Image.open(path) as image:
            return image.convert("RGB").crop((0, 0, image.width, BAR_HEIGHT))

    def stop(self) -> None:
        stop_process(self.proc)


def near(bar: Image.Image, box: tuple[int, int, int, int], rgb: tuple[int, int, int], tolerance: int) -> Any:
    pixels = np.asarray(bar.crop(box), dtype=np.int16)
    return (np.abs(pixels - np.array(rgb, dtype=np.int16)) <= tolerance).all(axis=-1)


def count(bar: Image.Image, rgb: tuple[int, int, int], box: tuple[int, int, int, int]) -> int:
    return int(near(bar, box, rgb, 40).sum())


def drawn(bar: Image.Image, box: tuple[int, int, int, int]) -> int:
    """Pixels in `box` that are not the bar's background: something is drawn there."""
    return int((~near(bar, box, (0x20, 0x24, 0x2B), 12)).sum())


def same(a: Image.Image, b: Image.Image, box: tuple[int, int, int, int]) -> bool:
    return a.crop(box).tobytes() == b.crop(box).tobytes()


def registered(env: dict[str, str]) -> list[str]:
    from jeepney import DBusAddress, Properties
    from jeepney.io.blocking import open_dbus_connection

    watcher = DBusAddress("/StatusNotifierWatcher", bus_name="org.kde.StatusNotifierWatcher",
                          interface="org.kde.StatusNotifierWatcher")
    with open_dbus_connection(bus=env["DBUS_SESSION_BUS_ADDRESS"]) as conn:
        reply = conn.send_and_get_reply(Properties(watcher).get("RegisteredStatusNotifierItems"), timeout=10)
    return list(reply.body[0][1])


@pytest.fixture
def panel(tmp_path: Path, xdg: Paths, pulse: Pulse) -> Iterator[tuple[DaemonProcess, Panel]]:  # noqa: F811
    missing = [tool for tool in ("waybar", "grim", "dbus-daemon") if shutil.which(tool) is None] + list(SWAY_MISSING)
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)} (scripts/install.sh installs them)")
    sway = Sway()
    bus, address = start_bus(tmp_path)
    folder = artifacts()
    bar: Panel | None = None
    try:
        # The daemon sees a graphical session, so it starts its own tray beside it, as on a desktop.
        env = {**pulse.env, "DBUS_SESSION_BUS_ADDRESS": address, "WAYLAND_DISPLAY": str(sway.runtime / "wayland-1")}
        with DaemonProcess(xdg, env=env) as daemon:
            daemon.wait_warm()
            # The README's module calls `assistant`, as the user's PATH has it.
            bar = Panel(sway, {**daemon.env, "PATH": f"{Path(sys.executable).parent}:{daemon.env['PATH']}"}, folder)
            yield daemon, bar
    finally:
        if bar is not None:
            bar.stop()
        bus.terminate()
        bus.wait(5)
        sway.stop()


def test_waybar_shows_the_module_and_the_tray_icon_through_a_voice_turn(
    panel: tuple[DaemonProcess, Panel], pulse: Pulse  # noqa: F811
) -> None:
    daemon, bar = panel
    wait_for(lambda: any(":" in item or "/" in item for item in registered(bar.env)), timeout=60)
    folder = artifacts()
    left, right = (0, 0, 200, BAR_HEIGHT), (1280 - 120, 0, 1280, BAR_HEIGHT)
    # Waybar draws the module's text once the first line arrives and the icon once it has read the item.
    wait_for(lambda: drawn(bar.shot(folder / "panel-idle.png"), left) > 20
             and drawn(bar.shot(folder / "panel-idle.png"), right) > 20, timeout=30)
    idle = bar.shot(folder / "panel-idle.png")
    assert count(idle, LISTENING_RGB, left) == 0, "the idle module is drawn in the listening colour"

    daemon.call("ptt.press")
    wait_for(lambda: count(bar.shot(folder / "panel-listening.png"), LISTENING_RGB, left) > 10, timeout=30)
    listening = bar.shot(folder / "panel-listening.png")
    # The tray icon changed with the state (a different symbolic icon in the same place).
    assert not same(listening, idle, right)

    speak_into_mic(pulse, "Why is the sky blue?")
    daemon.call("ptt.release")
    wait_for(lambda: len(daemon.call("history")) == 1 and daemon.call("status")["state"] == "idle", timeout=120)
    wait_for(lambda: count(bar.shot(folder / "panel-after.png"), LISTENING_RGB, left) == 0, timeout=30)
    after = bar.shot(folder / "panel-after.png")
    assert same(after, idle, right)  # the idle icon again
    assert bar.proc.poll() is None, bar.log.read_text()
