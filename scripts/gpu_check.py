#!/usr/bin/env python3
"""The arbiter on a real NVIDIA card with real CUDA engines: footprints against the catalog, swaps, leaks.

    scripts/gpu_check.sh                       (sets up the device, then runs this)
    python scripts/gpu_check.py --tiny         (a smoke run on a CPU: tiny models, a simulated card)

1. Footprints: Qwen3-4B and Qwen3-8B GGUFs of real shape (scripts/gguf_random.py) and a Coqui XTTS of real
   shape, each loaded alone through our Worker (llama.cpp with n_gpu_layers=-1, at the catalog entry's
   n_ctx), one generation, then NVML's per-process memory against the entry's vram_gb.
2. Turns: the real Arbiter with the NVML meter seen as a 16 GB desktop card (a desktop share of the card
   counted as used), over scripted turns that alternate the two LLMs and use the TTS, with Piper and whisper
   on the CPU where they are installed. Reports the MB left on the card after each unload, the swap time
   against a bare load of the same model, OOMs and how the arbiter recovered.
3. faster-whisper on CUDA: only with a CTranslate2 built for this CUDA; otherwise "skipped: reason".
4. With each footprint, the worker's CPU seconds per wall second during a 256-token generation on the
   GPU (`cpu_s_per_s_while_busy`): near 1 means the CUDA driver spins while it waits and the liveness
   check's CPU time sees a working worker; near 0 means only NVML's utilisation does.

Prints one table last and writes the JSON to --out. Without an NVIDIA GPU it says so and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from assistant.config.catalog import Catalog, load_catalog
from assistant.core.errors import AssistantError  # noqa: E402
from assistant.core.models import ModelSpec, Source  # noqa: E402
from assistant.engines.files import problem, resolve  # noqa: E402
from assistant.hosts.progress import sample  # noqa: E402
from assistant.hosts.worker import Worker  # noqa: E402
from assistant.vram.arbiter import Arbiter  # noqa: E402
from assistant.vram.footprints import Footprints  # noqa: E402
from assistant.vram.meter import GpuMemory, Meter, NvmlMeter, SimulatedMeter  # noqa: E402

GB = 1e9


class DesktopCard:
    """The real card through NVML, seen as a desktop's card: `total_gb` in all, of which `desktop_gb` is
    taken by the desktop (compositor, browser). What was used before the check started is left out."""

    def __init__(self, meter: NvmlMeter, total_gb: float, desktop_gb: float) -> None:
        self.meter, self.total_gb, self.desktop_gb = meter, total_gb, desktop_gb
        self.baseline_gb = meter.memory().used_gb
        self.peak_gb = 0.0
        self.name = f"{meter.name} seen as a {total_gb:.0f} GB desktop card"

    def memory(self) -> GpuMemory:
        used = self.meter.memory().used_gb - self.baseline_gb + self.desktop_gb
        self.peak_gb = max(self.peak_gb, used)
        return GpuMemory(self.total_gb, used, max(0.0, self.total_gb - used))

    def process_gb(self, pid: int) -> float | None:
        return self.meter.process_gb(pid)

    def attach(self, pid: int, model_id: str, declared_gb: float) -> None:
        self.meter.attach(pid, model_id, declared_gb)

    def detach(self, pid: int) -> None:
        self.meter.detach(pid)


def catalog_entry(model_id: str) -> ModelSpec | None:
    catalog = load_catalog([HERE.parent / "models.toml"])
    return catalog.models.get(model_id)


def llm_specs(work: Path, tiny: bool, device: str) -> tuple[list[ModelSpec], list[dict[str, Any]]]:
    """The two LLM entries of models.toml with their files replaced by random-weight GGUFs of their shape."""
    from gguf_random import SHAPES, write

    specs, rows = [], []
    for model_id in ("qwen3-4b", "qwen3-8b"):
        entry = catalog_entry(model_id)
        assert entry is not None, f"{model_id} is not in models.toml"
        path = work / f"{model_id}.gguf"
        started = time.perf_counter()
        size = write("tiny" if tiny else model_id, path)
        published = SHAPES[model_id].published_gb
        rows.append({"part": "gguf", "model": model_id, "file_gb": round(size / GB, 3), "published_gb": published,
                     "write_s": round(time.perf_counter() - started, 1), "status": "ok"})
        options = entry.options.model_copy(update={"n_ctx": 1024}) if tiny else entry.options
        specs.append(replace(entry, source=Source(path=str(path)), device=device, fallback=None, options=options))  # type: ignore[arg-type]
    return specs, rows


def xtts_spec(work: Path, tiny: bool, device: str) -> tuple[ModelSpec | None, str]:
    entry = catalog_entry("xtts-v2")
    try:
        from tests.coqui_model import build_xtts  # the repository root is on sys.path

        built = build_xtts(work / "xtts", speakers=("Claribel Dervla",), max_audio_tokens=40 if tiny else 605,
                           real_shape=not tiny)
    except Exception as exc:  # coqui-tts (with transformers, librosa, ...) may not be installed here
        return None, f"skipped: Coqui TTS is not usable here ({exc!r})".splitlines()[0]
    assert entry is not None
    source = Source(path=str(built.path), config_path=str(built.config_path))
    return replace(entry, source=source, device=device, fallback=None), ""  # type: ignore[arg-type]


def cpu_specs() -> list[ModelSpec]:
    """Piper and whisper on the CPU, as a desktop runs them beside a GPU LLM, where their packages are here."""
    specs = []
    for model_id in ("whisper-tiny-en", "piper-joe"):
        entry = catalog_entry(model_id)
        if entry is not None and problem(entry, Path(tempfile.gettempdir())) is None:
            specs.append(replace(entry, device="cpu"))
    return specs


async def exercise(worker: Worker, tokens: int = 8) -> None:
    """One inference, so the engine allocates what it really uses."""
    kind = worker.spec.kind
    if kind == "asr":
        await worker.request("transcribe", audio=np.zeros(16000, dtype=np.float32))
    elif kind == "llm":
        async for _ in worker.stream("chat", messages=[{"role": "user", "content": "Hi"}], max_tokens=tokens):
            pass
    else:
        async for _ in worker.stream("synthesize", text="Hello from the GPU check."):
            pass


async def gone(meter: Meter, pid: int, timeout: float = 15.0) -> float | None:
    started = time.perf_counter()
    while meter.process_gb(pid):
        if time.perf_counter() - started > timeout:
            return None
        await asyncio.sleep(0.02)
    return time.perf_counter() - started


async def footprint(meter: Meter, spec: ModelSpec, work: Path) -> dict[str, Any]:
    """Load alone, generate once, read NVML for the worker's PID, compare with the catalog."""
    row: dict[str, Any] = {"part": "footprint", "model": spec.id, "declared_gb": spec.vram_gb}
    before = meter.memory().used_gb
    worker = Worker(spec, resolve(spec, work), spec.device if spec.device != "auto" else "cuda")
    try:
        await worker.start()
        await exercise(worker)
        # Liveness judges a worker by its CPU time (hosts/progress.py): does it advance while the GPU
        # computes, or does the process look idle? CPU seconds per wall second over a longer generation.
        assert worker.pid is not None
        first, t0 = sample(worker.pid), time.monotonic()
        await exercise(worker, tokens=256)
        last, t1 = sample(worker.pid), time.monotonic()
        if first is not None and last is not None and t1 > t0:
            row["cpu_s_per_s_while_busy"] = round((last.cpu_s - first.cpu_s) / (t1 - t0), 2)
    except AssistantError as exc:
        await worker.stop()
        return {**row, "status": f"failed: {exc.message}"}
    assert worker.pid is not None
    measured = meter.process_gb(worker.pid)
    await worker.stop()
    returned_s = await gone(meter, worker.pid)
    await asyncio.sleep(0.3)
    left_mb = (meter.memory().used_gb - before) * 1000
    error = (spec.vram_gb - measured) / measured * 100 if measured else None
    return {
        **row, "status": "ok" if worker.device == "cuda" else f"ran on {worker.device}", "device": worker.device,
        "bare_load_s": round(worker.load_seconds, 2), "measured_gb": round(measured, 3) if measured else None,
        "estimate_error_pct": round(error, 1) if error is not None else None,
        "within_10pct": error is not None and abs(error) <= 10, "returned_s": returned_s,
        "left_mb": round(left_mb, 1),
    }


def whisper_cuda() -> dict[str, Any]:
    row: dict[str, Any] = {"part": "asr-cuda", "model": "faster-whisper"}
    try:
        import ctranslate2

        count = ctranslate2.get_cuda_device_count()
    except Exception as exc:  # not installed, or built without CUDA, or for another CUDA
        return {**row, "status": f"skipped: no CTranslate2 for this CUDA can be carried ({exc!r})".splitlines()[0]}
    if count == 0:
        return {**row, "status": "skipped: CTranslate2 here sees no CUDA device (its wheels are built for CUDA 12)"}
    return {**row, "status": "available: add whisper-large-v3-turbo on cuda to the turns"}


async def turns(meter: Meter, specs: list[ModelSpec], work: Path, count: int, deadline: float,
                bare: dict[str, float]) -> dict[str, Any]:
    """Scripted turns through the real arbiter: ASR (if any), one of the two LLMs in turn, then the TTS."""
    llms = [s for s in specs if s.kind == "llm"]
    asr = next((s.id for s in specs if s.kind == "asr"), None)
    tts = [s.id for s in specs if s.kind == "tts"]
    events: list[dict[str, Any]] = []
    catalog = Catalog({s.id: s for s in specs}, {"asr": asr or llms[0].id, "llm": llms[0].id, "tts": tts[0] if tts else llms[0].id})
    arbiter = Arbiter(catalog, meter, work, Footprints(None), reserve_gb=0.5, wait_timeout_s=120, emit=lambda e: events.append(e.data()))
    unloads: list[dict[str, Any]] = []
    swaps: list[dict[str, Any]] = []
    done = 0
    try:
        for turn in range(count):
            if time.monotonic() > deadline:
                break
            if asr:
                async with arbiter.use(asr) as worker:
                    await exercise(worker)
            llm = llms[turn % 2].id
            seen = len(events)
            started = time.perf_counter()
            async with arbiter.use(llm) as worker:
                acquire_s = time.perf_counter() - started
                await exercise(worker)
            if any(e["event"] == "load" and e["model"] == llm for e in events[seen:]):
                swaps.append({"turn": turn, "model": llm, "swap_s": round(acquire_s, 2),
                              "bare_load_s": bare.get(llm), "evicted": [e["model"] for e in events[seen:] if e["event"] == "evict"]})
            for tts_id in tts:
                async with arbiter.use(tts_id) as worker:
                    if turn % 10 == 0:  # a random XTTS never says stop: synthesize now and then, load every turn
                        await exercise(worker)
            done += 1
            for event in events[seen:]:
                if event["event"] in ("evict", "unload"):
                    unloads.append({"turn": turn, "model": event["model"], "left_mb": round(leftover_gb(meter, arbiter) * 1000, 1)})
    except AssistantError as exc:
        events.append({"event": "aborted", "model": "-", "reason": exc.message})
    finally:
        await arbiter.shutdown()
    await asyncio.sleep(1.0)
    final_mb = round(leftover_gb(meter, arbiter) * 1000, 1)
    problems = [e for e in events if e["event"] in ("oom", "fallback", "load_failed", "crash", "aborted")]
    ratios = [s["swap_s"] / s["bare_load_s"] for s in swaps if s.get("bare_load_s")]
    return {
        "part": "turns", "models": [f"{s.id} on {s.device}" for s in specs], "turns_run": done, "turns_asked": count, "swaps": len(swaps), "unloads": len(unloads),
        "max_left_mb": max((u["left_mb"] for u in unloads), default=0.0), "final_left_mb": final_mb,
        "median_swap_over_bare": round(float(np.median(ratios)), 2) if ratios else None,
        "oom_and_recovery": [{"event": e["event"], "model": e["model"], "reason": e.get("reason", "")} for e in problems],
        "peak_card_gb": round(getattr(meter, "peak_gb", 0.0), 2), "unload_rows": unloads, "swap_rows": swaps,
        "status": "ok" if done == count else f"stopped after {done} turns (time budget)",
    }


def leftover_gb(meter: Meter, arbiter: Arbiter) -> float:
    """Card memory in use beyond the desktop share and the workers still alive: what unloads left behind."""
    live = sum(meter.process_gb(w.pid) or 0.0 for w in list(arbiter._workers) if w.pid is not None)  # noqa: SLF001
    desktop = getattr(meter, "desktop_gb", getattr(meter, "other_gb", 0.0))
    return max(0.0, meter.memory().used_gb - desktop - live)


def table(rows: list[dict[str, Any]]) -> str:
    cols = ["part", "model", "declared_gb", "measured_gb", "estimate_error_pct", "bare_load_s", "left_mb", "status"]
    lines = ["  ".join(f"{c:<18}" for c in cols)]
    for row in rows:
        if row["part"] == "turns":
            lines.append(
                f"turns              {row['turns_run']}/{row['turns_asked']} turns, {row['swaps']} swaps "
                f"(median {row['median_swap_over_bare']}x a bare load), {row['unloads']} unloads, max left "
                f"{row['max_left_mb']} MB, left at the end {row['final_left_mb']} MB, peak {row['peak_card_gb']} GB, "
                f"{len(row['oom_and_recovery'])} OOM/fallback events; {row['status']}"
            )
        else:
            lines.append("  ".join(f"{str(row.get(c, '-')):<18}" for c in cols))
    return "\n".join(lines)


async def main(args: argparse.Namespace) -> int:
    started = time.monotonic()
    deadline = started + args.budget_s
    result: dict[str, Any] = {"date": datetime.date.today().isoformat(), "tiny": args.tiny}
    meter: Meter
    if args.tiny:
        # "cuda" so the arbiter plans GPU placements on the simulated card; the engines fall back to the CPU.
        meter, device = SimulatedMeter(total_gb=16.0, other_gb=args.desktop_gb), "cuda"
        result["gpu"] = "simulated 16 GB card (smoke run on a CPU)"
    else:
        try:
            nvml = NvmlMeter()
        except Exception as exc:  # no driver, no GPU, no pynvml
            print(f"skipped: no NVIDIA GPU through NVML ({exc})")
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps({**result, "skipped": f"no NVIDIA GPU through NVML ({exc})"}, indent=2))
            return 0
        mem = nvml.memory()
        result["gpu"] = f"{nvml.device_name}, {mem.total_gb:.1f} GB"
        meter, device = nvml, "cuda"
    print(f"GPU: {result['gpu']}", flush=True)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(dir=args.work) as tmp:
        work = Path(tmp)
        llms, gguf_rows = llm_specs(work, args.tiny, device)
        rows += gguf_rows
        xtts, why = xtts_spec(work, args.tiny, device)
        gpu_specs = [*llms, *([xtts] if xtts else [])]
        for spec in gpu_specs:
            rows.append(await footprint(meter, spec, work))
            print(table(rows[-1:]).splitlines()[-1], flush=True)
        if xtts is None:
            rows.append({"part": "footprint", "model": "xtts-v2", "status": why})
        rows.append(whisper_cuda())
        bare = {r["model"]: r["bare_load_s"] for r in rows if r.get("bare_load_s")}
        card: Meter = meter if args.tiny else DesktopCard(meter, 16.0, args.desktop_gb)  # type: ignore[arg-type]
        rows.append(await turns(card, [*gpu_specs, *cpu_specs()], work, args.turns, deadline - 20, bare))
    result["rows"] = rows
    result["seconds"] = round(time.monotonic() - started, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=str))
    print(f"wrote {args.out}")
    print(table(rows))
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("bench-results/gpu_check.json"))
    parser.add_argument("--turns", type=int, default=100)
    parser.add_argument("--desktop-gb", type=float, default=1.5, help="the desktop's share of the 16 GB card")
    parser.add_argument("--budget-s", type=float, default=420, help="stop the turns in time to print the table")
    parser.add_argument("--work", type=Path, default=None, help="where the GGUFs go (about 8 GB)")
    parser.add_argument("--tiny", action="store_true", help="a smoke run on a CPU with tiny models")
    sys.exit(asyncio.run(main(parser.parse_args())))
