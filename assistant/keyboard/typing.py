"""Typing into the focused window: an ordered chain of methods, each checked before it is used.

- `wtype`: wlroots compositors (sway, Hyprland, river), through the virtual-keyboard protocol. wtype sends
  its keymap and types at once, and foot (seen with sway) applies the first key before the keymap: "[a1]"
  arrived as "a1]" 14 times in 15. Sleeping 40 ms after the keymap (`-s 40`) kept every first character
  (15 of 15), so every call does that.
- `xtest` (xtest.py): X11 through XTEST with python-xlib, every missing character mapped before the first
  key; the default on X11.
- `xdotool`: X11 too; `type` remaps one spare keycode for each character the layout lacks, just before its
  key, so a busy client can read a key under the next character's mapping: into xterm, "é ß “quotes” 🎉"
  lost four characters at a 2 ms delay, one at 12 ms, none at 40 ms on an idle machine, and three at
  40 ms under the test suite's load. Kept as a named choice: ASCII at 2 ms a key, anything else at 40 ms.
- `portal` (portal.py): GNOME and KDE on Wayland, whose compositors have no virtual-keyboard protocol,
  through the RemoteDesktop portal; the desktop asks the user once.
- `uinput` (uinput.py): a virtual keyboard in the kernel, under any compositor, typed through the
  user's XKB layout; needs write access to /dev/uinput.
- `clipboard`: the last resort anywhere (clipboard.py).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from assistant.core.errors import AssistantError

log = logging.getLogger(__name__)

TYPE_TIMEOUT_S = 30.0
WTYPE_KEYMAP_WAIT_MS = 40
XDOTOOL_DELAY_MS = 2
XDOTOOL_REMAP_DELAY_MS = 40


# Characters no layout prints but every keyboard has a key for: Return, Tab, BackSpace.
CONTROL_KEYSYMS = {"\n": 0xFF0D, "\t": 0xFF09, "\b": 0xFF08}


def keysym(char: str) -> int:
    """The X keysym of a character: Latin-1 keysyms are the code points, the rest of Unicode 0x01000000 + it."""
    if char in CONTROL_KEYSYMS:
        return CONTROL_KEYSYMS[char]
    code = ord(char)
    return code if 0x20 <= code <= 0x7E or 0xA0 <= code <= 0xFF else 0x01000000 | code


class TypingFailed(AssistantError):
    code = "typing_failed"


@dataclass(frozen=True)
class Edit:
    """Erase this many characters before the cursor, then type `text`."""

    erase: int
    text: str


class Method(Protocol):
    name: str

    def problem(self) -> str | None:
        """None if the method can work here, else one sentence: why not, and what to install or set."""
        ...

    async def apply(self, edit: Edit) -> None:
        """Make the edit in the focused window; TypingFailed when the tool says it could not."""
        ...


async def run_tool(
    argv: Sequence[str], env: Mapping[str, str], what: str, stdin: bytes | None = None, serves: bool = False
) -> str:
    """Run a desktop tool with the session's environment; its own error, on one line, when it fails.

    `serves`: the tool leaves a child behind to serve what it was given (wl-copy serves the clipboard);
    that child would hold our pipes open, so its output goes nowhere and only the tool's exit is waited for.
    """
    out_to = asyncio.subprocess.DEVNULL if serves else asyncio.subprocess.PIPE
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=out_to,
            stderr=out_to,
            env=dict(env),
        )
    except OSError as exc:
        raise TypingFailed(f"{what}: cannot start {argv[0]} ({exc.strerror})") from None
    try:
        out, err = await asyncio.wait_for(proc.communicate(stdin), TYPE_TIMEOUT_S)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        raise TypingFailed(f"{what}: {argv[0]} did not finish in {TYPE_TIMEOUT_S:.0f} s") from None
    except asyncio.CancelledError:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        raise
    if proc.returncode != 0:
        reason = ((err or b"").decode(errors="replace").strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
        raise TypingFailed(f"{what}: {reason}")
    return (out or b"").decode(errors="replace")


class Wtype:
    name = "wtype"

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env

    def problem(self) -> str | None:
        if not self.env.get("WAYLAND_DISPLAY"):
            return "no Wayland session (WAYLAND_DISPLAY is not set)"
        if shutil.which("wtype", path=self.env.get("PATH")) is None:
            return "wtype is not installed (Debian package wtype)"
        return None

    async def apply(self, edit: Edit) -> None:
        argv = ["wtype", "-s", str(WTYPE_KEYMAP_WAIT_MS)]
        argv += [arg for _ in range(edit.erase) for arg in ("-k", "BackSpace")]
        if edit.text:
            argv += ["--", edit.text]
        await run_tool(argv, self.env, "wtype")


class Xdotool:
    name = "xdotool"

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env

    def problem(self) -> str | None:
        if not self.env.get("DISPLAY"):
            return "no X11 display (DISPLAY is not set)"
        if shutil.which("xdotool", path=self.env.get("PATH")) is None:
            return "xdotool is not installed (Debian package xdotool)"
        return None

    async def apply(self, edit: Edit) -> None:
        if edit.erase:
            await run_tool(["xdotool", "key", "--clearmodifiers", *(["BackSpace"] * edit.erase)], self.env, "xdotool")
        if edit.text:
            delay = XDOTOOL_DELAY_MS if edit.text.isascii() else XDOTOOL_REMAP_DELAY_MS
            # --file -: the text on stdin, so no character of it is taken for an option.
            await run_tool(
                ["xdotool", "type", "--clearmodifiers", "--delay", str(delay), "--file", "-"],
                self.env,
                "xdotool",
                stdin=edit.text.encode(),
            )


def session_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment the tools need: the daemon's own (the unit imports the graphical session's)."""
    return dict(env if env is not None else os.environ)
