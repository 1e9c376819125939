"""The daemon's side of the tools: alarms ring through its voice, earcons, notifications and events."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from assistant.daemon.notify import Notifier
from assistant.tools.ringer import Ringer
from assistant.turn.assistant import Assistant
from assistant.turn.turns import Turns


def start_alarms(
    assistant: Assistant, turns: Turns, audio: Any, desktop: Notifier, emit: Callable[[str, dict[str, Any]], None]
) -> Callable[[], bool]:
    """Start firing timers and reminders (late ones at once); returns the dismiss callable for a press."""

    def earcon(name: str) -> None:
        if audio is not None:
            audio.earcon(name)

    def started(kind: str, data: dict[str, Any]) -> None:
        emit(f"{kind}.started" if kind == "timer" else f"{kind}.set", data)

    ringer = Ringer(
        say=turns.say,
        earcon=earcon,
        notify=desktop.send,
        emit=emit,
        ring_s=lambda: assistant.config.settings.tools.alarm_ring_s,
    )
    assistant.tools.on_call = lambda record: emit("tool.called", record.to_dict())
    assistant.alarms.on_add = started
    assistant.alarms.start(ringer.fire)
    return ringer.dismiss
