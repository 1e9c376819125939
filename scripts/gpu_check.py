#!/usr/bin/env python3
"""On a machine with an NVIDIA GPU: load and unload each engine on CUDA, read NVML, check memory comes back.

    scripts/gpu_check.sh [--out gpu_check.json]

For each engine whose model and library are here it starts a worker on cuda, runs one inference,
reads the worker's memory from NVML per PID (and the card's used memory), stops the worker and
waits until NVML shows the memory returned. Then the same through the arbiter, which records the
measured footprint. Engines that cannot run here are listed with the reason. Prints a table, writes JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assistant.arbiter import Arbiter  # noqa: E402
from assistant.catalog import Catalog, ModelSpec, Source  # noqa: E402
from assistant.config import Config  # noqa: E402
from assistant.errors import AssistantError  # noqa: E402
from assistant.footprints import Footprints  # noqa: E402
from assistant.gpu import NvmlMeter  # noqa: E402
from assistant.model_files import problem, resolve  # noqa: E402
from assistant.workers import Worker  # noqa: E402


def coqui_spec(directory: Path) -> tuple[ModelSpec | None, str]:
    """A small random VITS built with Coqui's own classes (no Coqui model can be fetched offline)."""
    try:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
        from coqui_model import build_vits

        built = build_vits(directory)
    except Exception as exc:  # the extra may be absent: report it, check the rest
        import traceback

        traceback.print_exc()
        return None, f"Coqui TTS not usable here: {exc!r}".splitlines()[0]
    spec = ModelSpec(
        id="coqui-vits-check", kind="tts", engine="coqui", vram_gb=0.5,
        source=Source(path=str(built.path), config_path=str(built.config_path)), device="cuda",
    )
    return spec, ""


async def exercise(worker: Worker) -> None:
    """One inference, so the engine allocates what it really uses."""
    kind = worker.spec.kind
    if kind == "asr":
        await worker.request("transcribe", audio=np.zeros(16000, dtype=np.float32))
    elif kind == "llm":
        async for _ in worker.stream("chat", messages=[{"role": "user", "content": "Hi"}], max_tokens=8):
            pass
    else:
        async for _ in worker.stream("synthesize", text="Hello from the GPU check."):
            pass


async def wait_returned(meter: NvmlMeter, pid: int, timeout: float = 15.0) -> float | None:
    started = time.perf_counter()
    while meter.process_gb(pid):
        if time.perf_counter() - started > timeout:
            return None
        await asyncio.sleep(0.02)
    return time.perf_counter() - started


async def check_worker(meter: NvmlMeter, spec: ModelSpec, models_dir: Path) -> dict[str, Any]:
    row: dict[str, Any] = {"engine": spec.engine, "model": spec.id}
    issue = problem(spec, models_dir) if spec.engine != "coqui" else None
    if issue:
        return {**row, "status": f"skipped: {issue}"}
    before = meter.memory().used_gb
    worker = Worker(spec, resolve(spec, models_dir), "cuda")
    try:
        await worker.start()
    except AssistantError as exc:
        return {**row, "status": f"load failed: {exc.message}"}
    assert worker.pid is not None
    pid = worker.pid
    try:
        await exercise(worker)
    except AssistantError as exc:
        row["inference_error"] = exc.message
    loaded_pid_gb = meter.process_gb(pid)
    loaded_used_gb = meter.memory().used_gb
    await worker.stop()
    returned_s = await wait_returned(meter, pid)
    await asyncio.sleep(0.2)
    after = meter.memory().used_gb
    return {
        **row,
        "status": "ok" if worker.device == "cuda" else f"ran on {worker.device} (no CUDA build of this engine here)",
        "device": worker.device,
        "load_s": round(worker.load_seconds, 2),
        "pid_gb": round(loaded_pid_gb, 3) if loaded_pid_gb is not None else None,
        "card_delta_gb": round(loaded_used_gb - before, 3),
        "returned": returned_s is not None and after - before < 0.05,
        "returned_s": round(returned_s, 3) if returned_s is not None else None,
        "leftover_gb": round(after - before, 3),
    }


async def check_arbiter(meter: NvmlMeter, spec: ModelSpec, models_dir: Path, state: Path) -> dict[str, Any]:
    catalog = Catalog({spec.id: spec}, {"asr": spec.id, "llm": spec.id, "tts": spec.id})
    arbiter = Arbiter(catalog, meter, models_dir, Footprints(state / "footprints.json"), reserve_gb=0.5)
    budget = arbiter.budget_gb()
    try:
        await arbiter.ensure(spec.id)
        snap = next(m for m in arbiter.snapshot()["models"] if m["id"] == spec.id)
        pid = snap["pid"]
        unloaded = await arbiter.unload(spec.id)
        return {
            "engine": f"arbiter/{spec.engine}", "model": spec.id, "status": "ok", "device": snap["device"],
            "budget_gb": round(budget, 2), "declared_gb": snap["declared_gb"], "measured_gb": snap["measured_gb"],
            "returned": unloaded and not meter.process_gb(pid),
        }
    except AssistantError as exc:
        return {"engine": f"arbiter/{spec.engine}", "model": spec.id, "status": f"failed: {exc.message}"}
    finally:
        await arbiter.shutdown()


async def main(out: Path) -> int:
    try:
        meter = NvmlMeter()
    except Exception as exc:  # no driver, no GPU, no pynvml
        print(f"no NVIDIA GPU through NVML: {exc}")
        return 1
    mem = meter.memory()
    print(f"GPU: {meter.device_name}, {mem.total_gb:.1f} GB total, {mem.used_gb:.2f} GB used before the check")
    config = Config.load()
    specs = [config.catalog.default(kind) for kind in ("asr", "llm", "tts")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        coqui, why = coqui_spec(Path(tmp) / "vits")
        for spec in specs:
            rows.append(await check_worker(meter, ModelSpec(**{**spec.__dict__, "device": "cuda"}), config.paths.models_dir))
        if coqui is not None:
            rows.append(await check_worker(meter, coqui, config.paths.models_dir))
            rows.append(await check_arbiter(meter, coqui, config.paths.models_dir, Path(tmp)))
        else:
            rows.append({"engine": "coqui", "model": "-", "status": f"skipped: {why}"})
    cols = ["engine", "model", "device", "load_s", "pid_gb", "card_delta_gb", "returned", "returned_s", "measured_gb"]
    print("  ".join(f"{c:<14}" for c in cols))
    for row in rows:
        print("  ".join(f"{str(row.get(c, '-')):<14}" for c in cols) + f"  {row['status']}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"gpu": meter.device_name, "total_gb": mem.total_gb, "rows": rows}, indent=2))
    print(f"wrote {out}")
    ok = [r for r in rows if r.get("device") == "cuda"]
    return 0 if ok and all(r.get("returned") for r in ok) else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("bench-results/gpu_check.json"))
    sys.exit(asyncio.run(main(parser.parse_args().out)))
