"""The last resort: put the text on the clipboard, send one paste shortcut, then give the user's clipboard back.

Terminals paste with Ctrl+Shift+V (Ctrl+V is a control character there), other windows with Ctrl+V: the
focused window's class (X11) or app_id (sway) decides. Only a text clipboard is saved and restored; an
image on the clipboard is lost, and the log says so.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
from collections.abc import Mapping

from assistant.keyboard.typing import Edit, TypingFailed, run_tool

log = logging.getLogger(__name__)

TERMINALS = frozenset(
    "xterm uxterm foot footclient kitty alacritty gnome-terminal gnome-terminal-server konsole urxvt rxvt st "
    "st-256color wezterm tilix terminator xfce4-terminal lxterminal mate-terminal qterminal terminology "
    "org.wezfurlong.wezterm com.mitchellh.ghostty ghostty org.gnome.console org.gnome.terminal".split()
)
# The paste is read by the application after the shortcut; give it that long before the old clipboard is back.
RESTORE_AFTER_S = 0.3


def _has(tool: str, env: Mapping[str, str]) -> bool:
    return shutil.which(tool, path=env.get("PATH")) is not None


class Clipboard:
    name = "clipboard"

    def __init__(self, env: Mapping[str, str], paste: str = "auto") -> None:
        self.env = env
        self.paste = paste  # auto | ctrl+v | ctrl+shift+v
        self._serving: list[asyncio.subprocess.Process] = []  # X11: xclip serves the selection until replaced

    @property
    def wayland(self) -> bool:
        return bool(self.env.get("WAYLAND_DISPLAY"))

    def problem(self) -> str | None:
        if self.wayland:
            missing = [t for t in ("wl-copy", "wl-paste", "wtype") if not _has(t, self.env)]
            if missing:
                return f"{', '.join(missing)} not installed (Debian packages wl-clipboard, wtype)"
            return None
        if self.env.get("DISPLAY"):
            missing = [t for t in ("xclip", "xdotool") if not _has(t, self.env)]
            return f"{', '.join(missing)} not installed (Debian packages xclip, xdotool)" if missing else None
        return "no display: neither WAYLAND_DISPLAY nor DISPLAY is set"

    async def apply(self, edit: Edit) -> None:
        if edit.erase:
            await self._erase(edit.erase)
        if not edit.text:
            return
        saved = await self._read()
        await self._write(edit.text)
        try:
            await self._send_paste(await self._shortcut())
        except TypingFailed as exc:
            # The paste could not be sent (GNOME and KDE have no virtual keyboard for wtype): the words stay
            # on the clipboard for the user to paste, instead of the old clipboard coming back over them.
            raise TypingFailed(f"{exc.message}; the text is on the clipboard: paste it with Ctrl+V") from None
        await asyncio.sleep(RESTORE_AFTER_S)
        if saved is not None:
            await self._write(saved)
        else:
            log.info("the clipboard held no text before the paste; it now holds the dictation")

    async def _read(self) -> str | None:
        argv = ["wl-paste", "--no-newline"] if self.wayland else ["xclip", "-selection", "clipboard", "-o"]
        try:
            return await run_tool(argv, self.env, "reading the clipboard")
        except TypingFailed:
            return None  # empty, or not text

    async def _write(self, text: str) -> None:
        argv = ["wl-copy"] if self.wayland else ["xclip", "-selection", "clipboard", "-i", "-loops", "0"]
        if self.wayland:
            await run_tool(argv, self.env, "wl-copy", stdin=text.encode(), serves=True)
            return
        # xclip stays to serve the selection: start it and let it run, as `xclip &` does in a shell.
        proc = await asyncio.create_subprocess_exec(
            "xclip", "-selection", "clipboard", "-i", stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL, env=dict(self.env),
        )
        assert proc.stdin is not None
        proc.stdin.write(text.encode())
        await proc.stdin.drain()
        proc.stdin.close()
        await asyncio.sleep(0.05)  # it owns the selection once it has read its input
        # The one it replaced has lost the selection and exits: reap it (no zombies over weeks of dictation).
        for old in self._serving:
            if old.returncode is None:
                try:
                    await asyncio.wait_for(old.wait(), 1.0)
                except asyncio.TimeoutError:
                    continue
        self._serving = [p for p in self._serving if p.returncode is None] + [proc]

    async def _shortcut(self) -> str:
        if self.paste != "auto":
            return self.paste
        return "ctrl+shift+v" if (await self._focused_class()).lower() in TERMINALS else "ctrl+v"

    async def _focused_class(self) -> str:
        try:
            if self.wayland:
                if not _has("swaymsg", self.env):
                    return ""
                tree = json.loads(await run_tool(["swaymsg", "-t", "get_tree"], self.env, "swaymsg"))
                return _focused_app(tree)
            return await asyncio.to_thread(_x11_focused_class, self.env.get("DISPLAY", ""))
        except (TypingFailed, ValueError):
            return ""

    async def _send_paste(self, shortcut: str) -> None:
        mods = shortcut.split("+")[:-1]
        key = shortcut.split("+")[-1]
        if self.wayland:
            argv = ["wtype", "-s", "40", *[a for m in mods for a in ("-M", m)], "-k", key, *[a for m in mods for a in ("-m", m)]]
            await run_tool(argv, self.env, "wtype")
        else:
            await run_tool(["xdotool", "key", "--clearmodifiers", shortcut], self.env, "xdotool")

    async def _erase(self, count: int) -> None:
        if self.wayland:
            await run_tool(["wtype", "-s", "40", *[a for _ in range(count) for a in ("-k", "BackSpace")]], self.env, "wtype")
        else:
            await run_tool(["xdotool", "key", "--clearmodifiers", *(["BackSpace"] * count)], self.env, "xdotool")


def _x11_focused_class(display_name: str) -> str:
    """WM_CLASS of the window with the keyboard focus (or of its top-level parent); "" when unknown.

    The input focus, not _NET_ACTIVE_WINDOW: it needs no window manager, and Debian's xdotool has no
    getwindowclassname.
    """
    from Xlib import display as xdisplay
    from Xlib.error import XError

    try:
        conn = xdisplay.Display(display_name)
    except Exception:  # python-xlib raises DisplayConnectionError, OSError, ...: no class is the answer
        return ""
    try:
        window = conn.get_input_focus().focus
        for _ in range(16):  # up the tree to the window that carries WM_CLASS
            if isinstance(window, int) or window is None:
                return ""
            wm_class = window.get_wm_class()
            if wm_class:
                return str(wm_class[-1])
            window = window.query_tree().parent
        return ""
    except XError:
        return ""
    finally:
        conn.close()


def _focused_app(node: Mapping[str, object]) -> str:
    if node.get("focused"):
        app = node.get("app_id") or ""
        if not app:
            props = node.get("window_properties")
            app = props.get("class", "") if isinstance(props, dict) else ""
        return str(app)
    for key in ("nodes", "floating_nodes"):
        children = node.get(key)
        if isinstance(children, list):
            for child in children:
                if isinstance(child, dict):
                    found = _focused_app(child)
                    if found:
                        return found
    return ""
