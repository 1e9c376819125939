"""What is resident on the GPU and how each model has been used, as the arbiter keeps and reports it."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field

from assistant.core.models import ModelSpec
from assistant.hosts.host import ModelHost
from assistant.vram.snapshot import ModelRow, ModelState


@dataclass
class Resident:
    spec: ModelSpec
    gb: float  # what the policy counts: measured footprint when known, else the catalog's estimate
    on_gpu: bool = True
    worker: ModelHost | None = None
    loaded: asyncio.Event = field(default_factory=asyncio.Event)
    error: BaseException | None = None
    leases: int = 0
    last_used: float = 0.0

    @property
    def ready(self) -> bool:
        return self.worker is not None and self.loaded.is_set() and self.error is None


@dataclass
class ModelStats:
    load_count: int = 0
    load_seconds: float = 0.0
    last_used: float | None = None


def describe(
    spec: ModelSpec, resident: Resident | None, stats: ModelStats, active: Mapping[str, str], measured_gb: float | None
) -> ModelRow:
    """One model's row of `vram status`."""
    if resident is None:
        state = ModelState.UNLOADED
    elif not resident.loaded.is_set():
        state = ModelState.LOADING
    else:
        state = ModelState.IN_USE if resident.leases else ModelState.IDLE
    worker = resident.worker if resident else None
    return ModelRow(
        id=spec.id,
        kind=spec.kind,
        state=state,
        device=worker.device if worker else None,
        declared_gb=spec.vram_gb,
        measured_gb=measured_gb,
        leases=resident.leases if resident else 0,
        pid=worker.pid if worker else None,
        active=active.get(spec.kind) == spec.id,
        last_used=stats.last_used,
        load_count=stats.load_count,
        load_seconds=round(stats.load_seconds, 3),
    )
