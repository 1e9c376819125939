"""Typing through a uinput virtual keyboard (python-evdev): works under any compositor, GNOME's and KDE's too.

The kernel sees a second keyboard, so the compositor applies its own layout to it: the keys pressed are
chosen through that same layout (layout.py), never a US table. A character the layout has no key for
(an emoji on most layouts) fails the edit, so the chain's next method (the clipboard) types it whole.

The device is made once and kept: the compositor needs a moment to find a new keyboard and give it the
keymap, and a key sent before that is lost (the first-character bug), so the first edit waits for it once.
Writing to /dev/uinput needs its permission: the README's udev rule gives it to the `input` group.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from assistant.keyboard.layout import KeyMap, LayoutError, desktop_layout
from assistant.keyboard.typing import Edit, TypingFailed

DEVICE = Path("/dev/uinput")
DEVICE_NAME = "assistant dictation keyboard"
# A compositor adds a new keyboard when udev announces it. Not measured here (no /dev/uinput on this
# machine): half a second is a margin, paid once per daemon.
DEVICE_SETTLE_S = 0.5
KEY_GAP_S = 0.002  # between keys, so no client coalesces a press and a release


class Uinput:
    name = "uinput"

    def __init__(self, layout: str, env: Mapping[str, str], home: Path, device: Path = DEVICE) -> None:
        self.configured = layout
        self.env = env
        self.home = home
        self.device_path = device
        self._keymap: KeyMap | None = None
        self._device: Any = None  # evdev.UInput, made at the first edit
        self._lock = threading.Lock()

    def keymap(self) -> KeyMap:
        if self._keymap is None:
            self._keymap = KeyMap(desktop_layout(self.configured, self.env, self.home))
        return self._keymap

    def problem(self) -> str | None:
        try:
            import evdev  # noqa: F401
            import xkbcommon  # noqa: F401
        except ImportError as exc:
            return f"{exc.name} is not installed (run scripts/install.sh)"
        if not self.device_path.exists():
            return f"there is no {self.device_path} (load the kernel module: sudo modprobe uinput)"
        if not os.access(self.device_path, os.W_OK):
            return (f"no write access to {self.device_path}: add the README's udev rule and join the input group "
                    "(sudo usermod -aG input $USER, then log in again)")
        try:
            self.keymap()
        except LayoutError as exc:
            return f"{exc}; set [dictation] layout"
        return None

    async def apply(self, edit: Edit) -> None:
        text = "\b" * edit.erase + edit.text
        if not text:
            return
        keymap = self.keymap()
        missing = keymap.missing(text)
        if missing:
            raise TypingFailed(f"uinput: the {keymap.layout} keyboard layout has no key for {' '.join(missing)}")
        await asyncio.to_thread(self._type, keymap, text)

    def _open(self, keymap: KeyMap) -> Any:
        from evdev import UInput, ecodes

        if self._device is None:
            try:
                self._device = UInput({ecodes.EV_KEY: sorted(keymap.codes())}, name=DEVICE_NAME)
            except OSError as exc:
                raise TypingFailed(f"uinput: cannot make a keyboard on {self.device_path} ({exc.strerror})") from None
            time.sleep(DEVICE_SETTLE_S)
        return self._device

    def _type(self, keymap: KeyMap, text: str) -> None:
        from evdev import ecodes

        with self._lock:  # one edit at a time on the one device
            device = self._open(keymap)
            try:
                for stroke in keymap.strokes(text):
                    # Modifiers in a frame of their own before the key, and released after it.
                    steps = [(key, 1) for key in stroke.modifiers] + [(stroke.code, 1), (stroke.code, 0)]
                    steps += [(key, 0) for key in reversed(stroke.modifiers)]
                    for key, value in steps:
                        device.write(ecodes.EV_KEY, key, value)
                        device.syn()
                    time.sleep(KEY_GAP_S)
            except OSError as exc:
                self.close()
                raise TypingFailed(f"uinput: the virtual keyboard failed ({exc.strerror})") from None

    def close(self) -> None:
        if self._device is not None:
            self._device.close()
            self._device = None
