"""X11 typing through XTEST (python-xlib), with every character the layout lacks mapped before the first key.

xdotool maps a missing character onto one spare keycode just before pressing it, then the next character
onto the same keycode: a client still busy with the first key reads it with the second's mapping. Under
load that lost "ß", "“" and "”" of "é ß “quotes” 🎉" even at 40 ms a key. Here each missing character
gets a spare keycode of its own, in one mapping change, clients get time to read it, the keys go out, and
the spare keycodes are cleared afterwards: no key is ever pressed under a mapping that changes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping

from assistant.keyboard.typing import Edit, TypingFailed, keysym

# Time for every client to fetch the changed mapping (MappingNotify) before the first key, and to take the
# last key before the spare keycodes are cleared.
MAPPING_SETTLE_S = 0.15
KEY_GAP_S = 0.002


class Xtest:
    name = "xtest"

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env

    def problem(self) -> str | None:
        if not self.env.get("DISPLAY"):
            return "no X11 display (DISPLAY is not set)"
        try:
            from Xlib import display as xdisplay
        except ImportError:
            return "python-xlib is not installed (run scripts/install.sh)"
        try:
            conn = xdisplay.Display(self.env["DISPLAY"])
        except Exception as exc:  # python-xlib raises DisplayConnectionError, OSError, ...
            return f"cannot open the X display {self.env['DISPLAY']} ({exc})".splitlines()[0]
        try:
            return None if conn.has_extension("XTEST") else "the X server has no XTEST extension"
        finally:
            conn.close()

    async def apply(self, edit: Edit) -> None:
        text = "\b" * edit.erase + edit.text
        if text:
            await asyncio.to_thread(self._type, text)

    def _type(self, text: str) -> None:
        from Xlib import XK, X
        from Xlib import display as xdisplay
        from Xlib.ext import xtest

        try:
            conn = xdisplay.Display(self.env["DISPLAY"])
        except Exception as exc:
            raise TypingFailed(f"xtest: cannot open the X display ({exc})".splitlines()[0]) from None
        first = conn.display.info.min_keycode
        count = conn.display.info.max_keycode - first + 1
        mapping = conn.get_keyboard_mapping(first, count)
        where: dict[int, tuple[int, bool]] = {}  # keysym → (keycode, needs shift)
        for index, syms in enumerate(mapping):
            for level, sym in enumerate(syms[:2]):
                if sym and sym not in where:
                    where[sym] = (first + index, level == 1)
        spare = [first + i for i, syms in enumerate(mapping) if not any(syms)]
        added: list[int] = []
        try:
            for sym in dict.fromkeys(keysym(c) for c in text):
                if sym in where:
                    continue
                if not spare:
                    raise TypingFailed("xtest: no spare keycode left for a character the layout lacks")
                keycode = spare.pop()
                conn.change_keyboard_mapping(keycode, [[sym, sym] + [X.NoSymbol] * (len(mapping[0]) - 2)])
                where[sym] = (keycode, False)
                added.append(keycode)
            if added:
                conn.sync()
                time.sleep(MAPPING_SETTLE_S)
            shift = conn.keysym_to_keycode(XK.string_to_keysym("Shift_L"))
            for char in text:
                keycode, shifted = where[keysym(char)]
                if shifted:
                    xtest.fake_input(conn, X.KeyPress, shift)
                xtest.fake_input(conn, X.KeyPress, keycode)
                xtest.fake_input(conn, X.KeyRelease, keycode)
                if shifted:
                    xtest.fake_input(conn, X.KeyRelease, shift)
                conn.sync()
                time.sleep(KEY_GAP_S)
        finally:
            if added:
                time.sleep(MAPPING_SETTLE_S)
                for keycode in added:
                    conn.change_keyboard_mapping(keycode, [[X.NoSymbol] * len(mapping[0])])
                conn.sync()
            conn.close()
