"""Wiring the built-in hotkey sources (evdev, X11) to push-to-talk (the daemon's Turns)."""

from __future__ import annotations

import asyncio
import logging
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
    source, reasons = pick_source(settings.key, settings.sources)
    for reason in reasons:
        log.info("hotkey source not used: %s", reason)
    if source is None:
        # Said once, in the daemon's ready lines (and by `assistant doctor`), not as a warning at every start.
        problem = "; ".join([NO_SOURCE, *reasons])
        log.info("%s", problem)
        return Hotkeys([], None, problem)
    log.info("push-to-talk on %s via %s", settings.key, source.name)

    pending: set[asyncio.Task[None]] = set()  # held: the loop keeps only a weak reference to a task

    def emit(action: Action) -> None:
        task = asyncio.get_running_loop().create_task(_dispatch(turns, action))
        pending.add(task)
        task.add_done_callback(pending.discard)

    return Hotkeys([asyncio.get_running_loop().create_task(source.run(emit))], f"{settings.key} via {source.name}", None)


async def _dispatch(turns: Turns, action: Action) -> None:
    try:
        if action == "press":
            await turns.press()
        elif turns.state == TurnState.LISTENING:
            await turns.release()
    except AssistantError as exc:
        log.warning("push-to-talk %s: %s", action, exc.message)
