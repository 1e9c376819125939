"""The X11 push-to-talk source against a real Xvfb server, driven by xdotool through XTEST."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from collections.abc import Awaitable, Callable, Iterator

import pytest

from assistant.triggers.source import Action
from assistant.triggers.x11_source import X11Source

from ..desktop import Xvfb
from ..waiting import until

MISSING = tuple(tool for tool in ("Xvfb", "xdotool") if shutil.which(tool) is None)
pytestmark = pytest.mark.skipif(
    bool(MISSING), reason=f"{' and '.join(MISSING)} not installed (Debian packages xvfb, xdotool)"
)

# X keycodes of the evdev keycode set: kernel code + 8.
RCTRL, LCTRL, LALT, SPACE, A = 105, 37, 64, 65, 38


@pytest.fixture
def xvfb() -> Iterator[Xvfb]:
    server = Xvfb()
    yield server
    server.stop()


async def xdotool(display: str, *args: str) -> None:
    proc = await asyncio.create_subprocess_exec("xdotool", *args, env={**os.environ, "DISPLAY": display})
    assert await proc.wait() == 0


class Listening:
    """Runs the source and waits until its raw-event selection is in place."""

    def __init__(self, source: X11Source, caplog: pytest.LogCaptureFixture) -> None:
        self.source = source
        self.caplog = caplog
        self.actions: list[Action] = []

    async def __aenter__(self) -> Listening:
        self.caplog.set_level(logging.INFO, logger="assistant.triggers")
        self.task = asyncio.create_task(self.source.run(self.actions.append))
        await until(lambda: "listening to X display" in self.caplog.text, timeout=5, interval=0.01, what="the raw-event selection")
        assert "listening to X display" in self.caplog.text
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


def run(body: Callable[[], Awaitable[None]]) -> None:
    async def bounded() -> None:
        async with asyncio.timeout(30):
            await body()

    asyncio.run(bounded())


def test_check_passes_on_xvfb(xvfb: Xvfb) -> None:
    assert X11Source("rightctrl", display=xvfb.display).check() is None


def test_check_without_display(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    reason = X11Source("rightctrl").check()
    assert reason is not None and "DISPLAY is not set" in reason


def test_check_cannot_open_display(xvfb: Xvfb) -> None:
    # A display number next to a live one, with no server behind it.
    dead = f":{int(xvfb.display[1:]) + 1000}"
    reason = X11Source("rightctrl", display=dead).check()
    assert reason is not None and reason.startswith(f"Cannot open X display '{dead}'")


def test_check_rejects_mouse_buttons() -> None:
    reason = X11Source("BTN_SIDE", display=":0").check()
    assert reason is not None and "evdev" in reason


def test_hold_past_autorepeat_gives_one_press_and_one_release(xvfb: Xvfb, caplog: pytest.LogCaptureFixture) -> None:
    async def body() -> None:
        async with Listening(X11Source("rightctrl", display=xvfb.display), caplog) as listening:
            await xdotool(xvfb.display, "keydown", str(A))  # not ours
            await xdotool(xvfb.display, "keyup", str(A))
            await xdotool(xvfb.display, "keydown", str(RCTRL))
            await until(lambda: listening.actions == ["press"], timeout=5, interval=0.01, what="a press")
            assert listening.actions == ["press"]
            # Longer than Xvfb's 660 ms repeat delay: XKB autorepeat would add
            # release/press pairs here if they reached the source.
            await asyncio.sleep(1.2)
            assert listening.actions == ["press"]
            await xdotool(xvfb.display, "keyup", str(RCTRL))
            await until(lambda: len(listening.actions) == 2, timeout=5, interval=0.01, what="a release")
            await asyncio.sleep(0.1)
            assert listening.actions == ["press", "release"]

    run(body)


def test_combination_with_modifiers_in_any_order(xvfb: Xvfb, caplog: pytest.LogCaptureFixture) -> None:
    async def body() -> None:
        async with Listening(X11Source("ctrl+alt+space", display=xvfb.display), caplog) as listening:
            await xdotool(xvfb.display, "keydown", str(SPACE), str(LALT))
            await asyncio.sleep(0.1)
            assert listening.actions == []
            await xdotool(xvfb.display, "keydown", str(LCTRL))
            await until(lambda: listening.actions == ["press"], timeout=5, interval=0.01, what="a press")
            assert listening.actions == ["press"]
            await xdotool(xvfb.display, "keyup", str(LALT))
            await until(lambda: len(listening.actions) == 2, timeout=5, interval=0.01, what="a release")
            assert listening.actions == ["press", "release"]
            await xdotool(xvfb.display, "keyup", str(SPACE), str(LCTRL))
            await asyncio.sleep(0.1)
            assert listening.actions == ["press", "release"]

    run(body)


def test_server_gone_mid_hold_releases_and_keeps_running(xvfb: Xvfb, caplog: pytest.LogCaptureFixture) -> None:
    async def body() -> None:
        source = X11Source("rightctrl", display=xvfb.display, retry_seconds=0.1)
        async with Listening(source, caplog) as listening:
            await xdotool(xvfb.display, "keydown", str(RCTRL))
            await until(lambda: listening.actions == ["press"], timeout=5, interval=0.01, what="a press")
            xvfb.stop()
            await until(lambda: len(listening.actions) == 2, timeout=5, interval=0.01, what="a release")
            assert listening.actions == ["press", "release"]
            await asyncio.sleep(0.3)  # a few failed reconnects
            assert not listening.task.done()
        assert "lost X display" in caplog.text

    run(body)
