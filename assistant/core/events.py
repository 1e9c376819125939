"""The turn's state and the daemon's events, as typed records.

`Turns` owns the state: it is the only writer, and everyone else hears of a change through a
`StateChanged` event (the wake word, the watchdog, the socket's subscribers). Each event is one frozen
record; `name` and `payload()` are its form on the control socket (`{"event": name, "data":
to_json(payload())}`), so a client reads exactly what it read when events were a string and a dict.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar

from assistant.core.records import AlarmKind, FiredReminder, FiredTimer, Reminder, Timer, ToolCallRecord, TurnRecord
from assistant.core.wire import to_json


class TurnState(StrEnum):
    IDLE = "idle"
    LISTENING = "listening"  # the key is held (or the wake word opened the mic)
    THINKING = "thinking"  # the utterance is in: transcribing, then the LLM or a tool
    SPEAKING = "speaking"  # the reply plays
    DICTATING = "dictating"  # the dictation key is held: the words will be typed, not answered



class DaemonEvent:
    """One thing that happened, for the socket's subscribers and the parts that follow the daemon."""

    NAME: ClassVar[str]

    @property
    def name(self) -> str:
        """The event's name on the control socket."""
        return self.NAME

    def payload(self) -> object:
        """The event's typed form on the wire: the record itself (its fields), unless an event's wire
        form differs from how it is held and it returns another record."""
        return self

    def data(self) -> Any:
        """The event as JSON, through the one codec."""
        return to_json(self.payload())


Emit = Callable[[DaemonEvent], None]


def ignore(event: DaemonEvent) -> None:
    """An Emit for a part that runs with no one listening (a command-line turn, a test)."""


@dataclass(frozen=True)
class StateChanged(DaemonEvent):
    NAME: ClassVar[str] = "state"
    state: TurnState

    def data(self) -> dict[str, Any]:
        return {"state": self.state.value}


@dataclass(frozen=True)
class TurnFinished(DaemonEvent):
    """A turn's record as the history keeps it (transcript, reply, timings, tool calls, error)."""

    NAME: ClassVar[str] = "turn"
    record: TurnRecord

    @property
    def error(self) -> str | None:
        return self.record.error or None

    def payload(self) -> object:
        return self.record


@dataclass(frozen=True)
class VramChanged(DaemonEvent):
    """The arbiter loaded, evicted, unloaded or fell back on a model."""

    NAME: ClassVar[str] = "vram"
    event: str  # load | evict | unload | fallback | ...
    model: str
    reason: str
    time: float

    def data(self) -> dict[str, Any]:
        return {"time": self.time, "event": self.event, "model": self.model, "reason": self.reason}


@dataclass(frozen=True)
class LlmSwitched(DaemonEvent):
    NAME: ClassVar[str] = "llm"
    id: str
    previous: str

    def data(self) -> dict[str, Any]:
        return {"id": self.id, "previous": self.previous}


@dataclass(frozen=True)
class AudioChanged(DaemonEvent):
    """The sound devices' status: which input and output are open, and what is wrong with each."""

    NAME: ClassVar[str] = "audio"
    status: Mapping[str, Any]

    @property
    def problems(self) -> list[str]:
        return [str(p) for p in (self.status.get("input_problem"), self.status.get("output_problem")) if p]

    def data(self) -> dict[str, Any]:
        return dict(self.status)


@dataclass(frozen=True)
class McpChanged(DaemonEvent):
    """A tool server connected (with its tools) or went down (with why)."""

    NAME: ClassVar[str] = "mcp"
    server: str
    connected: bool
    tools: tuple[str, ...] = ()
    error: str | None = None

    def data(self) -> dict[str, Any]:
        if self.connected:
            return {"server": self.server, "state": "connected", "tools": list(self.tools)}
        return {"server": self.server, "state": "down", "error": self.error}


@dataclass(frozen=True)
class WakeChanged(DaemonEvent):
    """The wake word was turned on or off (its whole status)."""

    NAME: ClassVar[str] = "wake"
    status: Mapping[str, Any]

    def data(self) -> dict[str, Any]:
        return dict(self.status)


@dataclass(frozen=True)
class WakeWordHeard(DaemonEvent):
    NAME: ClassVar[str] = "wake_word"
    word: str
    probability: float

    def data(self) -> dict[str, Any]:
        return {"word": self.word, "probability": self.probability}


@dataclass(frozen=True)
class AlarmSet(DaemonEvent):
    """A timer started or a reminder was set (the socket's names: `timer.started`, `reminder.set`)."""

    NAME: ClassVar[str] = "alarm.set"
    alarm: Timer | Reminder

    @property
    def kind(self) -> AlarmKind:
        return "timer" if isinstance(self.alarm, Timer) else "reminder"

    @property
    def name(self) -> str:
        return "timer.started" if self.kind == "timer" else "reminder.set"

    def payload(self) -> object:
        return self.alarm


@dataclass(frozen=True)
class AlarmFired(DaemonEvent):
    """A timer or reminder came due (`timer.fired`, `reminder.fired`)."""

    NAME: ClassVar[str] = "alarm.fired"
    alarm: FiredTimer | FiredReminder

    @property
    def kind(self) -> AlarmKind:
        return "timer" if isinstance(self.alarm, FiredTimer) else "reminder"

    @property
    def name(self) -> str:
        return f"{self.kind}.fired"

    def payload(self) -> object:
        return self.alarm


@dataclass(frozen=True)
class ToolCalled(DaemonEvent):
    NAME: ClassVar[str] = "tool.called"
    record: ToolCallRecord

    def payload(self) -> object:
        return self.record
