"""Whether a worker with a request outstanding is working or hung: judged by what it does, not by silence.

Silence alone cannot tell a big model thinking on a CPU (a minute before its first token) from one that is
stopped or deadlocked; what the process does with the CPU can. A working engine's CPU time advances (its
threads compute, or spin in the CUDA driver waiting for a kernel, which is the driver's default way to
wait); a stopped process is in state T, and a deadlocked one burns nothing. So a worker is hung when it is
stopped for STOPPED_GRACE_S, or its CPU time stands still for `idle_s` while it is not waiting on the disk
(state D); a busy one keeps the long per-operation silence deadline. On a GPU a driver set to block while
it waits would look idle, so there NVML's per-process utilisation (where the driver reports it) counts as
progress too.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

PROBE_S = 1.0  # how often a waiting request looks at its worker
STOPPED_GRACE_S = 2.0  # a stop this short may be a user's Ctrl+Z-and-continue or a profiler's sample
CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

DEFAULT_STALL_S: Mapping[str, float] = {"transcribe": 120.0, "transcribe_segments": 120.0, "chat": 120.0,
                                         "synthesize": 120.0}
DEFAULT_IDLE_S = 10.0


@dataclass(frozen=True)
class WorkerLimits:
    """How long a worker may go without progress before it is killed as hung.

    stall_s: per operation, how long a worker that is busy (its CPU time advancing) may send nothing.
    idle_s: how long a worker with a request outstanding may use no CPU (nor GPU) at all.
    """

    stall_s: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_STALL_S))
    idle_s: float = DEFAULT_IDLE_S

    def silence_s(self, op: str) -> float | None:
        return self.stall_s.get(op)


@dataclass(frozen=True)
class Sample:
    """One look at a process in /proc: its run state (R, S, D, T, Z, ...) and its CPU time so far."""

    state: str
    cpu_s: float


def sample(pid: int) -> Sample | None:
    """The process's state and CPU time (all its threads), or None where it is gone or /proc is not there."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces: split after its closing one.
    fields = text[text.rindex(")") + 2 :].split()
    return Sample(fields[0], (int(fields[11]) + int(fields[12])) / CLOCK_TICKS)


GpuBusy = Callable[[int, float], bool]  # (pid, since a wall-clock time) → did the process use the GPU since


def nvml_gpu_busy() -> GpuBusy | None:
    """NVML's per-process SM utilisation as a progress sign, or None where NVML does not answer."""
    try:
        import pynvml

        pynvml.nvmlInit()
        handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]
    except Exception:  # no driver, no library, no card: CPU time is the only sign
        return None

    def busy(pid: int, since: float) -> bool:
        for handle in handles:
            try:
                samples: Any = pynvml.nvmlDeviceGetProcessUtilization(handle, int(since * 1e6))
            except Exception:  # NOT_FOUND when nothing ran since then; NOT_SUPPORTED on some cards
                continue
            if any(s.pid == pid and s.smUtil > 0 for s in samples):
                return True
        return False

    return busy


class Progress:
    """One request's watch over its worker: `heard` at each message, `check` at each probe."""

    def __init__(
        self,
        pid: int | None,
        op: str,
        limits: WorkerLimits,
        gpu_busy: GpuBusy | None = None,
        clock: Callable[[], float] = time.monotonic,
        read: Callable[[int], Sample | None] = sample,
    ) -> None:
        self.pid, self.op, self.limits = pid, op, limits
        self._gpu_busy, self._clock, self._read = gpu_busy, clock, read
        self._heard = self._worked = clock()
        self._worked_wall = time.time()
        first = read(pid) if pid is not None else None
        self._cpu_s = first.cpu_s if first is not None else 0.0
        self._stopped_since: float | None = None

    def heard(self) -> None:
        """The worker sent something: that is progress of every kind."""
        self._heard = self._worked = self._clock()
        self._worked_wall = time.time()

    def check(self) -> str | None:
        """Why the worker counts as hung now (a phrase for the one-line error), or None while it works."""
        now = self._clock()
        seen = self._read(self.pid) if self.pid is not None else None
        if seen is not None:
            if seen.state in ("T", "t"):  # stopped by a signal, or by a debugger
                self._stopped_since = self._stopped_since if self._stopped_since is not None else now
                if now - self._stopped_since >= STOPPED_GRACE_S:
                    return f"has been stopped (state T in /proc) for {STOPPED_GRACE_S:g} s"
                return None
            self._stopped_since = None
            # D: waiting on the disk (a model's weights paged in from a slow drive, memory swapped out):
            # slow, not hung.
            if seen.cpu_s > self._cpu_s or seen.state == "D":
                self._cpu_s = seen.cpu_s
                self._worked, self._worked_wall = now, time.time()
            elif self._gpu_busy is not None and self._gpu_busy(self.pid or 0, self._worked_wall):
                self._worked, self._worked_wall = now, time.time()
            if now - self._worked >= self.limits.idle_s:
                return f"used no CPU for {self.limits.idle_s:g} s, deadlocked"
        silence = self.limits.silence_s(self.op)
        if silence is not None and now - self._heard >= silence:
            return f"made no progress for {silence:g} s"
        return None
