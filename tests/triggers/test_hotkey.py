"""Push-to-talk key parsing, the combination state machine, and the evdev source on scripted devices."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import itertools
import logging
import os
from collections.abc import AsyncGenerator, Awaitable, Callable, Hashable, Iterable
from typing import Any

import pytest
from evdev import ecodes

from assistant.triggers.evdev_source import DevInputHardware, EvdevSource, Keyboard
from assistant.triggers.hotkey import available_sources
from assistant.triggers.keys import DEFAULT_KEY, ComboTracker, parse_combo
from assistant.triggers.source import Action
from assistant.triggers.x11_source import X11Source

from ..waiting import until

pytestmark = pytest.mark.quick  # pure logic: runs on the light store

E = ecodes
LCTRL, RCTRL = E.KEY_LEFTCTRL, E.KEY_RIGHTCTRL
LALT, RALT = E.KEY_LEFTALT, E.KEY_RIGHTALT
SPACE, A = E.KEY_SPACE, E.KEY_A

# --- key names ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "groups"),
    [
        ("KEY_RIGHTCTRL", [{RCTRL}]),
        ("rightctrl", [{RCTRL}]),
        ("RightCtrl", [{RCTRL}]),
        ("ctrl+alt+space", [{LCTRL, RCTRL}, {LALT, RALT}, {SPACE}]),
        (" Ctrl + ALT + Space ", [{LCTRL, RCTRL}, {LALT, RALT}, {SPACE}]),
        ("super+F9", [{E.KEY_LEFTMETA, E.KEY_RIGHTMETA}, {E.KEY_F9}]),
        ("altgr+a", [{RALT}, {A}]),
        ("menu", [{E.KEY_COMPOSE}]),
        ("printscreen", [{E.KEY_SYSRQ}]),
        ("BTN_SIDE", [{E.BTN_SIDE}]),
        ("pause", [{E.KEY_PAUSE}]),
    ],
)
def test_parse_good_names(spec: str, groups: list[set[int]]) -> None:
    combo = parse_combo(spec)
    assert [set(g) for g in combo.groups] == groups
    assert combo.spec == spec.strip()


def test_default_key_is_right_ctrl() -> None:
    assert parse_combo(DEFAULT_KEY).groups == (frozenset({RCTRL}),)


@pytest.mark.parametrize(
    "spec", ["", "   ", "ctrl+", "+a", "ctrl++a", "hyper", "KEY_NOPE", "ABS_X", "ctrl+leftctrl", "a+A"]
)
def test_parse_bad_names(spec: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_combo(spec)
    message = str(info.value)
    assert "\n" not in message
    assert "KEY_RIGHTCTRL" in message and "ctrl+alt+space" in message


# --- the combination state machine ------------------------------------------------


def feed_all(tracker: ComboTracker, events: Iterable[tuple[Hashable, int, int]]) -> list[Action | None]:
    return [tracker.feed(code, value, device=dev) for dev, code, value in events]


def test_single_key_press_repeat_release() -> None:
    tracker = ComboTracker(parse_combo("rightctrl"))
    got = feed_all(tracker, [("kb", RCTRL, 1), ("kb", RCTRL, 2), ("kb", RCTRL, 2), ("kb", RCTRL, 0), ("kb", RCTRL, 0)])
    assert got == ["press", None, None, "release", None]
    assert not tracker.active


def test_brief_signature_without_device() -> None:
    tracker = ComboTracker(parse_combo("F9"))
    assert [tracker.feed(E.KEY_F9, v) for v in (1, 2, 0)] == ["press", None, "release"]


def test_other_keys_are_ignored() -> None:
    tracker = ComboTracker(parse_combo("rightctrl"))
    assert feed_all(tracker, [("kb", LCTRL, 1), ("kb", A, 1), ("kb", A, 0), ("kb", LCTRL, 0)]) == [None] * 4


@pytest.mark.parametrize("order", list(itertools.permutations([LCTRL, LALT, SPACE])))
def test_combo_any_order(order: tuple[int, int, int]) -> None:
    tracker = ComboTracker(parse_combo("ctrl+alt+space"))
    downs = feed_all(tracker, [("kb", code, 1) for code in order])
    assert downs == [None, None, "press"]
    # Whichever key goes up first ends it; the others going up say nothing more.
    ups = feed_all(tracker, [("kb", code, 0) for code in reversed(order)])
    assert ups == ["release", None, None]


def test_modifier_either_side_and_both() -> None:
    tracker = ComboTracker(parse_combo("ctrl+space"))
    assert feed_all(tracker, [("kb", RCTRL, 1), ("kb", SPACE, 1)]) == [None, "press"]
    # Left ctrl joins, right ctrl leaves: ctrl is still held.
    assert feed_all(tracker, [("kb", LCTRL, 1), ("kb", RCTRL, 0)]) == [None, None]
    assert tracker.feed(LCTRL, 0, device="kb") == "release"


def test_repress_after_partial_release() -> None:
    tracker = ComboTracker(parse_combo("ctrl+alt+space"))
    feed_all(tracker, [("kb", LCTRL, 1), ("kb", LALT, 1)])
    got = feed_all(tracker, [("kb", SPACE, 1), ("kb", SPACE, 2), ("kb", SPACE, 0), ("kb", SPACE, 1)])
    assert got == ["press", None, "release", "press"]


def test_autorepeat_alone_never_presses() -> None:
    tracker = ComboTracker(parse_combo("rightctrl"))
    assert feed_all(tracker, [("kb", RCTRL, 2)] * 5) == [None] * 5


def test_combo_split_across_two_keyboards() -> None:
    tracker = ComboTracker(parse_combo("ctrl+space"))
    assert feed_all(tracker, [("laptop", LCTRL, 1), ("usb", SPACE, 1)]) == [None, "press"]
    assert tracker.feed(SPACE, 0, device="usb") == "release"


def test_same_key_held_on_two_keyboards() -> None:
    tracker = ComboTracker(parse_combo("rightctrl"))
    got = feed_all(tracker, [("a", RCTRL, 1), ("b", RCTRL, 1), ("b", RCTRL, 0), ("a", RCTRL, 0)])
    assert got == ["press", None, None, "release"]


def test_release_on_other_keyboard_does_not_end_hold() -> None:
    tracker = ComboTracker(parse_combo("rightctrl"))
    # b reports an up for a key it never reported down (a remapper's virtual device, say).
    got = feed_all(tracker, [("a", RCTRL, 1), ("b", RCTRL, 0), ("a", RCTRL, 0)])
    assert got == ["press", None, "release"]


def test_remove_device_mid_hold() -> None:
    tracker = ComboTracker(parse_combo("ctrl+space"))
    feed_all(tracker, [("a", LCTRL, 1), ("a", SPACE, 1)])
    assert tracker.remove_device("other") is None
    assert tracker.remove_device("a") == "release"
    assert tracker.remove_device("a") is None


def test_resync_and_reset() -> None:
    tracker = ComboTracker(parse_combo("ctrl+space"))
    assert tracker.resync("a", [LCTRL, SPACE, A]) == "press"
    assert tracker.resync("a", [LCTRL, SPACE]) is None
    assert tracker.resync("a", [LCTRL]) == "release"
    tracker.feed(SPACE, 1, device="a")
    assert tracker.reset() == "release"
    assert not tracker.active


# --- the evdev source on scripted hardware -------------------------------------------

UNPLUG = object()


class FakeKeyboard:
    """A scripted input device: the test pushes kernel events, the source reads them."""

    def __init__(self, path: str, keys: Iterable[int]) -> None:
        self.path = path
        self.key_codes = frozenset(keys)
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.held: set[int] = set()
        self.closed = False
        self.reading = asyncio.Event()

    async def events(self) -> AsyncGenerator[tuple[int, int, int], None]:
        self.reading.set()
        while True:
            item = await self.queue.get()
            try:
                if item is UNPLUG:
                    raise OSError(errno.ENODEV, "No such device")
                yield item
            finally:
                # Marked done only once the reader asks for the next event, i.e. has
                # fully handled this one, so queue.join() means "all handled".
                self.queue.task_done()

    def held_keys(self) -> Iterable[int]:
        return set(self.held)

    def close(self) -> None:
        self.closed = True

    def key(self, code: int, value: int) -> None:
        self.queue.put_nowait((E.EV_KEY, code, value))
        self.queue.put_nowait((E.EV_SYN, E.SYN_REPORT, 0))


class FakeHardware:
    """Stands in for /dev/input: devices come and go when the test says so."""

    def __init__(self) -> None:
        self.nodes: dict[str, tuple[int, FakeKeyboard | OSError]] = {}
        self.opened: dict[str, int] = {}
        self.scans = 0
        self.changed = asyncio.Event()
        self.scanned = asyncio.Condition()
        self._next_identity = 0

    def plug(self, path: str, device: FakeKeyboard | OSError) -> None:
        self._next_identity += 1
        self.nodes[path] = (self._next_identity, device)
        self.changed.set()

    def unplug(self, path: str, *, read_error: bool = True) -> None:
        _, device = self.nodes.pop(path)
        if read_error and isinstance(device, FakeKeyboard):
            device.queue.put_nowait(UNPLUG)
        self.changed.set()

    def scan(self) -> dict[str, Hashable]:
        self.scans += 1
        return {path: identity for path, (identity, _) in self.nodes.items()}

    def open(self, path: str) -> Keyboard:
        self.opened[path] = self.opened.get(path, 0) + 1
        _, device = self.nodes[path]
        if isinstance(device, OSError):
            raise device
        device.closed = False
        return device

    async def wait_for_change(self, timeout: float) -> None:
        async with self.scanned:
            self.scanned.notify_all()
        # asyncio.timeout, not wait_for: on 3.11 wait_for swallows a cancel that lands
        # just as the event fires, and run() would then never stop.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self.changed.wait()
        self.changed.clear()

    async def rescan(self) -> None:
        """Ask for a scan and wait until it is done."""
        async with self.scanned:
            self.changed.set()
            await self.scanned.wait()


class Harness:
    def __init__(self, key: str, hardware: FakeHardware) -> None:
        self.hardware = hardware
        self.source = EvdevSource(key, hardware=hardware, rescan_seconds=30)
        self.actions: list[Action] = []

    async def __aenter__(self) -> Harness:
        self.hardware.changed.clear()  # devices plugged before start are found by the first scan
        async with self.hardware.scanned:
            self.task = asyncio.create_task(self.source.run(self.actions.append))
            await self.hardware.scanned.wait()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await self.task

    async def replay(self, events: Iterable[tuple[str, int, int]]) -> list[Action]:
        """Feed recorded (device path, code, value) events one by one; return new actions."""
        start = len(self.actions)
        for path, code, value in events:
            _, device = self.hardware.nodes[path]
            assert isinstance(device, FakeKeyboard)
            device.key(code, value)
            await device.queue.join()
        return self.actions[start:]


def run(body: Callable[[], Awaitable[None]]) -> None:
    async def bounded() -> None:
        async with asyncio.timeout(10):
            await body()

    asyncio.run(bounded())


def test_source_replays_press_repeat_release() -> None:
    async def body() -> None:
        hw = FakeHardware()
        hw.plug("/dev/input/event3", FakeKeyboard("/dev/input/event3", [RCTRL, A]))
        async with Harness("rightctrl", hw) as h:
            kb = "/dev/input/event3"
            got = await h.replay([(kb, A, 1), (kb, RCTRL, 1), (kb, RCTRL, 2), (kb, RCTRL, 2), (kb, A, 0), (kb, RCTRL, 0)])
            assert got == ["press", "release"]

    run(body)


def test_source_two_keyboards() -> None:
    async def body() -> None:
        hw = FakeHardware()
        for n in (1, 2):
            hw.plug(f"/dev/input/event{n}", FakeKeyboard(f"/dev/input/event{n}", [LCTRL, RCTRL, SPACE]))
        async with Harness("ctrl+space", hw) as h:
            one, two = "/dev/input/event1", "/dev/input/event2"
            assert await h.replay([(one, LCTRL, 1), (two, SPACE, 1)]) == ["press"]
            assert await h.replay([(two, LCTRL, 1), (one, LCTRL, 0)]) == []
            assert await h.replay([(two, LCTRL, 0)]) == ["release"]

    run(body)


@pytest.mark.parametrize("read_error", [True, False], ids=["read-fails", "node-vanishes"])
def test_source_unplug_mid_hold_releases(read_error: bool) -> None:
    async def body() -> None:
        hw = FakeHardware()
        usb = FakeKeyboard("/dev/input/event7", [RCTRL])
        hw.plug(usb.path, usb)
        async with Harness("rightctrl", hw) as h:
            assert await h.replay([(usb.path, RCTRL, 1)]) == ["press"]
            hw.unplug(usb.path, read_error=read_error)
            await hw.rescan()
            # The reader's end is reported from its task's done-callback.
            await until(lambda: usb.closed and h.actions[-1] == "release", timeout=2, interval=0.005, what="the unplugged device closed and released")
            assert h.actions == ["press", "release"]

    run(body)


def test_source_picks_up_keyboard_plugged_later() -> None:
    async def body() -> None:
        hw = FakeHardware()
        async with Harness("super+F9", hw) as h:
            late = FakeKeyboard("/dev/input/event9", [E.KEY_LEFTMETA, E.KEY_F9])
            hw.plug(late.path, late)
            await hw.rescan()
            assert await h.replay([(late.path, E.KEY_F9, 1), (late.path, E.KEY_LEFTMETA, 1)]) == ["press"]
            assert await h.replay([(late.path, E.KEY_F9, 0)]) == ["release"]

    run(body)


def test_source_replug_at_same_path_is_a_new_device() -> None:
    async def body() -> None:
        hw = FakeHardware()
        first = FakeKeyboard("/dev/input/event4", [RCTRL])
        hw.plug(first.path, first)
        async with Harness("rightctrl", hw) as h:
            assert await h.replay([(first.path, RCTRL, 1)]) == ["press"]
            second = FakeKeyboard(first.path, [RCTRL])
            hw.plug(first.path, second)  # gone and back between two scans
            await hw.rescan()
            assert h.actions == ["press", "release"]
            assert await h.replay([(first.path, RCTRL, 1)]) == ["press"]

    run(body)


def test_source_skips_devices_without_the_keys_and_does_not_reopen_them() -> None:
    async def body() -> None:
        hw = FakeHardware()
        mouse = FakeKeyboard("/dev/input/event5", [E.BTN_LEFT, E.BTN_RIGHT])
        hw.plug(mouse.path, mouse)
        async with Harness("rightctrl", hw):
            await hw.rescan()
            await hw.rescan()
            assert hw.opened[mouse.path] == 1
            assert mouse.closed

    run(body)


def test_source_retries_device_it_may_not_open_yet() -> None:
    async def body() -> None:
        hw = FakeHardware()
        path = "/dev/input/event6"
        hw.plug(path, PermissionError(errno.EACCES, "Permission denied"))
        async with Harness("rightctrl", hw) as h:
            # udev has now applied the input group to the node
            identity, _ = hw.nodes[path]
            kb = FakeKeyboard(path, [RCTRL])
            hw.nodes[path] = (identity, kb)
            await hw.rescan()
            assert hw.opened[path] == 2
            assert await h.replay([(path, RCTRL, 1), (path, RCTRL, 0)]) == ["press", "release"]

    run(body)


def test_source_resyncs_after_kernel_dropped_events() -> None:
    async def body() -> None:
        hw = FakeHardware()
        kb = FakeKeyboard("/dev/input/event2", [RCTRL])
        hw.plug(kb.path, kb)
        async with Harness("rightctrl", hw) as h:
            kb.held = {RCTRL}  # the down event itself was lost in the overflow
            for event in [(E.EV_SYN, E.SYN_DROPPED, 0), (E.EV_KEY, RCTRL, 0), (E.EV_SYN, E.SYN_REPORT, 0)]:
                kb.queue.put_nowait(event)
            await kb.queue.join()
            assert h.actions == ["press"]
            kb.held = set()
            assert await h.replay([(kb.path, RCTRL, 0)]) == ["release"]

    run(body)


def test_source_survives_a_failing_handler(caplog: pytest.LogCaptureFixture) -> None:
    async def body() -> None:
        hw = FakeHardware()
        kb = FakeKeyboard("/dev/input/event1", [RCTRL])
        hw.plug(kb.path, kb)
        seen: list[Action] = []

        def emit(action: Action) -> None:
            seen.append(action)
            if action == "press":
                raise RuntimeError("daemon bug")

        task = asyncio.create_task(EvdevSource("rightctrl", hardware=hw, rescan_seconds=30).run(emit))
        await hw.rescan()
        kb.key(RCTRL, 1)
        kb.key(RCTRL, 0)
        await kb.queue.join()
        assert seen == ["press", "release"]
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    with caplog.at_level(logging.ERROR):
        run(body)
    assert "handler failed" in caplog.text


def test_source_cancel_closes_every_device() -> None:
    async def body() -> None:
        hw = FakeHardware()
        kbs = [FakeKeyboard(f"/dev/input/event{n}", [RCTRL]) for n in range(3)]
        for kb in kbs:
            hw.plug(kb.path, kb)
        async with Harness("rightctrl", hw) as h:
            await asyncio.gather(*(kb.reading.wait() for kb in kbs))
            assert await h.replay([(kbs[0].path, RCTRL, 1)]) == ["press"]
        assert all(kb.closed for kb in kbs)
        assert h.actions == ["press"]  # cancelling is not a key release

    run(body)


# --- the real device wrapper and /dev/input scan, without real devices ------------------------


class PipeInputDevice:
    """Looks like evdev.InputDevice to the reader: a pipe makes its fd readable."""

    def __init__(self) -> None:
        self.fd, self._wake = os.pipe()
        os.set_blocking(self.fd, False)
        self.path = "/dev/input/event42"
        self.pending: list[Any] = []
        self.gone = False
        self.closed = False

    def capabilities(self) -> dict[int, list[int]]:
        return {E.EV_KEY: [RCTRL, A], E.EV_MSC: [E.MSC_SCAN]}

    def active_keys(self) -> list[int]:
        return [RCTRL]

    def push(self, *events: tuple[int, int, int]) -> None:
        from evdev import InputEvent

        self.pending.extend(InputEvent(0, 0, t, c, v) for t, c, v in events)
        os.write(self._wake, b"x")

    def read(self) -> Iterable[Any]:
        if self.gone:
            raise OSError(errno.ENODEV, "No such device")
        try:
            os.read(self.fd, 4096)
        except BlockingIOError:
            pass
        if not self.pending:
            raise BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable")
        batch, self.pending = self.pending, []
        return iter(batch)

    def close(self) -> None:
        self.closed = True
        os.close(self.fd)
        os.close(self._wake)


def test_evdev_keyboard_wrapper_reads_until_unplugged() -> None:
    from assistant.triggers.evdev_source import _EvdevKeyboard

    async def body() -> None:
        device = PipeInputDevice()
        keyboard = _EvdevKeyboard(device)  # type: ignore[arg-type]
        assert keyboard.path == device.path
        assert keyboard.key_codes == {RCTRL, A}
        assert list(keyboard.held_keys()) == [RCTRL]
        got: list[tuple[int, int, int]] = []
        failure: list[OSError] = []

        async def consume() -> None:
            try:
                async for event in keyboard.events():
                    got.append(event)
            except OSError as exc:
                failure.append(exc)

        task = asyncio.create_task(consume())
        os.write(device._wake, b"x")  # readable but nothing to read: EAGAIN is not an error
        await asyncio.sleep(0.02)
        device.push((E.EV_KEY, RCTRL, 1), (E.EV_SYN, E.SYN_REPORT, 0))
        await until(lambda: len(got) == 2, timeout=2, interval=0.005, what="the key and its report")
        assert got == [(E.EV_KEY, RCTRL, 1), (E.EV_SYN, E.SYN_REPORT, 0)]
        device.gone = True
        os.write(device._wake, b"x")
        await task
        assert failure and failure[0].errno == errno.ENODEV
        # The reader left the loop's selector, so the fd may be closed and reused safely.
        assert not asyncio.get_running_loop().remove_reader(device.fd)
        keyboard.close()
        assert device.closed

    run(body)


def test_dev_input_scan_lists_only_event_character_devices(tmp_path: Any) -> None:
    import stat

    try:
        # Major 13 is the kernel's input subsystem; nothing is bound to these numbers here.
        os.mknod(tmp_path / "event0", stat.S_IFCHR | 0o600, os.makedev(13, 90))
    except PermissionError:
        pytest.skip("creating device nodes needs root (CAP_MKNOD)")
    (tmp_path / "event1").write_text("not a device")
    os.mknod(tmp_path / "mouse0", stat.S_IFCHR | 0o600, os.makedev(13, 91))
    hardware = DevInputHardware(str(tmp_path))
    nodes = hardware.scan()
    assert list(nodes) == [str(tmp_path / "event0")]
    first = nodes[str(tmp_path / "event0")]
    os.unlink(tmp_path / "event0")
    os.mknod(tmp_path / "event0", stat.S_IFCHR | 0o600, os.makedev(13, 92))
    assert hardware.scan()[str(tmp_path / "event0")] != first  # recreated node, new identity
    with pytest.raises(OSError):
        hardware.open(str(tmp_path / "event0"))
    reason = EvdevSource("rightctrl", hardware=hardware).check()
    assert reason is not None and reason.startswith("No readable keyboard")


# --- check() -----------------------------------------------------------------------


class StaticHardware(FakeHardware):
    def __init__(self, devices: dict[str, FakeKeyboard | OSError] | OSError) -> None:
        super().__init__()
        self.error = devices if isinstance(devices, OSError) else None
        if not isinstance(devices, OSError):
            for path, device in devices.items():
                self.plug(path, device)

    def scan(self) -> dict[str, Hashable]:
        if self.error is not None:
            raise self.error
        return super().scan()


def check_with(devices: dict[str, FakeKeyboard | OSError] | OSError, key: str = "rightctrl") -> str | None:
    async def inner() -> str | None:
        return EvdevSource(key, hardware=StaticHardware(devices)).check()

    return asyncio.run(inner())


def test_check_no_input_dir() -> None:
    reason = check_with(FileNotFoundError(errno.ENOENT, "No such file or directory"))
    assert reason is not None and "/dev/input" in reason and "x11" in reason


def test_check_real_hardware_without_dev_input(tmp_path: Any) -> None:
    source = EvdevSource("rightctrl", hardware=DevInputHardware(str(tmp_path / "missing")))
    reason = source.check()
    assert reason is not None and "No input devices" in reason


def test_check_permission_denied_names_input_group() -> None:
    denied = PermissionError(errno.EACCES, "Permission denied")
    reason = check_with({"/dev/input/event0": denied, "/dev/input/event1": denied})
    assert reason is not None
    assert "input group" in reason and "sudo usermod -aG input $USER" in reason and "log out" in reason


def test_check_no_keyboard_with_the_keys() -> None:
    reason = check_with({"/dev/input/event0": FakeKeyboard("/dev/input/event0", [E.BTN_LEFT])}, key="ctrl+F9")
    assert reason is not None and "ctrl+F9" in reason


def test_check_usable_even_if_some_nodes_are_denied() -> None:
    devices: dict[str, FakeKeyboard | OSError] = {
        "/dev/input/event0": PermissionError(errno.EACCES, "Permission denied"),
        "/dev/input/event1": FakeKeyboard("/dev/input/event1", [RCTRL]),
    }
    assert check_with(devices) is None


# --- choosing sources ----------------------------------------------------------------


def test_available_sources_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    assert [type(s) for s in available_sources("rightctrl")] == [EvdevSource]
    monkeypatch.setenv("DISPLAY", ":0")
    sources = available_sources("ctrl+alt+space")
    assert [type(s) for s in sources] == [EvdevSource, X11Source]
    assert [s.name for s in sources] == ["evdev", "x11"]


def test_available_sources_rejects_bad_key() -> None:
    with pytest.raises(ValueError, match="unknown key"):
        available_sources("ctrl+hyperspace")


# --- a real virtual keyboard ------------------------------------------------------------


def _uinput_skip_reason() -> str | None:
    if not os.path.exists("/dev/uinput"):
        return "no /dev/uinput here (container or uinput module not loaded), so no virtual keyboard"
    if not os.access("/dev/uinput", os.R_OK | os.W_OK):
        return "/dev/uinput exists but this user may not write it"
    return None


@pytest.mark.skipif(_uinput_skip_reason() is not None, reason=str(_uinput_skip_reason()))
def test_real_virtual_keyboard_through_dev_input() -> None:
    from evdev import UInput

    try:
        ui = UInput({E.EV_KEY: [LCTRL, E.KEY_F9]}, name="assistant-hotkey-test")
    except Exception as exc:  # e.g. a container whose /dev/input never shows the new node
        pytest.skip(f"/dev/uinput is there but no virtual keyboard could be made: {exc}")

    async def key(code: int, value: int) -> None:
        ui.write(E.EV_KEY, code, value)
        ui.syn()
        await asyncio.sleep(0.05)

    async def body() -> None:
        actions: list[Action] = []
        task = asyncio.create_task(EvdevSource("ctrl+F9", rescan_seconds=0.1).run(actions.append))
        try:
            await asyncio.sleep(0.5)  # a few rescans to find the new node
            await key(LCTRL, 1)
            await key(E.KEY_F9, 1)
            await key(E.KEY_F9, 0)
            assert actions == ["press", "release"]
            await key(E.KEY_F9, 1)
            assert actions[-1] == "press"
            ui.close()  # unplugged mid-hold
            await asyncio.sleep(0.5)
            assert actions == ["press", "release", "press", "release"]
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    try:
        run(body)
    finally:
        ui.close()
