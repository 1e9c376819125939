"""The arbiter's memory truth: what the card has room for, what a worker holds after use, and when a
stopped worker's memory is really back. All read from the meter (NVML, or the simulated card)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable

from assistant.hosts.host import ModelHost
from assistant.vram.footprints import Footprints
from assistant.vram.meter import Meter, SimulatedMeter
from assistant.vram.residency import Resident

log = logging.getLogger(__name__)

RETURN_TIMEOUT_S = 10.0


def budget_gb(meter: Meter, reserve_gb: float, workers: Iterable[ModelHost], residents: Iterable[Resident]) -> float:
    """The card's total, less the reserve, less what processes other than our `workers` hold."""
    mem = meter.memory()
    if isinstance(meter, SimulatedMeter):
        return mem.total_gb - reserve_gb - meter.other_gb
    # Every worker counts, loading ones too: they allocate before they are in the table.
    readings = [meter.process_gb(w.pid) for w in workers if w.pid is not None]
    if any(r is not None for r in readings):
        own = sum(r or 0.0 for r in readings)
    else:
        # No per-process numbers (some drivers and containers withhold them): trust the plans.
        own = sum(r.gb for r in residents if r.on_gpu and r.worker is not None)
    others = max(0.0, mem.used_gb - own)
    return mem.total_gb - reserve_gb - others


def remeasure(meter: Meter, footprints: Footprints, resident: Resident) -> None:
    """Keep the high-water mark: inference allocates workspace beyond what loading took.

    On an H100 a Coqui VITS worker held 0.51 GB after loading and 0.71 GB after synthesis.
    """
    worker = resident.worker
    if not resident.on_gpu or worker is None or worker.pid is None:
        return
    measured = meter.process_gb(worker.pid)
    if measured is not None and measured > resident.gb + 0.01:
        resident.gb = measured
        footprints.record(resident.spec.id, measured)


async def wait_returned(meter: Meter, pid: int, model_id: str) -> None:
    """Count memory as free only once the meter shows the process gone from the GPU."""
    deadline = time.monotonic() + RETURN_TIMEOUT_S
    while meter.process_gb(pid):
        if time.monotonic() > deadline:
            log.warning("%s: GPU memory of pid %d not returned after %.0f s", model_id, pid, RETURN_TIMEOUT_S)
            return
        await asyncio.sleep(0.05)
