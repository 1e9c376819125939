"""The records several layers share: a turn as the history keeps it, a tool run, and the timers and reminders.

Each is a frozen dataclass whose fields are its JSON (core/wire.py): the history's lines, the socket's
replies and the daemon's events are these records, so the file, the wire and the code agree by
construction instead of by three hand-written dicts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

AlarmKind = Literal["timer", "reminder"]
ToolRoute = Literal["intent", "llm"]  # the local matcher, or the model asked for it


@dataclass(frozen=True)
class ToolCallRecord:
    """One tool run, as a turn's history keeps it."""

    name: str
    arguments: dict[str, Any]  # the call's JSON arguments, as the route gave them
    result: str
    ok: bool
    ms: float  # rounded to 0.01 ms where the run is recorded: the history's lines stay short
    route: ToolRoute


@dataclass(frozen=True)
class TurnRecord:
    """A finished turn: a line of the history, the `ask` reply and the `turn` event."""

    id: str
    started: float
    transcript: str
    reply: str  # what the user heard
    # Seconds, and counts (partials, guesses, tokens): int first, so a count read back from the file is
    # written out as it came (3, not 3.0).
    timings: dict[str, int | float | None]
    full_reply: str = ""  # what the LLM wrote; longer than reply when interrupted
    llm: str = ""
    interrupted: bool = False
    nothing_heard: bool = False
    error: str | None = None
    error_code: str | None = None
    audio_path: str | None = None
    source: str = "voice"
    conversation: int = 0
    tools: tuple[ToolCallRecord, ...] = ()
    # The reply was an honest refusal (tools/capabilities.py), not a model's: kept here for the user,
    # never put back into the LLM's context, where a small model copies it onto the next request.
    refused: bool = False
    # Why the user's turn ended (release, silence, model, cap, commit, typed) and, when the end-of-turn
    # model judged it, its last probability that the turn was complete.
    end: str | None = None
    end_probability: float | None = None


@dataclass(frozen=True)
class ConversationStarted:
    """The history's marker line: the turns after it belong to a new conversation."""

    event: str = "new_conversation"  # what tells a marker line from a turn's
    conversation: int = 0
    time: float = 0.0


@dataclass(frozen=True)
class NewConversation:
    """The `new` reply: the number of the conversation that starts."""

    conversation: int


@dataclass(frozen=True)
class Timer:
    """A running timer, as the socket and the tools show it."""

    id: str
    label: str  # its name ("pasta"), or ""
    duration_s: float  # its length as asked
    due: str  # ISO 8601 with the UTC offset
    remaining_s: float


@dataclass(frozen=True)
class Reminder:
    id: str
    text: str  # the user's words ("call my mother")
    due: str  # ISO 8601 with the UTC offset


@dataclass(frozen=True)
class FiredTimer(Timer):
    """A timer that came due: its fields, how late it rang (after downtime) and what was said."""

    late_s: float
    announcement: str


@dataclass(frozen=True)
class FiredReminder(Reminder):
    late_s: float
    announcement: str


@dataclass(frozen=True)
class CancelledAlarms:
    """The ids of the timers or reminders a cancel removed."""

    cancelled: tuple[str, ...] = field(default_factory=tuple)
