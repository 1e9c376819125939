"""The replies of the daemon's own control methods (control.py), as the CLI and the tray read them back.

Each is a frozen record that core/wire.py writes as the JSON object of its fields, so the wire keeps the
field names older clients read by key.
"""

from __future__ import annotations

from dataclasses import dataclass

from assistant.audio.devices import DeviceInfo
from assistant.core.events import AudioStatus, TurnState, WakeStatus
from assistant.core.records import TurnRecord
from assistant.turn.latency import LatencySummary
from assistant.turn.results import Models
from assistant.vram.snapshot import ModelRow, ModelState, VramFigures

__all__ = [
    "ApiStatus", "ConfigReloaded", "DaemonStatus", "DeviceList", "LlmCurrent", "LlmEntry", "Stopping", "Subscribed",
]


@dataclass(frozen=True)
class ApiStatus:
    """The OpenAI-compatible API's address and its request counts since the daemon started."""

    url: str
    key_required: bool
    requests: int
    errors: int  # answered with a 4xx or 5xx
    rejected: int  # of those, turned away because the queue was full (429)
    in_flight: int
    queued: int
    decoding: int  # uploads being decoded now, in threads
    by_path: dict[str, int]
    sessions: int = 0  # Realtime API sessions open now


@dataclass(frozen=True)
class DaemonStatus:
    """`status`: what the daemon does now, with what, and how its recent turns went."""

    state: TurnState
    pid: int
    uptime_s: float
    models: Models
    llm: str
    vram: VramFigures
    resident: tuple[ModelRow, ...]
    last_turn: TurnRecord | None
    audio: AudioStatus
    conversation: int
    latency: LatencySummary  # release → first reply audio over the recent voice turns
    wake: WakeStatus | None = None  # None: the daemon runs without audio
    api: ApiStatus | None = None  # None: the API is off

    @property
    def problem(self) -> str | None:
        """What a panel shows as wrong now: a sound device first (it lasts), else the last turn's error."""
        return next(iter(self.audio.problems), None) or (self.last_turn.error if self.last_turn else None)


@dataclass(frozen=True)
class Subscribed:
    """`subscribe`: events follow on this connection; `state` is the state they start from."""

    subscribed: bool
    state: TurnState


@dataclass(frozen=True)
class LlmEntry:
    """One LLM of `llm.list`."""

    id: str
    current: bool
    vram_gb: float
    measured_gb: float | None
    state: ModelState
    present: bool  # its files are on disk (or it needs none)
    description: str


@dataclass(frozen=True)
class LlmCurrent:
    id: str
    description: str
    vram_gb: float


@dataclass(frozen=True, kw_only=True)
class ConfigReloaded:
    """`config.reload`. A daemon before "read" answered only "reloaded" (the catalogs), hence the defaults."""

    read: tuple[str, ...] = ()  # every file read: config.toml first, then the catalogs
    config_file_exists: bool | None = None
    reloaded: tuple[str, ...]  # the catalogs (older CLIs print this)
    models: Models | None = None
    restart_needed: tuple[str, ...] = ()  # what changed and waits for a restart: "[api]", or a top-level key
    restart_command: str | None = None  # the restart that fits this daemon, when one is needed

    @property
    def files(self) -> tuple[str, ...]:
        return self.read or self.reloaded


@dataclass(frozen=True)
class DeviceList:
    devices: tuple[DeviceInfo, ...]


@dataclass(frozen=True)
class Stopping:
    """`shutdown`: the daemon is stopping; the CLI waits for `pid` to be gone."""

    stopping: bool
    pid: int | None = None
