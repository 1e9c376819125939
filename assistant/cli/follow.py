"""`assistant status --follow`: one line per change of what a panel shows, from the daemon's events (no polling).

The daemon already pushes every state change, LLM switch, wake-word switch, finished turn and sound
device change to a subscriber of its control socket; this keeps a small view of them and prints it
whenever it changes: as JSON, or as the JSON a Waybar custom module (`return-type = "json"`) reads.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field, replace
from typing import Any

from assistant.api.protocol import Event

# One glyph per state for a text panel; the README has the Waybar and polybar snippets.
ICONS = {"idle": "○", "listening": "●", "thinking": "◌", "speaking": "◉", "dictating": "✎", "error": "⚠"}


class Format(enum.Enum):
    JSON = "json"
    WAYBAR = "waybar"


@dataclass(frozen=True)
class Presence:
    """What a glance at the panel should tell: the state, the models, the wake word, and what went wrong."""

    state: str
    models: dict[str, str] = field(default_factory=dict)
    wake: bool = False
    error: str | None = None  # the last turn's error; cleared by a good turn
    device: str | None = None  # a sound device problem; cleared when the device is back, not by a turn

    @classmethod
    def of(cls, status: dict[str, Any]) -> Presence:
        """From `status`: the view at the moment the subscription starts."""
        audio = status.get("audio") or {}
        problem = audio.get("input_problem") or audio.get("output_problem")
        turn = status.get("last_turn") or {}
        return cls(str(status["state"]), dict(status.get("models") or {}), bool((status.get("wake") or {}).get("enabled")),
                   turn.get("error"), problem)

    def after(self, event: Event) -> Presence:
        """The view once `event` has happened (itself when the event changes nothing shown)."""
        data = event.data
        if event.event == "state":
            return replace(self, state=str(data["state"]))
        if event.event == "llm":
            return replace(self, models={**self.models, "llm": str(data["id"])})
        if event.event == "wake":
            return replace(self, wake=bool(data.get("enabled")))
        if event.event == "turn":
            return replace(self, error=data.get("error") or None)
        if event.event == "audio":
            return replace(self, device=data.get("input_problem") or data.get("output_problem") or None)
        return self

    @property
    def problem(self) -> str | None:
        """What is wrong now: a sound device first (it lasts), else the last turn's error."""
        return self.device or self.error

    @property
    def shown(self) -> str:
        """The state a panel shows: "error" for an idle daemon whose last turn failed or whose device is gone."""
        return "error" if self.problem and self.state == "idle" else self.state

    def as_json(self) -> dict[str, Any]:
        return {"state": self.state, "models": self.models, "wake": self.wake, "dictating": self.state == "dictating",
                "error": self.problem}

    def as_waybar(self) -> dict[str, Any]:
        shown = self.shown
        tooltip = [f"assistant: {self.state}", *(f"{kind}: {model}" for kind, model in sorted(self.models.items())),
                   f"wake word: {'on' if self.wake else 'off'}"]
        if self.problem:
            tooltip.append(f"last error: {self.problem}")
        return {"text": ICONS.get(shown, "?"), "alt": shown, "class": shown, "tooltip": "\n".join(tooltip)}

    def line(self, fmt: Format) -> str:
        return json.dumps(self.as_waybar() if fmt is Format.WAYBAR else self.as_json(), ensure_ascii=False)
