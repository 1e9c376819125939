"""Wiring the built-in hotkey sources (evdev, X11) to push-to-talk and to dictation (the daemon's Turns)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from assistant.core.errors import AssistantError
from assistant.core.events import TurnState
from assistant.triggers.hotkey import available_sources
from assistant.triggers.source import Action

if TYPE_CHECKING:
    from assistant.config.settings import HotkeySettings
    from assistant.turn.turns import Turns

log = logging.getLogger(__name__)


def pick_source(key: str, wanted: tuple[str, ...]) -> tuple[Any, list[str]]:
    """The first usable source among those configured, and the reasons the others are not usable."""
    try:
        sources = [s for s in available_sources(key) if s.name in wanted]
    except ValueError as exc:
        return None, [f"hotkey: {exc}"]
    reasons: list[str] = []
    for source in sources:
        problem = source.check()
        if problem is None:
            return source, reasons
        reasons.append(f"{source.name}: {problem}")
    return None, reasons


@dataclass
class Hotkeys:
    """The running hotkey source's task (none when no source works), and what the key is or why there is none."""

    tasks: list[asyncio.Task[None]]
    key: str | None  # "KEY_RIGHTCTRL via evdev"
    problem: str | None


NO_SOURCE = "no built-in hotkey source works here; bind `assistant ptt press` and `release` in your compositor"


def start_hotkeys(settings: HotkeySettings, turns: Turns) -> Hotkeys:
    """Push-to-talk on the [hotkey] key."""
    return start_key(settings.key, settings.sources, turns.press, turns.release, lambda: turns.listening, "push-to-talk")


def start_dictation_key(key: str, sources: tuple[str, ...], turns: Turns) -> Hotkeys | None:
    """The [dictation] key, held to dictate; None when none is configured."""
    if not key:
        return None
    held = lambda: turns.state == TurnState.DICTATING  # noqa: E731
    return start_key(key, sources, turns.dictate_press, turns.dictate_release, held, "dictation")


def start_key(
    key: str,
    sources: tuple[str, ...],
    press: Callable[[], Awaitable[object]],
    release: Callable[[], Awaitable[object]],
    held: Callable[[], bool],
    what: str,
) -> Hotkeys:
    source, reasons = pick_source(key, sources)
    for reason in reasons:
        log.info("%s key source not used: %s", what, reason)
    if source is None:
        # Said once, in the daemon's ready lines (and by `assistant doctor`), not as a warning at every start.
        problem = "; ".join([NO_SOURCE, *reasons])
        log.info("%s", problem)
        return Hotkeys([], None, problem)
    log.info("%s on %s via %s", what, key, source.name)
    pending: set[asyncio.Task[None]] = set()  # held: the loop keeps only a weak reference to a task

    async def dispatch(action: Action) -> None:
        try:
            if action == "press":
                await press()
            elif held():  # a release with nothing held (a second key-up) does nothing
                await release()
        except AssistantError as exc:
            log.warning("%s %s: %s", what, action, exc.message)

    def emit(action: Action) -> None:
        task = asyncio.get_running_loop().create_task(dispatch(action))
        pending.add(task)
        task.add_done_callback(pending.discard)

    return Hotkeys([asyncio.get_running_loop().create_task(source.run(emit))], f"{key} via {source.name}", None)
