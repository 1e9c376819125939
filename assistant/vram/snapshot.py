"""The arbiter's view of the card and its models, as `vram status` and `status` report it (plain records, so a
client reads them without loading anything the arbiter runs on)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import StrEnum

from assistant.core.events import VramChanged


class ModelState(StrEnum):
    UNLOADED = "unloaded"
    LOADING = "loading"
    IN_USE = "in use"  # a lease is held: a turn or an API request is running on it
    IDLE = "idle"

    @property
    def resident(self) -> bool:
        """Whether it holds memory (a loading model already does)."""
        return self is not ModelState.UNLOADED


@dataclass(frozen=True)
class ModelRow:
    """One model of the catalog and what the arbiter knows of it."""

    id: str
    kind: str
    state: ModelState
    device: str | None  # where its worker runs ("cuda:0", "cpu"); None while it has none
    declared_gb: float  # the catalog's estimate
    measured_gb: float | None  # its footprint as last measured (footprints.json), None before a first load
    leases: int
    pid: int | None
    active: bool  # the model its kind uses now
    last_used: float | None
    load_count: int
    load_seconds: float

    @property
    def on_gpu(self) -> bool:
        return self.state.resident and (self.device or "").startswith("cuda")


@dataclass(frozen=True)
class VramFigures:
    """The card as the meter reads it, and what the policy may use of it (GB)."""

    meter: str  # nvml, or simulated
    total_gb: float
    used_gb: float  # by every process on the card, not only ours
    free_gb: float
    reserve_gb: float
    budget_gb: float


@dataclass(frozen=True)
class VramSnapshot(VramFigures):
    """The figures, every model's row, and the latest loads and evictions (the wire keeps it one flat object)."""

    models: tuple[ModelRow, ...]
    events: tuple[VramChanged, ...]

    @property
    def figures(self) -> VramFigures:
        return VramFigures(**{f.name: getattr(self, f.name) for f in fields(VramFigures)})

    @property
    def resident(self) -> tuple[ModelRow, ...]:
        return tuple(m for m in self.models if m.state.resident)

    def row(self, model_id: str) -> ModelRow:
        return next(m for m in self.models if m.id == model_id)
