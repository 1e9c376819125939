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
    time: float
    event: str  # load | evict | unload | fallback | ...
    model: str
    reason: str


@dataclass(frozen=True)
class LlmSwitched(DaemonEvent):
    NAME: ClassVar[str] = "llm"
    id: str
    previous: str


@dataclass(frozen=True)
class AudioStatus:
    """Which input and output are open (their names), and what is wrong with each (one sentence; None: nothing).
    Every field may be absent from the wire: a device that was never opened has neither name nor problem."""

    input: str | None = None
    output: str | None = None
    input_problem: str | None = None
    output_problem: str | None = None

    @property
    def problems(self) -> list[str]:
        return [p for p in (self.input_problem, self.output_problem) if p]


@dataclass(frozen=True)
class AudioChanged(DaemonEvent):
    """The sound devices' status changed."""

    NAME: ClassVar[str] = "audio"
    status: AudioStatus

    @property
    def problems(self) -> list[str]:
        return self.status.problems

    def payload(self) -> AudioStatus:
        return self.status


class McpState(StrEnum):
    CONNECTED = "connected"
    DOWN = "down"


@dataclass(frozen=True)
class McpUp:
    """A tool server's "mcp" event once it connected: the tools it offers."""

    server: str
    tools: tuple[str, ...]
    state: McpState = McpState.CONNECTED


@dataclass(frozen=True)
class McpDown:
    """A tool server's "mcp" event once it went down: why (None when it was stopped on purpose)."""

    server: str
    error: str | None
    state: McpState = McpState.DOWN


@dataclass(frozen=True)
class McpChanged(DaemonEvent):
    """A tool server connected (with its tools) or went down (with why)."""

    NAME: ClassVar[str] = "mcp"
    server: str
    connected: bool
    tools: tuple[str, ...] = ()
    error: str | None = None

    def payload(self) -> McpUp | McpDown:
        return McpUp(self.server, self.tools) if self.connected else McpDown(self.server, self.error)


@dataclass(frozen=True)
class WakeStatus:
    """The wake word's status: whether it is on, which word at what threshold, and what it has heard since
    the daemon started. Only `enabled` is needed on the wire; the rest reads as nothing heard yet."""

    enabled: bool
    word: str = ""
    phrase: str = ""  # the word as a person says it ("okay nabu")
    threshold: float | None = None
    echo: str | None = None  # while on: "gate", "cancel" (the sound server's canceller alone) or "cancel+gate"
    follow_up_s: float = 0.0
    wakeups: int = 0
    own_voice_ignored: int = 0
    wake_to_capture_ms: float | None = None
    cpu_s: float = 0.0
    end: str = "silence"  # how a hands-free turn ends: "model" (the end-of-turn model) or "silence"
    end_problem: str | None = None  # why it ends by silence although the model was asked for


@dataclass(frozen=True)
class WakeChanged(DaemonEvent):
    """The wake word was turned on or off (its whole status)."""

    NAME: ClassVar[str] = "wake"
    status: WakeStatus

    def payload(self) -> WakeStatus:
        return self.status


@dataclass(frozen=True)
class WakeWordHeard(DaemonEvent):
    NAME: ClassVar[str] = "wake_word"
    word: str
    probability: float


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
