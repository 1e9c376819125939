"""The GPU memory meter: NVML where there is a GPU, or a simulated card with a declared total."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from assistant.core.errors import ConfigError, OutOfMemory

log = logging.getLogger(__name__)
GIB = 1024**3


@dataclass(frozen=True)
class GpuMemory:
    total_gb: float
    used_gb: float
    free_gb: float


class Meter(Protocol):
    name: str

    def memory(self) -> GpuMemory: ...

    def process_gb(self, pid: int) -> float | None:
        """GPU memory a process holds, None when it holds none (or is not listed)."""
        ...

    def attach(self, pid: int, model_id: str, declared_gb: float) -> None:
        """Called after a worker loaded on the GPU; a simulated card may answer with OutOfMemory."""
        ...

    def detach(self, pid: int) -> None: ...


class NvmlMeter:
    """Memory truth from NVML (the pynvml module of nvidia-ml-py)."""

    name = "nvml"

    def __init__(self, index: int = 0, nvml: Any = None) -> None:
        if nvml is None:
            import pynvml

            nvml = pynvml
        self._nvml = nvml
        nvml.nvmlInit()
        self._handle = nvml.nvmlDeviceGetHandleByIndex(index)
        raw = nvml.nvmlDeviceGetName(self._handle)
        self.device_name = raw.decode() if isinstance(raw, bytes) else str(raw)

    def memory(self) -> GpuMemory:
        info = self._nvml.nvmlDeviceGetMemoryInfo(self._handle)
        return GpuMemory(info.total / GIB, info.used / GIB, info.free / GIB)

    def _processes(self) -> dict[int, float]:
        usage: dict[int, float] = {}
        for getter in ("nvmlDeviceGetComputeRunningProcesses", "nvmlDeviceGetGraphicsRunningProcesses"):
            try:
                procs = getattr(self._nvml, getter)(self._handle)
            except Exception:  # NVMLError_NotSupported on some drivers and vGPUs
                continue
            for proc in procs:
                # usedGpuMemory is None where the driver withholds it (Windows WDDM, some containers).
                used = proc.usedGpuMemory or 0
                usage[int(proc.pid)] = usage.get(int(proc.pid), 0.0) + used / GIB
        return usage

    def process_gb(self, pid: int) -> float | None:
        return self._processes().get(pid)

    def attach(self, pid: int, model_id: str, declared_gb: float) -> None:
        pass  # the real card already knows

    def detach(self, pid: int) -> None:
        pass

    def close(self) -> None:
        try:
            self._nvml.nvmlShutdown()
        except Exception:
            pass


@dataclass
class SimulatedMeter:
    """A GPU that does not exist: a declared total, and the footprints of the workers placed on it.

    Lets the daemon and tests run the real policy and real worker processes on a CPU as if on a
    16 GB card. `true_gb` gives a model's real footprint where it differs from the catalog
    estimate, as real models do; a load that overflows the card then fails as on a GPU.
    """

    total_gb: float = 16.0
    other_gb: float = 0.0
    true_gb: Mapping[str, float] = field(default_factory=dict)
    name: str = "simulated"
    _placed: dict[int, float] = field(default_factory=dict)

    def memory(self) -> GpuMemory:
        used = self.other_gb + sum(self._placed.values())
        return GpuMemory(self.total_gb, used, max(0.0, self.total_gb - used))

    def process_gb(self, pid: int) -> float | None:
        return self._placed.get(pid)

    def attach(self, pid: int, model_id: str, declared_gb: float) -> None:
        gb = self.true_gb.get(model_id, declared_gb)
        if self.memory().free_gb + 1e-9 < gb:
            raise OutOfMemory(f"{model_id}: out of GPU memory while loading ({gb:.1f} GB needed)")
        self._placed[pid] = gb

    def detach(self, pid: int) -> None:
        self._placed.pop(pid, None)


def open_meter(kind: str, simulated_gb: float) -> Meter:
    """kind is auto | nvml | simulated; auto takes NVML when a GPU answers, else the simulated card."""
    if kind in ("auto", "nvml"):
        try:
            return NvmlMeter()
        except Exception as exc:  # ImportError, NVMLError_LibraryNotFound, NVMLError_DriverNotLoaded...
            if kind == "nvml":
                raise ConfigError(
                    f"[gpu] meter = \"nvml\" but NVML does not answer ({exc}); install the NVIDIA driver"
                    " or set meter = \"auto\""
                ) from None
            log.info("no NVIDIA GPU answered (%s); using a simulated %.0f GB GPU", exc, simulated_gb)
    return SimulatedMeter(total_gb=simulated_gb)
