"""The user's keyboard layout, and text turned into the key presses that type it in that layout (xkbcommon).

A uinput keyboard sends key codes, not characters: the compositor turns them into characters through the
layout the user chose. So "z" is the key labelled Y on a German keyboard and "a" the one labelled Q on a
French one, and a US table (ydotool's) types nonsense there. This compiles the user's own layout with
libxkbcommon, the library every Wayland compositor and Xwayland use, and asks it which key and which
modifiers give each character.

The layout is, in order: `[dictation] layout`, the XKB_DEFAULT_LAYOUT the wlroots compositors read, GNOME's
and KDE's input sources, the system's /etc/default/keyboard, and US. Only the first layout of a list is used:
a second one is reached by a group switch the compositor owns.
"""

from __future__ import annotations

import ast
import configparser
import logging
import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from assistant.keyboard.typing import CONTROL_KEYSYMS

log = logging.getLogger(__name__)

# evdev codes of the modifier keys a character may need: Shift, and AltGr (right Alt, the third level in
# every European layout). What each one does is asked of the layout, not assumed.
KEY_LEFTSHIFT = 42
KEY_RIGHTALT = 100
MODIFIER_KEYS = (KEY_LEFTSHIFT, KEY_RIGHTALT)
XKB_OFFSET = 8  # XKB key codes are the kernel's plus 8
_LAYOUT = re.compile(r"([a-z][a-z0-9_]{1,15})\s*(?:\(\s*([A-Za-z0-9_-]+)\s*\))?")


class LayoutError(Exception):
    """The layout does not compile; the message names it and where it came from."""


@dataclass(frozen=True)
class Layout:
    layout: str = "us"
    variant: str = ""
    source: str = "the default"  # where it was found, for `assistant doctor` and the log

    def __str__(self) -> str:
        return f"{self.layout}({self.variant})" if self.variant else self.layout


@dataclass(frozen=True)
class Stroke:
    """One key, pressed with these modifier keys held (evdev codes)."""

    code: int
    modifiers: tuple[int, ...] = ()


def parse_layout(text: str, source: str) -> Layout | None:
    """ "de", "fr(azerty)", "us,de" (the first) → a Layout; None when it is not a layout name."""
    match = _LAYOUT.fullmatch(text.split(",")[0].strip())
    return Layout(match.group(1), match.group(2) or "", source) if match else None


def _first(values: str) -> str:
    return values.split(",")[0].strip()


def _gnome_layout(env: Mapping[str, str]) -> Layout | None:
    if "GNOME" not in env.get("XDG_CURRENT_DESKTOP", "").upper() or shutil.which("gsettings") is None:
        return None
    try:
        out = subprocess.run(
            ["gsettings", "get", "org.gnome.desktop.input-sources", "sources"],
            capture_output=True, text=True, timeout=5, env=dict(env), check=True,
        ).stdout
        # "[('xkb', 'de+nodeadkeys'), ('ibus', 'anthy')]", a GVariant that reads as a Python literal
        sources = ast.literal_eval(out.strip().removeprefix("@a(ss) "))
    except (OSError, subprocess.SubprocessError, ValueError, SyntaxError):
        return None
    for kind, name in sources:
        if kind == "xkb":
            layout, _, variant = str(name).partition("+")
            return Layout(layout, variant, "GNOME's input sources")
    return None


def _kde_layout(home: Path) -> Layout | None:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(home / ".config" / "kxkbrc", encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError):
        return None
    layouts = parser.get("Layout", "LayoutList", fallback="")
    if not parser.getboolean("Layout", "Use", fallback=False) or not _first(layouts):
        return None
    return Layout(_first(layouts), _first(parser.get("Layout", "VariantList", fallback="")), "KDE's kxkbrc")


def _system_layout(path: Path) -> Layout | None:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    values = dict(line.split("=", 1) for line in lines if "=" in line and not line.lstrip().startswith("#"))
    layout = _first(values.get("XKBLAYOUT", "").strip().strip('"'))
    variant = _first(values.get("XKBVARIANT", "").strip().strip('"'))
    return Layout(layout, variant, str(path)) if layout else None


def desktop_layout(configured: str, env: Mapping[str, str], home: Path,
                   system: Path = Path("/etc/default/keyboard")) -> Layout:
    """The layout characters are typed in: the first source that names one (module docstring)."""
    if configured.strip():
        layout = parse_layout(configured, "[dictation] layout")
        if layout is None:
            raise LayoutError(f"[dictation] layout {configured!r} is not an XKB layout name (like \"de\" or \"fr(azerty)\")")
        return layout
    if env.get("XKB_DEFAULT_LAYOUT"):
        return Layout(_first(env["XKB_DEFAULT_LAYOUT"]), _first(env.get("XKB_DEFAULT_VARIANT", "")), "XKB_DEFAULT_LAYOUT")
    return _gnome_layout(env) or _kde_layout(home) or _system_layout(system) or Layout()


class KeyMap:
    """Which key, with which modifiers, types each character in one layout."""

    def __init__(self, layout: Layout) -> None:
        from xkbcommon import xkb

        self.layout = layout
        context = xkb.Context()
        # libxkbcommon prints a failed compile on stderr; the LayoutError below says it in one line instead.
        context.set_log_fn(lambda _level, message: log.debug("xkbcommon: %s", message.rstrip()))
        try:
            self._keymap = context.keymap_new_from_names(layout=layout.layout, variant=layout.variant or None)
        except xkb.XKBError:
            raise LayoutError(f"the keyboard layout {layout} (from {layout.source}) does not compile") from None
        strokes = self._build()
        # character → strokes, through each keysym's own text (a layout may give € as EuroSign, not U+20AC)
        self._chars: dict[str, tuple[Stroke, ...]] = {
            char: (strokes[sym],) for char, sym in CONTROL_KEYSYMS.items() if sym in strokes
        }
        dead: list[tuple[int, Stroke]] = []
        for sym, stroke in sorted(strokes.items(), key=lambda item: (len(item[1].modifiers), item[1].code)):
            text = xkb.keysym_to_string(sym)
            if text and len(text) == 1 and text.isprintable():
                self._chars.setdefault(text, (stroke,))
            elif (xkb.keysym_get_name(sym) or "").startswith("dead_"):
                dead.append((sym, stroke))
        self._compose(context, dead)

    def _compose(self, context: object, dead: list[tuple[int, Stroke]]) -> None:
        """Characters a dead key makes with the next key: ê is ^ then e on a French keyboard, ë is ¨ then e on a
        German one, and ^ itself is ^ then space there. The compositor composes them with the same Compose
        table (libX11's), so each pair is asked of it."""
        from xkbcommon import xkb

        try:
            table = context.compose_table_new_from_locale("C.UTF-8")  # type: ignore[attr-defined]
        except xkb.XKBError:
            return
        state = table.compose_state_new()
        bases = [(char, strokes[0]) for char, strokes in self._chars.items() if char.isprintable()]
        for dead_sym, dead_stroke in dead:
            for char, stroke in bases:
                state.reset()
                state.feed(dead_sym)
                state.feed(ord(char) if char.isascii() else 0x01000000 | ord(char))
                made = state.get_utf8() if state.get_status() == xkb.ComposeStatus.XKB_COMPOSE_COMPOSED else ""
                if made and len(made) == 1:
                    self._chars.setdefault(made, (dead_stroke, stroke))

    def _build(self) -> dict[int, Stroke]:
        """keysym → the cheapest stroke that types it: fewest modifiers, then the lowest key code."""
        from xkbcommon import xkb as lib

        keymap = self._keymap
        # What each set of modifier keys does in this layout, as the modifier mask a level asks for.
        combos: list[tuple[tuple[int, ...], int]] = []
        choices: tuple[tuple[int, ...], ...] = ((), (KEY_LEFTSHIFT,), (KEY_RIGHTALT,), (KEY_LEFTSHIFT, KEY_RIGHTALT))
        for keys in choices:
            state = keymap.state_new()
            for key in keys:
                state.update_key(key + XKB_OFFSET, lib.KeyDirection.XKB_KEY_DOWN)
            combos.append((keys, state.serialize_mods(lib.StateComponent.XKB_STATE_MODS_EFFECTIVE)))
        found: dict[int, Stroke] = {}
        for xkb_code in keymap:
            code = xkb_code - XKB_OFFSET
            if code in MODIFIER_KEYS or code <= 0 or code > 0x2FF:
                continue
            for level in range(keymap.num_levels_for_key(xkb_code, 0)):
                syms = keymap.key_get_syms_by_level(xkb_code, 0, level)
                masks = keymap.key_get_mods_for_level(xkb_code, 0, level)
                if len(syms) != 1:
                    continue
                for keys, mask in combos:
                    if mask in masks:
                        best = found.get(syms[0])
                        if best is None or (len(keys), code) < (len(best.modifiers), best.code):
                            found[syms[0]] = Stroke(code, keys)
                        break
        return found

    def missing(self, text: str) -> str:
        """The characters of `text` this layout has no key for, each once, in order."""
        return "".join(dict.fromkeys(c for c in text if c not in self._chars))

    def strokes(self, text: str) -> list[Stroke]:
        """The key presses that type `text`; a character the layout lacks is a LookupError."""
        try:
            return [stroke for char in text for stroke in self._chars[char]]
        except KeyError as exc:
            raise LookupError(exc.args[0]) from None

    def codes(self) -> set[int]:
        """Every key this map may press, modifiers included (the uinput device declares them)."""
        return {stroke.code for strokes in self._chars.values() for stroke in strokes} | set(MODIFIER_KEYS)
