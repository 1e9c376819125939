"""The typing methods for desktops without a virtual-keyboard protocol (GNOME, KDE): the uinput keyboard, typed
through the user's XKB layout, and the RemoteDesktop portal; and which methods "auto" picks in each session.

The layout tests compile real layouts with libxkbcommon and type the strokes back through an XKB state
and the Compose table, as a compositor does. The portal runs on a real private D-Bus (a stand-in portal,
tests/portal_standin.py, says why); the uinput device itself is tested where /dev/uinput can be opened.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.keyboard.chain import auto_methods, build_chain, type_edit
from assistant.keyboard.layout import (
    KEY_LEFTSHIFT,
    KEY_RIGHTALT,
    KeyMap,
    Layout,
    LayoutError,
    Stroke,
    desktop_layout,
)
from assistant.keyboard.portal import Portal
from assistant.keyboard.typing import Edit, TypingFailed
from assistant.keyboard.uinput import Uinput

from ..portal_standin import StandInRemoteDesktopPortal, text_of
from ..tool_services import SessionBus

# evdev key codes, by the label on a US keyboard
KEY_1, KEY_2, KEY_MINUS, KEY_Q, KEY_E, KEY_Y, KEY_LEFTBRACE, KEY_A, KEY_Z = 2, 3, 12, 16, 18, 21, 26, 30, 44


def _typed(keymap: KeyMap, strokes: list[Stroke]) -> str:
    """What a compositor types for these strokes in this layout: an XKB state per key, dead keys composed."""
    from xkbcommon import xkb

    context = xkb.Context()
    compiled = context.keymap_new_from_names(layout=keymap.layout.layout, variant=keymap.layout.variant or None)
    compose = context.compose_table_new_from_locale("C.UTF-8").compose_state_new()
    out = ""
    for stroke in strokes:
        state = compiled.state_new()
        for key in stroke.modifiers:
            state.update_key(key + 8, xkb.KeyDirection.XKB_KEY_DOWN)
        compose.feed(state.key_get_one_sym(stroke.code + 8))
        status = compose.get_status()
        if status == xkb.ComposeStatus.XKB_COMPOSE_COMPOSED:
            out += compose.get_utf8()
            compose.reset()
        elif status == xkb.ComposeStatus.XKB_COMPOSE_NOTHING:
            out += state.key_get_string(stroke.code + 8).replace("\r", "\n")
    return out


@pytest.mark.quick
def test_german_layout_types_z_on_the_y_key_and_at_with_altgr() -> None:
    keymap = KeyMap(Layout("de"))
    assert keymap.strokes("z") == [Stroke(KEY_Y)]
    assert keymap.strokes("y") == [Stroke(KEY_Z)]
    assert keymap.strokes("Z") == [Stroke(KEY_Y, (KEY_LEFTSHIFT,))]
    assert keymap.strokes("@") == [Stroke(KEY_Q, (KEY_RIGHTALT,))]
    assert keymap.strokes("ß") == [Stroke(KEY_MINUS)]
    text = "Grüße aus Zürich, sagte Zoë: „ja“ @ 5 € ^ y\n"
    assert keymap.missing(text) == ""
    assert _typed(keymap, keymap.strokes(text)) == text


@pytest.mark.quick
def test_french_layout_types_a_on_the_q_key_digits_with_shift_and_dead_circumflex() -> None:
    keymap = KeyMap(Layout("fr"))
    assert keymap.strokes("a") == [Stroke(KEY_Q)]
    assert keymap.strokes("q") == [Stroke(KEY_A)]
    assert keymap.strokes("1") == [Stroke(KEY_1, (KEY_LEFTSHIFT,))]
    assert keymap.strokes("é") == [Stroke(KEY_2)]
    assert keymap.strokes("ê") == [Stroke(KEY_LEFTBRACE), Stroke(KEY_E)]  # ^ is a dead key, then e
    text = "Où est la fenêtre ? Déjà 12 h, naïve Noël.\n"
    assert keymap.missing(text) == ""
    assert _typed(keymap, keymap.strokes(text)) == text


@pytest.mark.quick
def test_a_character_no_key_makes_is_named_and_uinput_leaves_it_to_the_next_method(tmp_path: Path) -> None:
    keymap = KeyMap(Layout("de"))
    assert keymap.missing("ok 🎉 ✓ 🎉") == "🎉✓"
    with pytest.raises(LookupError):
        keymap.strokes("🎉")
    method = Uinput("de", {}, tmp_path, device=tmp_path / "uinput")
    with pytest.raises(TypingFailed) as failed:
        asyncio.run(method.apply(Edit(0, "party 🎉")))
    assert "de keyboard layout has no key for 🎉" in failed.value.message


@pytest.mark.quick
def test_the_layout_comes_from_the_config_then_the_desktop_then_the_system(tmp_path: Path) -> None:
    system = tmp_path / "keyboard"
    system.write_text('XKBMODEL="pc105"\nXKBLAYOUT="fr,us"\nXKBVARIANT="azerty,"\n')
    home = tmp_path / "home"
    assert desktop_layout("", {}, home, system) == Layout("fr", "azerty", str(system))
    (home / ".config").mkdir(parents=True)
    (home / ".config" / "kxkbrc").write_text("[Layout]\nLayoutList=de,us\nVariantList=nodeadkeys,\nUse=true\n")
    assert desktop_layout("", {}, home, system) == Layout("de", "nodeadkeys", "KDE's kxkbrc")
    env = {"XKB_DEFAULT_LAYOUT": "es", "XKB_DEFAULT_VARIANT": ""}
    assert desktop_layout("", env, home, system) == Layout("es", "", "XKB_DEFAULT_LAYOUT")
    assert desktop_layout("ch(fr)", env, home, system) == Layout("ch", "fr", "[dictation] layout")
    assert desktop_layout("", {}, tmp_path / "nobody", tmp_path / "none") == Layout("us", "", "the default")
    with pytest.raises(LayoutError):
        desktop_layout("not a layout!", {}, home, system)
    with pytest.raises(LayoutError) as bad:
        KeyMap(Layout("zz", "", "[dictation] layout"))
    assert str(bad.value) == "the keyboard layout zz (from [dictation] layout) does not compile"


@pytest.mark.quick
def test_uinput_says_what_to_do_when_the_device_is_missing(tmp_path: Path) -> None:
    problem = Uinput("", {}, tmp_path, device=tmp_path / "no-uinput").problem()
    assert problem is not None and "modprobe uinput" in problem


UINPUT_WRITABLE = os.access("/dev/uinput", os.W_OK)


@pytest.mark.skipif(not UINPUT_WRITABLE, reason="/dev/uinput is absent or not writable here (no uinput module, or no input group)")
def test_the_uinput_keyboard_sends_keys_that_type_the_text_in_the_layout(tmp_path: Path) -> None:
    from evdev import InputDevice, ecodes, list_devices

    method = Uinput("fr", {}, tmp_path)
    assert method.problem() is None
    method._open(method.keymap())  # the device, so it can be read back
    ours = [InputDevice(path) for path in list_devices()]
    device = next(d for d in ours if d.name == "assistant dictation keyboard")
    pressed: list[Stroke] = []
    held: list[int] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            event = device.read_one()
            if event is None:
                time.sleep(0.005)
            elif event.type == ecodes.EV_KEY and event.value == 1:
                if event.code in (KEY_LEFTSHIFT, KEY_RIGHTALT):
                    held.append(event.code)
                else:
                    pressed.append(Stroke(event.code, tuple(held)))
            elif event.type == ecodes.EV_KEY and event.value == 0 and event.code in held:
                held.remove(event.code)

    reader = threading.Thread(target=read)
    reader.start()
    text = "Où est la fenêtre ? 12 h\n"
    asyncio.run(method.apply(Edit(0, text)))
    time.sleep(0.3)
    stop.set()
    reader.join()
    method.close()
    assert _typed(method.keymap(), pressed) == text


# ---------------------------------------------------------------------- the RemoteDesktop portal


@pytest.fixture
def bus(tmp_path: Path) -> Iterator[SessionBus]:
    session = SessionBus(tmp_path)
    yield session
    session.close()


@pytest.mark.dictation
def test_the_portal_asks_once_and_later_sessions_restore_without_asking(bus: SessionBus, tmp_path: Path) -> None:
    portal = StandInRemoteDesktopPortal(bus.address)
    token = tmp_path / "state" / "portal-token"
    env = {"DBUS_SESSION_BUS_ADDRESS": bus.address}
    try:
        method = Portal(env, token)
        assert method.problem() is None
        asyncio.run(method.apply(Edit(0, "Grüße, “quotes” 🎉\n")))
        asyncio.run(method.apply(Edit(3, "ok")))  # the same session: no new question
        method.close()
        assert portal.asked == 1 and len(portal.closed) == 1
        assert text_of(portal.keysyms) == "Grüße, “quotes” 🎉\n\b\b\bok"
        assert oct(token.stat().st_mode & 0o777) == "0o600" and token.read_text() in portal.issued
        again = Portal(env, token)  # a later daemon: the saved token, no dialog
        asyncio.run(again.apply(Edit(0, " more")))
        again.close()
        assert portal.asked == 1 and text_of(portal.keysyms).endswith("ok more")
    finally:
        portal.close()


@pytest.mark.dictation
def test_a_refused_portal_says_so_and_the_chain_goes_on(bus: SessionBus, tmp_path: Path) -> None:
    portal = StandInRemoteDesktopPortal(bus.address, allow=False)
    env = {"DBUS_SESSION_BUS_ADDRESS": bus.address}
    try:
        method = Portal(env, tmp_path / "portal-token")
        with pytest.raises(TypingFailed) as refused:
            asyncio.run(method.apply(Edit(0, "hello")))
        assert "did not allow keyboard control" in refused.value.message
        assert portal.keysyms == [] and not (tmp_path / "portal-token").exists()
        with pytest.raises(TypingFailed) as nothing:
            asyncio.run(type_edit([method], Edit(0, "hello")))
        assert nothing.value.message.startswith("nothing could type here (portal: ")
    finally:
        portal.close()


@pytest.mark.dictation
def test_a_bus_without_the_portal_is_reported_before_typing(bus: SessionBus, tmp_path: Path) -> None:
    problem = Portal({"DBUS_SESSION_BUS_ADDRESS": bus.address}, tmp_path / "t").problem()
    assert problem is not None and "no RemoteDesktop" in problem
    assert "DBUS_SESSION_BUS_ADDRESS" in (Portal({}, tmp_path / "t").problem() or "")


@pytest.mark.quick
def test_auto_leaves_the_x11_methods_out_of_a_wayland_session(tmp_path: Path) -> None:
    assert auto_methods({"WAYLAND_DISPLAY": "wayland-0", "DISPLAY": ":0"}) == ("wtype", "portal", "uinput", "clipboard")
    assert auto_methods({"DISPLAY": ":0"}) == ("xtest", "xdotool", "uinput", "clipboard")
    chain = build_chain(("uinput", "auto"), {"DISPLAY": ":0"}, paste="auto", layout="de", home=tmp_path,
                        portal_token=tmp_path / "t")
    assert [m.name for m in chain] == ["uinput", "xtest", "xdotool", "clipboard"]
