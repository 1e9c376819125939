"""The ordered chain of typing methods: the first that can work here types; a failure falls through to the next."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from assistant.keyboard.clipboard import Clipboard
from assistant.keyboard.typing import Edit, Method, TypingFailed, Wtype, Xdotool
from assistant.keyboard.xtest import Xtest

log = logging.getLogger(__name__)

AUTO = ("wtype", "xtest", "xdotool", "clipboard")


def build_chain(names: Sequence[str], env: Mapping[str, str], paste: str = "auto") -> list[Method]:
    """The methods named in [dictation] methods, in order ("auto": wtype, xtest, xdotool, then the clipboard)."""
    order: list[str] = []
    for name in names:
        for method in AUTO if name == "auto" else (name,):
            if method not in order:
                order.append(method)
    made: dict[str, Method] = {
        "wtype": Wtype(env), "xtest": Xtest(env), "xdotool": Xdotool(env), "clipboard": Clipboard(env, paste)
    }
    return [made[name] for name in order]


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
