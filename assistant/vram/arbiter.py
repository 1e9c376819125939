"""The residency manager: carries out the VRAM policy's plans with real worker processes.

It is the single owner of GPU residency. Planning and bookkeeping happen under one lock; loading
and eviction happen outside it, with the slot already reserved, so two acquires never over-commit.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from assistant.config.catalog import Catalog
from assistant.core.errors import AssistantError, OutOfMemory, VramError
from assistant.core.events import Emit, VramChanged, ignore
from assistant.core.models import ModelSpec
from assistant.engines.files import resolve
from assistant.engines.registry import engine_info, takes_local_vram
from assistant.hosts.host import ModelHost
from assistant.hosts.inloop import InLoopModel
from assistant.hosts.progress import WorkerLimits
from assistant.hosts.worker import Worker
from assistant.vram.accounting import budget_gb, remeasure, wait_returned
from assistant.vram.footprints import Footprints
from assistant.vram.meter import Meter, SimulatedMeter
from assistant.vram.policy import PRIORITY, Plan, Request, Slot, Victim, eviction_order, plan_acquire
from assistant.vram.residency import ModelStats, Resident, describe
from assistant.vram.snapshot import VramSnapshot

log = logging.getLogger(__name__)

PASS_NAMES = {0: "stale", 1: "same or lower priority", 2: "higher priority, last resort"}


class Arbiter:
    def __init__(
        self,
        catalog: Catalog,
        meter: Meter,
        models_dir: Path,
        footprints: Footprints,
        reserve_gb: float = 0.5,
        wait_timeout_s: float = 60.0,
        emit: Emit = ignore,
        limits: WorkerLimits | None = None,
    ) -> None:
        self.catalog = catalog
        self.meter = meter
        self.models_dir = models_dir
        self.footprints = footprints
        self.reserve_gb = reserve_gb
        self.wait_timeout_s = wait_timeout_s
        self.emit = emit
        self.limits = limits  # when a worker with a request outstanding counts as hung
        self.events: deque[VramChanged] = deque(maxlen=200)
        self.stats: dict[str, ModelStats] = {}
        self._residents: dict[str, Resident] = {}
        self._active: dict[str, str] = {}
        self._lock = asyncio.Lock()
        self._changed = asyncio.Condition(self._lock)
        self._ttl_task: asyncio.Task[None] | None = None
        self._forgetting: set[asyncio.Task[None]] = set()
        self._workers: set[ModelHost] = set()  # every worker started and not yet stopped
        self._closed = False

    # ------------------------------------------------------------ public API

    @asynccontextmanager
    async def use(self, model_id: str) -> AsyncIterator[ModelHost]:
        """Hold a lease on a loaded model for the duration of the block."""
        resident = await self.acquire(model_id)
        assert resident is not None  # with evict=True, acquire loads or raises
        try:
            assert resident.worker is not None
            yield resident.worker
        finally:
            await self.release(resident)

    def resident(self, model_id: str) -> bool:
        """Whether the model is loaded and ready now; takes no lease (a guess uses only what is already in)."""
        resident = self._residents.get(model_id)
        return resident is not None and resident.ready and resident.worker is not None and resident.worker.alive

    async def ensure(self, model_id: str, evict: bool = True) -> bool:
        """Make a model resident without holding it. With evict=False, only if it fits as things are:
        nothing is evicted and nothing waited for. Returns whether the model is resident."""
        resident = await self.acquire(model_id, evict=evict)
        if resident is None:
            return False
        await self.release(resident)
        return True

    async def acquire(self, model_id: str, evict: bool = True) -> Resident | None:
        """A lease on the model, loading it first if needed. None only when evict=False and it does not fit."""
        spec = self.catalog.get(model_id)
        deadline = time.monotonic() + self.wait_timeout_s
        while True:
            async with self._lock:
                if self._closed:
                    raise AssistantError("the daemon is shutting down", code="shutting_down")
                resident = self._residents.get(model_id)
                if resident is not None and resident.worker is not None and resident.loaded.is_set():
                    if resident.ready and resident.worker.alive:
                        resident.leases += 1
                        resident.last_used = time.monotonic()
                        self._active[spec.kind] = model_id
                        return resident
                    self._forget(resident, "worker gone")
                    self._gone(resident.worker)
                    resident = None
                if resident is None:
                    plan = self._plan(spec)
                    if not evict and (plan.action != "load" or plan.evict):
                        return None
                    if plan.action == "blocked":
                        remaining = deadline - time.monotonic()
                        if remaining <= 0:
                            raise VramError(plan.reason)
                        try:
                            await asyncio.wait_for(self._changed.wait(), remaining)
                        except asyncio.TimeoutError:
                            raise VramError(plan.reason) from None
                        continue
                    resident = self._reserve(spec, plan)
                    victims = self._take_victims(plan.evict, spec)
                    loader = True
                else:
                    loader = False  # someone else is loading it: wait below, outside the lock
            if loader:
                await self._load(resident, victims)
            else:
                await resident.loaded.wait()
            if resident.error is not None and not loader:
                continue  # the other loader failed; plan again (and surface our own error)
            if resident.error is not None:
                raise resident.error
            if loader:
                return resident
            # Another task loaded it for us: loop to take a lease under the lock.

    async def release(self, resident: Resident) -> None:
        async with self._lock:
            resident.leases = max(0, resident.leases - 1)
            remeasure(self.meter, self.footprints, resident)
            resident.last_used = time.monotonic()
            self.stats.setdefault(resident.spec.id, ModelStats()).last_used = time.time()
            self._changed.notify_all()

    async def unload(self, model_id: str, reason: str = "requested") -> bool:
        async with self._lock:
            resident = self._residents.get(model_id)
            if resident is None or resident.leases > 0 or not resident.loaded.is_set():
                return False
            self._forget(resident, reason)
        await self._stop(resident)
        return True

    async def shutdown(self) -> None:
        if self._ttl_task is not None:
            self._ttl_task.cancel()
        async with self._lock:
            self._closed = True
            residents = list(self._residents.values())
            self._residents.clear()
        await asyncio.gather(*(self._stop(r) for r in residents), return_exceptions=True)
        for worker in list(self._workers):  # loading when the shutdown came, or orphaned by a crash path
            await worker.stop(timeout=1.0)
        self._workers.clear()

    def kill_all(self) -> None:
        """Last resort at shutdown: SIGKILL every worker, loading ones included."""
        for worker in list(self._workers):
            worker.kill()

    def budget_gb(self) -> float:
        """The card's total, less the reserve, less what processes other than our workers hold."""
        return budget_gb(self.meter, self.reserve_gb, self._workers, self._residents.values())

    def start_idle_ttl(self) -> None:
        if any(m.idle_ttl_s for m in self.catalog.models.values()):
            self._ttl_task = asyncio.get_running_loop().create_task(self._idle_ttl_loop())

    # ------------------------------------------------------------ planning

    def _slots(self) -> list[Slot]:
        return [
            Slot(r.spec.id, r.spec.kind, r.gb, self._priority(r.spec), r.leases > 0 or not r.loaded.is_set(), r.last_used)
            for r in self._residents.values()
            if r.on_gpu
        ]

    def _priority(self, spec: ModelSpec) -> int:
        return spec.priority if spec.priority is not None else PRIORITY[spec.kind]

    def _footprint(self, spec: ModelSpec) -> float:
        measured = self.footprints.get(spec.id)
        return measured if measured is not None else spec.vram_gb

    def _request(self, spec: ModelSpec) -> Request:
        return Request(spec.id, spec.kind, self._footprint(spec), self._priority(spec))

    def _plan(self, spec: ModelSpec) -> Plan:
        if spec.device == "cpu" or not takes_local_vram(spec):
            # Nothing goes on this GPU (a remote server's model, say): it never evicts or waits for anything.
            return Plan("load")
        return plan_acquire(self.budget_gb(), self._slots(), self._active, self._request(spec))

    def _reserve(self, spec: ModelSpec, plan: Plan) -> Resident:
        on_gpu = spec.device != "cpu" and plan.action != "too_large" and takes_local_vram(spec)
        if plan.action == "too_large" and spec.fallback != "cpu":
            raise VramError(plan.reason)
        if plan.action == "too_large":
            self._event("fallback", spec.id, reason=f"{plan.reason}; loading on cpu")
        resident = Resident(spec=spec, gb=self._footprint(spec) if on_gpu else 0.0, on_gpu=on_gpu, leases=1)
        resident.last_used = time.monotonic()
        self._residents[spec.id] = resident
        return resident

    def _take_victims(self, victims: tuple[Victim, ...], requester: ModelSpec) -> list[Resident]:
        taken = []
        for victim in victims:
            resident = self._residents[victim.id]
            self._forget(resident, f"evicted for {requester.id} (pass {victim.pass_no}: {PASS_NAMES[victim.pass_no]})")
            taken.append(resident)
        return taken

    def _forget(self, resident: Resident, reason: str) -> None:
        if self._residents.get(resident.spec.id) is resident:
            del self._residents[resident.spec.id]
            self._event("evict" if reason.startswith("evicted") else "unload", resident.spec.id, reason=reason)
            self._changed.notify_all()

    # ------------------------------------------------------------ loading

    async def _load(self, resident: Resident, victims: list[Resident]) -> None:
        """Evict the victims, then load. Any failure or cancel frees the reserved slot for others."""
        spec = resident.spec
        try:
            await self._stop_all(victims)
            try:
                await self._start_worker(resident, "cuda" if resident.on_gpu else "cpu")
            except OutOfMemory as oom:
                await self._after_oom(resident, oom)
        except BaseException as exc:
            resident.error = exc if isinstance(exc, Exception) else AssistantError("the load was cancelled")
            async with self._lock:
                if self._residents.get(spec.id) is resident:
                    del self._residents[spec.id]
                self._changed.notify_all()
            self._event("load_failed", spec.id, reason=str(resident.error))
            resident.loaded.set()
            raise
        # Only a model that loaded becomes its kind's active one: a failed switch leaves the old one current.
        self._active[spec.kind] = spec.id
        resident.loaded.set()

    async def _after_oom(self, resident: Resident, oom: OutOfMemory) -> None:
        """Evict one more model along the same plan order and retry once; then fall back to cpu."""
        spec = resident.spec
        self._event("oom", spec.id, reason=oom.message)
        async with self._lock:
            order = eviction_order(self._slots(), self._active, self._request(spec))
            victims = self._take_victims(tuple(order[:1]), spec)
        if victims:
            await self._stop_all(victims)
            try:
                await self._start_worker(resident, "cuda")
                return
            except OutOfMemory as again:
                oom = again
        if spec.fallback != "cpu":
            raise oom
        self._event("fallback", spec.id, reason="out of GPU memory; loading on cpu")
        async with self._lock:
            resident.on_gpu = False
            resident.gb = 0.0
        await self._start_worker(resident, "cpu")

    async def _start_worker(self, resident: Resident, device: str) -> None:
        spec = resident.spec
        files = await asyncio.to_thread(resolve, spec, self.models_dir)
        requested = spec.device if spec.device != "auto" and device == "cuda" else device
        if isinstance(self.meter, SimulatedMeter) and requested != "cpu":
            requested = "auto"  # the simulated card is not a real one: the engine picks what it has
        worker: ModelHost
        if engine_info(spec).in_loop:
            worker = InLoopModel(spec, files, requested)
        else:
            worker = Worker(spec, files, requested, limits=self.limits, on_exit=self._on_worker_exit)
        self._workers.add(worker)
        try:
            await worker.start()
        except BaseException:
            self._workers.discard(worker)
            raise
        stats = self.stats.setdefault(spec.id, ModelStats())
        stats.load_count += 1
        stats.load_seconds += worker.load_seconds
        if resident.on_gpu and worker.pid is not None:
            try:
                self.meter.attach(worker.pid, spec.id, resident.gb)
            except OutOfMemory:
                await worker.stop()
                raise
            measured = self.meter.process_gb(worker.pid)
            if measured is not None:
                self.footprints.record(spec.id, measured)
                resident.gb = measured
        resident.worker = worker
        self._event("load", spec.id, reason=f"on {worker.device} in {worker.load_seconds:.2f} s")

    def _on_worker_exit(self, worker: Worker) -> None:
        """A worker died on its own (crash, OOM kill): forget it so the next use starts a fresh one."""
        self._gone(worker)
        self._event("crash", worker.spec.id, reason=worker.exit_reason or "exited")

        async def forget() -> None:
            async with self._lock:
                resident = self._residents.get(worker.spec.id)
                if resident is not None and resident.worker is worker:
                    del self._residents[worker.spec.id]
                    self._changed.notify_all()

        task = asyncio.get_running_loop().create_task(forget())
        self._forgetting.add(task)  # held: the loop keeps only a weak reference to a task
        task.add_done_callback(self._forgetting.discard)

    def _gone(self, worker: ModelHost | None) -> None:
        """A worker process is over: its memory is no longer ours to count."""
        if worker is None:
            return
        self._workers.discard(worker)
        if worker.pid is not None:
            self.meter.detach(worker.pid)

    async def _stop_all(self, residents: list[Resident]) -> None:
        await asyncio.gather(*(self._stop(r) for r in residents))

    async def _stop(self, resident: Resident) -> None:
        worker = resident.worker
        if worker is None:
            return
        pid = worker.pid
        await worker.stop()
        self._workers.discard(worker)
        if pid is not None:
            self.meter.detach(pid)
            await wait_returned(self.meter, pid, resident.spec.id)
            async with self._lock:
                self._changed.notify_all()  # the memory is back: wake acquires waiting for room

    async def _idle_ttl_loop(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            now = time.monotonic()
            for resident in list(self._residents.values()):
                ttl = resident.spec.idle_ttl_s
                if ttl and resident.leases == 0 and resident.ready and now - resident.last_used > ttl:
                    await self.unload(resident.spec.id, reason=f"idle for {ttl:.0f} s")

    # ------------------------------------------------------------ observability

    def reconfigure(self, catalog: Catalog, limits: WorkerLimits) -> None:
        """A reloaded config: the catalog for the next requests, and the hang deadlines for every worker
        from now on, the running ones included."""
        self.catalog = catalog
        self.limits = limits
        for worker in self.workers:
            worker.limits = limits

    @property
    def workers(self) -> frozenset[Worker]:
        """Every worker process started and not yet stopped (the watchdog reads when each last spoke).

        In-loop engines are left out: they have no process to hang, and their own timeouts end a stall."""
        return frozenset(w for w in self._workers if isinstance(w, Worker))

    def _event(self, kind: str, model_id: str, reason: str = "") -> None:
        event = VramChanged(time.time(), kind, model_id, reason)
        self.events.append(event)
        log.info("vram %s %s: %s", kind, model_id, reason)
        self.emit(event)

    def snapshot(self) -> VramSnapshot:
        mem = self.meter.memory()
        models = tuple(
            describe(spec, self._residents.get(spec.id), self.stats.get(spec.id, ModelStats()), self._active,
                     self.footprints.get(spec.id))
            for spec in self.catalog.models.values()
        )
        return VramSnapshot(
            meter=self.meter.name,
            total_gb=mem.total_gb,
            used_gb=mem.used_gb,
            free_gb=mem.free_gb,
            reserve_gb=self.reserve_gb,
            budget_gb=self.budget_gb(),
            models=models,
            events=tuple(self.events)[-20:],
        )
