#!/usr/bin/env python3
"""Benchmark the VRAM arbiter.

    .venv/bin/python scripts/bench_arbiter.py [--swaps 5] [--turns 300] [--out bench-results/bench_arbiter.json]

1. Swap overhead: switching between two LLMs through the arbiter (evicting the other one on a simulated
   16 GB card) against the raw worker load time of the same model, measured in the same run.
2. Policy replay: a 16 GB desktop session (turns of ASR → LLM → TTS with occasional LLM switches) on
   the catalog's desktop models, under our policy, plain LRU, and an Ollama-like policy. Load times are
   estimated from size (a fixed start cost plus GB over a read rate).
Prints one table and writes JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assistant.config.catalog import Catalog
from assistant.config.settings import Config  # noqa: E402
from assistant.core.models import ModelSpec  # noqa: E402
from assistant.engines.files import resolve  # noqa: E402
from assistant.hosts.worker import Worker  # noqa: E402
from assistant.vram.arbiter import Arbiter  # noqa: E402
from assistant.vram.footprints import Footprints  # noqa: E402
from assistant.vram.meter import SimulatedMeter  # noqa: E402
from assistant.vram.policy import PRIORITY, Request, Slot, plan_acquire  # noqa: E402

GPU_GB, RESERVE_GB = 16.0, 0.5
LOAD_FIXED_S, LOAD_GB_PER_S = 0.8, 1.5  # process start + CUDA context, then weights from page cache to VRAM
DESKTOP = {"asr": "whisper-large-v3-turbo", "tts": "xtts-v2", "llms": ["qwen3-4b", "qwen3-8b", "gpt-oss-20b"]}


# ---------------------------------------------------------------- 1. swap overhead


async def swap_overhead(config: Config, swaps: int) -> dict[str, Any]:
    base = config.catalog.get("smollm2-135m")
    # Two LLMs that cannot share the card, so every switch is an eviction plus a load.
    first = ModelSpec(**{**base.__dict__, "id": "llm-a", "vram_gb": 9.0})
    second = ModelSpec(**{**base.__dict__, "id": "llm-b", "vram_gb": 9.0})
    catalog = Catalog({**config.catalog.models, "llm-a": first, "llm-b": second}, config.catalog.defaults)
    files = resolve(base, config.paths.models_dir)
    raw, switch = [], []
    arbiter = Arbiter(catalog, SimulatedMeter(GPU_GB), config.paths.models_dir, Footprints(None), RESERVE_GB)
    try:
        await arbiter.ensure("llm-a")
        for i in range(swaps):
            target = second if i % 2 == 0 else first
            started = time.perf_counter()
            worker = Worker(target, files, "auto")
            await worker.start()
            raw.append(time.perf_counter() - started)
            await worker.stop()
            started = time.perf_counter()
            await arbiter.ensure(target.id)
            switch.append(time.perf_counter() - started)
    finally:
        await arbiter.shutdown()
    raw_med, switch_med = statistics.median(raw), statistics.median(switch)
    return {"raw_load_s": raw, "switch_s": switch, "raw_median_s": raw_med, "switch_median_s": switch_med,
            "ratio": switch_med / raw_med}


# ---------------------------------------------------------------- 2. policy replay


@dataclass
class Card:
    """A simulated card under some policy: what is resident, leased, last used."""

    sizes: dict[str, float]
    kinds: dict[str, str]
    resident: dict[str, float] = field(default_factory=dict)  # id -> last used
    leased: set[str] = field(default_factory=set)
    active: dict[str, str] = field(default_factory=dict)
    loads: int = 0
    gb_loaded: float = 0.0
    load_s: float = 0.0
    asr_ready: int = 0
    turns: int = 0

    def used(self) -> float:
        return sum(self.sizes[m] for m in self.resident)

    def load(self, model: str, now: float) -> None:
        self.resident[model] = now
        self.loads += 1
        self.gb_loaded += self.sizes[model]
        self.load_s += LOAD_FIXED_S + self.sizes[model] / LOAD_GB_PER_S


def ours(card: Card, model: str, now: float) -> bool:
    slots = [
        Slot(m, card.kinds[m], card.sizes[m], PRIORITY[card.kinds[m]], m in card.leased, t)
        for m, t in card.resident.items()
    ]
    plan = plan_acquire(GPU_GB - RESERVE_GB, slots, card.active, Request(model, card.kinds[model], card.sizes[model], PRIORITY[card.kinds[model]]))
    if plan.action in ("blocked", "too_large"):
        return False
    for victim in plan.evict:
        del card.resident[victim.id]
    if plan.action == "load":
        card.load(model, now)
    return True


def keep_asr(card: Card, now: float) -> None:
    asr = DESKTOP["asr"]
    if asr not in card.resident and card.used() + card.sizes[asr] <= GPU_GB - RESERVE_GB:
        card.load(asr, now)


def lru(card: Card, model: str, now: float) -> bool:
    if model not in card.resident:
        idle = sorted((t, m) for m, t in card.resident.items() if m not in card.leased)
        while card.used() + card.sizes[model] > GPU_GB - RESERVE_GB and idle:
            del card.resident[idle.pop(0)[1]]
        if card.used() + card.sizes[model] > GPU_GB - RESERVE_GB:
            return False
        card.load(model, now)
    return True


def ollama_like(card: Card, model: str, now: float, keep_alive: float = 300.0) -> bool:
    for m, t in list(card.resident.items()):  # keep-alive expiry
        if m not in card.leased and now - t > keep_alive:
            del card.resident[m]
    if model not in card.resident:
        if card.used() + card.sizes[model] > GPU_GB - RESERVE_GB:
            # Does not fit: unload every idle model, then load.
            for m in [m for m in card.resident if m not in card.leased]:
                del card.resident[m]
        if card.used() + card.sizes[model] > GPU_GB - RESERVE_GB:
            return False
        card.load(model, now)
    return True


def replay(policy: Any, catalog: Catalog, turns: int, seed: int = 11) -> dict[str, Any]:
    models = [DESKTOP["asr"], DESKTOP["tts"], *DESKTOP["llms"]]
    card = Card({m: catalog.get(m).vram_gb for m in models}, {m: catalog.get(m).kind for m in models})
    rng = random.Random(seed)
    llm = DESKTOP["llms"][1]
    now = 0.0

    def acquire(model: str, lease: bool) -> bool:
        card.active[card.kinds[model]] = model
        ok = bool(policy(card, model, now))
        if ok:
            card.resident[model] = now
            if lease:
                card.leased.add(model)
        return ok

    for _ in range(turns):
        now += rng.uniform(5, 120)  # a user asks every few seconds to two minutes
        if rng.random() < 0.1:
            llm = rng.choice([m for m in DESKTOP["llms"] if m != llm])
        card.turns += 1
        card.asr_ready += DESKTOP["asr"] in card.resident
        acquire(DESKTOP["asr"], lease=False)
        now += 2
        acquire(llm, lease=True)
        # TTS streams while the LLM still writes; if both cannot fit, it waits for the LLM to finish.
        if not acquire(DESKTOP["tts"], lease=True):
            card.leased.discard(llm)
            card.resident[llm] = now
            acquire(DESKTOP["tts"], lease=True)
        now += 8
        for m in list(card.leased):
            card.resident[m] = now
        card.leased.clear()
        if policy is ours:
            # The daemon reloads the ASR after a turn when it fits without evicting anything in use,
            # so the load happens while the user is listening, not after the next press.
            keep_asr(card, now)
    return {"loads": card.loads, "gb_loaded": round(card.gb_loaded, 1), "load_s": round(card.load_s, 1),
            "asr_resident_at_press": round(card.asr_ready / card.turns, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--swaps", type=int, default=5)
    parser.add_argument("--turns", type=int, default=300)
    parser.add_argument("--out", type=Path, default=Path("bench-results/bench_arbiter.json"))
    args = parser.parse_args()
    config = Config.load()
    swap = asyncio.run(swap_overhead(config, args.swaps))
    policies = {"ours": ours, "lru": lru, "ollama-like": ollama_like}
    replays = {name: replay(fn, config.catalog, args.turns) for name, fn in policies.items()}

    print(f"swap: raw worker load {swap['raw_median_s']:.3f}s, switch through the arbiter "
          f"{swap['switch_median_s']:.3f}s, ratio {swap['ratio']:.2f} (target <= 1.10)")
    print(f"replay: {args.turns} turns on a {GPU_GB:.0f} GB card, ASR {DESKTOP['asr']}, TTS {DESKTOP['tts']}, "
          f"LLMs {', '.join(DESKTOP['llms'])}")
    print(f"{'policy':<12} {'loads':>6} {'GB loaded':>10} {'load s':>8} {'ASR ready at press':>19}")
    for name, r in replays.items():
        print(f"{name:<12} {r['loads']:>6} {r['gb_loaded']:>10.1f} {r['load_s']:>8.1f} {r['asr_resident_at_press']:>19.1%}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"swap": swap, "replay": replays, "turns": args.turns,
                                    "load_model": {"fixed_s": LOAD_FIXED_S, "gb_per_s": LOAD_GB_PER_S}}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
