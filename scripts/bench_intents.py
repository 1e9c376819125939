#!/usr/bin/env python3
"""Benchmark the Home Assistant intents: what loading HA's sentences costs at start, and one match.

    .venv/bin/python scripts/bench_intents.py [--runs 20] [--out bench-results/bench_intents.json]

Per language (en, de): the import and load time (hassil and home-assistant-intents, indexed once, the
first match included), the intents loaded, and the time to match one sentence (median and p95 over
`--runs` passes of home commands and sentences that are not commands), with the home's names from a
live context (a fixed example home) and with wildcards (a server without GetLiveContext). A registry
offers every intent HA's MCP server would (as tools that are never called: only matching is timed).
English also times our own matcher (sentences/en.yaml), which runs first: a turn's local-intent cost
is the two together. Prints one table and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SENTENCES = {
    "en": ["turn off the lights in the kitchen", "set the desk lamp to 40%", "close the garage door",
           "set a timer for 5 minutes", "what time is it", "tell me about the history of rome please",
           "what is the capital of france"],
    "de": ["Schalte das Licht in der Küche aus", "Stelle einen Timer auf 5 Minuten", "Wie spät ist es",
           "Erzähl mir etwas über die Geschichte Roms", "Was ist die Hauptstadt von Frankreich"],
}
HOME = {
    "en": [("Kitchen Light", "light", "Kitchen"), ("Desk Lamp", "light", "Office"), ("Garage Door", "cover", "Garage")],
    "de": [("Küchenlicht", "light", "Küche"), ("Stehlampe", "light", "Wohnzimmer"), ("Garagentor", "cover", "Garage")],
}


def _ms(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"median_ms": statistics.median(ordered) * 1000, "p95_ms": ordered[int(0.95 * (len(ordered) - 1))] * 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results" / "bench_intents.json")
    args = parser.parse_args()

    started = time.perf_counter()
    from assistant.tools.home import SERVED, Entity, HomeIntents
    from assistant.tools.intents import Matcher
    from assistant.tools.registry import Registry, Tool, ToolResult

    imported_s = time.perf_counter() - started

    async def never(arguments: dict[str, Any]) -> ToolResult:
        raise AssertionError("the bench only matches")

    registry = Registry([Tool(f"home__{name}", name, {"type": "object"}, never, "mcp:home", remote=name) for name in SERVED])
    results: dict[str, Any] = {"import_s": imported_s, "runs": args.runs, "languages": {}}
    rows = []
    started = time.perf_counter()
    ours = Matcher()
    ours_load_s = time.perf_counter() - started
    times = []
    for _ in range(args.runs):
        for sentence in SENTENCES["en"]:
            begun = time.perf_counter()
            ours.match(sentence)
            times.append(time.perf_counter() - begun)
    results["ours_en"] = {"load_s": ours_load_s, "intents": ours.tools(), **_ms(times)}
    rows.append(("en", "ours (sentences/en.yaml)", ours_load_s, len(ours.tools()), results["ours_en"]))
    for language, sentences in SENTENCES.items():
        started = time.perf_counter()
        home = HomeIntents(language)
        load_s = time.perf_counter() - started
        entry: dict[str, Any] = {"load_s": load_s, "intents": home.intents()}
        for mode in ("HA, live context", "HA, wildcards"):
            home.set_entities([Entity(n, d, (a,)) for n, d, a in HOME[language]] if mode == "HA, live context" else [])
            times = []
            for _ in range(args.runs):
                for sentence in sentences:
                    begun = time.perf_counter()
                    home.match(sentence, registry)
                    times.append(time.perf_counter() - begun)
            entry[mode] = _ms(times)
            rows.append((language, mode, load_s, len(entry["intents"]), entry[mode]))
        results["languages"][language] = entry

    print(f"import of hassil and home-assistant-intents: {imported_s:.3f} s")
    print("| language | lists | load (once, at start) | intents | match median | match p95 |")
    print("|---|---|---|---|---|---|")
    for language, mode, load_s, count, times in rows:
        print(f"| {language} | {mode} | {load_s:.3f} s | {count} | {times['median_ms']:.2f} ms | {times['p95_ms']:.2f} ms |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
