"""`assistant status --follow`: one line per change of what a panel shows, from the daemon's events (no polling).

The daemon already pushes every state change, LLM switch, wake-word switch, finished turn and sound
device change to a subscriber of its control socket; this keeps a small view of them and prints it
whenever it changes: as JSON, or as the JSON a Waybar custom module (`return-type = "json"`) reads.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field, replace

from assistant.api.protocol import Event
from assistant.core.events import AudioStatus, LlmSwitched, StateChanged, WakeStatus
from assistant.core.wire import WireError, from_json, to_json, wire_name
from assistant.daemon.replies import DaemonStatus

# One glyph per state for a text panel; the README has the Waybar and polybar snippets.
ICONS = {"idle": "○", "listening": "●", "thinking": "◌", "speaking": "◉", "dictating": "✎", "error": "⚠"}


class Format(enum.Enum):
    JSON = "json"
    WAYBAR = "waybar"


@dataclass(frozen=True)
class TurnOutcome:
    """What a panel reads of a "turn" event (the turn's whole record): whether it failed."""

    error: str | None = None


@dataclass(frozen=True)
class PanelLine:
    """One line of `status --follow` for a panel of its own."""

    state: str
    models: dict[str, str]
    wake: bool
    dictating: bool
    error: str | None


@dataclass(frozen=True)
class WaybarLine:
    """One line as a Waybar custom module with `return-type = "json"` reads it."""

    text: str
    alt: str
    css_class: str = field(metadata=wire_name("class"))
    tooltip: str


@dataclass(frozen=True)
class Presence:
    """What a glance at the panel should tell: the state, the models, the wake word, and what went wrong."""

    state: str
    models: dict[str, str] = field(default_factory=dict)
    wake: bool = False
    error: str | None = None  # the last turn's error; cleared by a good turn
    device: str | None = None  # a sound device problem; cleared when the device is back, not by a turn

    @classmethod
    def of(cls, status: DaemonStatus) -> Presence:
        """From `status`: the view at the moment the subscription starts."""
        models = to_json(status.models)
        return cls(status.state.value, dict(models), bool(status.wake and status.wake.enabled),
                   status.last_turn.error if status.last_turn else None, next(iter(status.audio.problems), None))

    def after(self, event: Event) -> Presence:
        """The view once `event` has happened (itself when the event changes nothing shown, or is not what
        this client knows the event as)."""
        try:
            return self._after(event)
        except WireError:
            return self

    def _after(self, event: Event) -> Presence:
        data = event.data
        if event.event == "state":
            return replace(self, state=from_json(StateChanged, data).state.value)
        if event.event == "llm":
            return replace(self, models={**self.models, "llm": from_json(LlmSwitched, data).id})
        if event.event == "wake":
            return replace(self, wake=from_json(WakeStatus, data).enabled)
        if event.event == "turn":
            return replace(self, error=from_json(TurnOutcome, data).error or None)
        if event.event == "audio":
            return replace(self, device=next(iter(from_json(AudioStatus, data).problems), None))
        return self

    @property
    def problem(self) -> str | None:
        """What is wrong now: a sound device first (it lasts), else the last turn's error."""
        return self.device or self.error

    @property
    def shown(self) -> str:
        """The state a panel shows: "error" for an idle daemon whose last turn failed or whose device is gone."""
        return "error" if self.problem and self.state == "idle" else self.state

    def as_json(self) -> PanelLine:
        return PanelLine(self.state, self.models, self.wake, self.state == "dictating", self.problem)

    def as_waybar(self) -> WaybarLine:
        shown = self.shown
        tooltip = [f"assistant: {self.state}", *(f"{kind}: {model}" for kind, model in sorted(self.models.items())),
                   f"wake word: {'on' if self.wake else 'off'}"]
        if self.problem:
            tooltip.append(f"last error: {self.problem}")
        return WaybarLine(ICONS.get(shown, "?"), shown, shown, "\n".join(tooltip))

    def line(self, fmt: Format) -> str:
        return json.dumps(to_json(self.as_waybar() if fmt is Format.WAYBAR else self.as_json()), ensure_ascii=False)
