"""The ordered chain of typing methods: the first that can work here types; a failure falls through to the next."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from assistant.keyboard.clipboard import Clipboard
from assistant.keyboard.portal import Portal
from assistant.keyboard.typing import Edit, Method, TypingFailed, Wtype, Xdotool
from assistant.keyboard.uinput import Uinput
from assistant.keyboard.xtest import Xtest

log = logging.getLogger(__name__)


def auto_methods(env: Mapping[str, str]) -> tuple[str, ...]:
    """What "auto" means in this session.

    On Wayland the X11 methods are left out: through Xwayland they reach only X11 windows, and would
    "type" into nothing while a Wayland window has the focus. wtype needs a wlroots compositor; on GNOME
    and KDE it fails at once and the portal follows. With no display at all every method is listed, so
    `doctor` and the error say what each one lacks (uinput needs none: the kernel's keyboard reaches the
    focused window whatever the session).
    """
    if env.get("WAYLAND_DISPLAY"):
        return ("wtype", "portal", "uinput", "clipboard")
    if env.get("DISPLAY"):
        return ("xtest", "xdotool", "uinput", "clipboard")
    return ("wtype", "xtest", "xdotool", "portal", "uinput", "clipboard")


def build_chain(
    names: Sequence[str], env: Mapping[str, str], *, paste: str, layout: str, home: Path, portal_token: Path
) -> list[Method]:
    """The methods named in [dictation] methods, in order ("auto": auto_methods)."""
    order: list[str] = []
    for name in names:
        for method in auto_methods(env) if name == "auto" else (name,):
            if method not in order:
                order.append(method)
    makers: dict[str, Callable[[], Method]] = {
        "wtype": lambda: Wtype(env),
        "xtest": lambda: Xtest(env),
        "xdotool": lambda: Xdotool(env),
        "portal": lambda: Portal(env, portal_token),
        "uinput": lambda: Uinput(layout, env, home),
        "clipboard": lambda: Clipboard(env, paste),
    }
    return [makers[name]() for name in order]


def problems(chain: Sequence[Method]) -> list[tuple[str, str | None]]:
    """Each method and why it cannot work here (None: it can), for `assistant doctor`."""
    return [(method.name, method.problem()) for method in chain]


async def type_edit(chain: Sequence[Method], edit: Edit) -> str:
    """Make the edit with the first method that works; the name of the one that did. TypingFailed names them all."""
    reasons = []
    for method in chain:
        problem = method.problem()
        if problem is not None:
            reasons.append(f"{method.name}: {problem}")
            continue
        try:
            await method.apply(edit)
        except TypingFailed as exc:
            log.warning("dictation: %s failed (%s); trying the next method", method.name, exc.message)
            reasons.append(f"{method.name}: {exc.message}")
            continue
        log.info("dictation: typed %d characters with %s", len(edit.text), method.name)
        return method.name
    raise TypingFailed("nothing could type here (" + "; ".join(reasons) + ")")
