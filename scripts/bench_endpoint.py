#!/usr/bin/env python3
"""Benchmark the end of a hands-free turn: the end-of-turn model against a fixed silence, through PulseAudio.

    .venv/bin/python scripts/bench_endpoint.py [--runs 1] [--out FILE]

The corpus is spoken here by Piper and espeak-ng (voices the ASR was not tuned on):
  complete   requests and questions said in one breath
  hesitant   requests with a pause of 0.6, 1.0 or 1.5 s in the middle ("set a timer for, um, … ten minutes")
Each is fed into a private PulseAudio's virtual mic at real-time pace, in hands-free mode (the daemon's
HandsFree, its wake listener, VAD and end-of-turn model, with the utterance started as the wake word
starts it), once with [turn] end = "model" and once with "silence" (0.7 s). Per setting it reports:
  cutoff rate          turns that ended before the last word (the hesitant set is where it happens)
  last word → end      from the last word reaching the mic to the end decision, median and p95
  last word → audio    from the last word to the first reply sample at the sound device, median and p95
  model ms             the end-of-turn model's time per call (features and inference), median and p95
  WER                  of the final transcripts (filler words left out on both sides)
Prints one table and writes JSON with "by_end": {"model": {...}, "silence": {...}}.

The figures depend on the CPU (the model runs on one thread beside the ASR, the LLM and the voice) and
on pymicro-vad letting go about 0.2 s after the last syllable, which both settings wait for.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assistant.audio.io import AudioIO  # noqa: E402
from assistant.audio.settings import TurnSettings  # noqa: E402
from assistant.config.settings import Config, WakeSettings  # noqa: E402
from assistant.core.events import ignore  # noqa: E402
from assistant.triggers.handsfree import HandsFree  # noqa: E402
from assistant.turn.assistant import Assistant  # noqa: E402
from assistant.turn.turns import Turns  # noqa: E402
from assistant.turn.utterance import End  # noqa: E402
from assistant.vram.meter import SimulatedMeter  # noqa: E402
from tests.espeak import espeak, silence  # noqa: E402
from tests.pulse import Pulse, reinit_portaudio  # noqa: E402
from tests.speech import normalize, speak_16k, wer  # noqa: E402

COMPLETE = [
    "What time is it?",
    "Why is the sky blue?",
    "What is twelve times seven?",
    "Tell me something about the moon.",
    "How far away is the sun?",
]
# (the words before the pause, the words after it)
HESITANT = [
    ("Set a timer for, um,", "ten minutes."),
    ("What's the weather in, um,", "Paris?"),
    ("Remind me to, uh,", "call my mother."),
    ("Tell me a story about, um,", "a dragon."),
]
PAUSES_S = (0.6, 1.0, 1.5)
FILLERS = {"um", "uh", "er", "erm"}
SILENCE_S = 0.7  # the fixed silence compared against: [wake] silence_s's default


def voice(text: str, name: str) -> np.ndarray:
    """`text` spoken, trimmed to its first and last loud sample: a pause in the corpus is the pause it says."""
    audio = espeak(text, "en-us", 150) if name == "espeak" else speak_16k(text, pad_s=0.0)
    loud = np.flatnonzero(np.abs(audio) > 0.02)
    return audio[loud[0] : loud[-1] + 1] if len(loud) else audio


def corpus() -> list[dict[str, Any]]:
    """Each item: its set, voice, pause, the words, the audio and where the last word ends in it."""
    items = []
    for name in ("piper", "espeak"):
        for text in COMPLETE:
            items.append({"set": "complete", "voice": name, "pause_s": 0.0, "text": text, "parts": [voice(text, name)]})
        for before, after in HESITANT:
            for pause in PAUSES_S:
                parts = [voice(before, name), silence(pause), voice(after, name)]
                items.append({"set": "hesitant", "voice": name, "pause_s": pause, "text": f"{before} {after}", "parts": parts})
    return items


def without_fillers(text: str) -> str:
    return " ".join(w for w in normalize(text) if w not in FILLERS)


async def run_setting(
    assistant: Assistant, audio: AudioIO, pulse: Pulse, end: str, items: list[dict[str, Any]], runs: int
) -> list[dict[str, Any]]:
    turns = Turns(assistant, audio, ignore)
    handsfree = HandsFree(
        WakeSettings(silence_s=SILENCE_S, no_speech_s=5.0), audio, turns, 30.0, ignore, TurnSettings(end=end)
    )
    await handsfree.set(True)
    model_ms: list[float] = []
    if handsfree.end_model is not None:
        model = handsfree.end_model
        judge = model.complete

        def timed(samples: Any) -> float:
            started = time.perf_counter()
            try:
                return judge(samples)
            finally:
                model_ms.append((time.perf_counter() - started) * 1000)

        model.complete = timed  # type: ignore[method-assign,assignment]
    elif end == "model":
        raise SystemExit(f"no end-of-turn model: {handsfree.end_problem}")

    ended: list[tuple[float, End]] = []
    release = turns.release

    async def stamped(why: End = End.RELEASE, probability: float | None = None) -> Any:
        ended.append((time.perf_counter(), why))
        return await release(why, probability)

    turns.release = stamped  # type: ignore[method-assign,assignment]
    sinks: list[Any] = []
    make_sink = audio.sink

    def recording_sink() -> Any:
        sinks.append(make_sink())
        return sinks[-1]

    audio.sink = recording_sink  # type: ignore[method-assign]
    rows = []
    try:
        for _ in range(runs):
            for item in items:
                assistant.conversation.clear()
                # Every item starts as a user's turn does: the three models resident (a reply cut short may
                # have had its voice's worker replaced).
                for kind in ("asr", "llm", "tts"):
                    await assistant.arbiter.ensure(assistant.models.of(kind))
                previous = turns.last_turn
                ended.clear()
                calls_before = len(model_ms)
                # The utterance starts as the wake word starts it (the wake word itself is bench_wake.py's).
                await handsfree._listen(handsfree.rules)
                lead = silence(0.3)
                clip = np.concatenate([lead, *item["parts"]])
                fed = time.perf_counter()
                pulse.mic.feed(np.concatenate([clip, silence(3.0)]))
                last_word = fed + len(clip) / 16_000
                while not ended and time.perf_counter() < fed + 40:
                    await asyncio.sleep(0.01)
                if not ended:
                    print(f"  {end}: no end for {item['text']!r}", file=sys.stderr)
                    await turns.cancel()
                    await asyncio.to_thread(pulse.mic.wait, 60)
                    continue
                decided, why = ended[0]
                # Wait for the first reply sample, then stop the reply: the next item starts from quiet.
                deadline = time.perf_counter() + 120
                while turns._speaking and time.perf_counter() < deadline:
                    sink = sinks[-1] if sinks else None
                    if sink is not None and sink.first_sample_time is not None:
                        break
                    await asyncio.sleep(0.01)
                first = sinks[-1].first_sample_time if sinks else None
                await turns.interrupt()  # as a barge-in would: the turn is recorded with what it heard
                await asyncio.to_thread(pulse.mic.wait, 60)
                deadline = time.perf_counter() + 30
                while turns.last_turn is previous and time.perf_counter() < deadline:
                    await asyncio.sleep(0.05)  # the record is written after the turn's task ends
                record = turns.last_turn if turns.last_turn is not previous else None
                transcript = record.transcript if record is not None else ""
                rows.append({
                    "set": item["set"],
                    "voice": item["voice"],
                    "pause_s": item["pause_s"],
                    "text": item["text"],
                    "end": why.value,
                    "cut_off": decided < last_word,
                    "last_word_to_end_s": decided - last_word,
                    "last_word_to_first_audio_s": (first - last_word) if first is not None and first > decided else None,
                    "model_calls": len(model_ms) - calls_before,
                    "transcript": transcript,
                    "wer": wer(without_fillers(item["text"]), without_fillers(transcript)) if transcript else 1.0,
                })
                row = rows[-1]
                print(f"  {end}: {item['voice']} {item['text']!r} ended by {row['end']} "
                      f"{row['last_word_to_end_s']:+.2f} s after the last word → {transcript!r}", file=sys.stderr, flush=True)
                sinks.clear()
                await asyncio.sleep(0.3)
    finally:
        await handsfree.close()
    return [*rows, {"model_ms": model_ms}]


def p95(values: list[float]) -> float | None:
    """Nearest rank."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, -(-len(ordered) * 95 // 100) - 1)]


def summary(rows: list[dict[str, Any]], model_ms: list[float]) -> dict[str, Any]:
    def values(key: str, of: list[dict[str, Any]]) -> list[float]:
        return [r[key] for r in of if r.get(key) is not None]

    hesitant = [r for r in rows if r["set"] == "hesitant"]
    uncut = [r for r in rows if not r["cut_off"]]
    out: dict[str, Any] = {
        "turns": len(rows),
        "cutoff_rate": statistics.mean(float(r["cut_off"]) for r in rows) if rows else None,
        "cutoff_rate_hesitant": statistics.mean(float(r["cut_off"]) for r in hesitant) if hesitant else None,
        "cutoff_rate_complete": statistics.mean(float(r["cut_off"]) for r in rows if r["set"] == "complete"),
        "wer": statistics.mean(values("wer", rows)) if rows else None,
        "model_ms_median": statistics.median(model_ms) if model_ms else None,
        "model_ms_p95": p95(model_ms),
        "ends": {why: sum(r["end"] == why for r in rows) for why in sorted({r["end"] for r in rows})},
    }
    # The times count the turns that were not cut off: a cut turn "ends early" by losing words.
    for key in ("last_word_to_end_s", "last_word_to_first_audio_s"):
        got = values(key, uncut)
        out[f"{key.removesuffix('_s')}_median_s"] = statistics.median(got) if got else None
        out[f"{key.removesuffix('_s')}_p95_s"] = p95(got)
    return out


async def main(runs: int, out: Path) -> dict[str, Any]:
    pulse = Pulse(Path(tempfile.mkdtemp(prefix="bench-endpoint-")))
    os.environ.update(pulse.env)
    reinit_portaudio()
    config = Config.load()
    assistant = Assistant.create(config, SimulatedMeter(total_gb=16), persist=False)
    audio = AudioIO(config.settings.audio, ignore)
    await audio.open()
    try:
        for kind in ("asr", "llm", "tts"):
            await assistant.arbiter.ensure(assistant.models.of(kind))
        items = corpus()
        by_end: dict[str, Any] = {}
        all_rows: dict[str, Any] = {}
        for end in ("model", "silence"):
            *rows, timing = await run_setting(assistant, audio, pulse, end, items, runs)
            by_end[end] = summary(rows, timing["model_ms"])
            all_rows[end] = rows
    finally:
        audio.close()
        await assistant.close()
        pulse.close()
    model, fixed = by_end["model"], by_end["silence"]
    ratio = (
        model["last_word_to_first_audio_median_s"] / fixed["last_word_to_first_audio_median_s"]
        if model["last_word_to_first_audio_median_s"] and fixed["last_word_to_first_audio_median_s"] else None
    )
    report = {
        "silence_s": SILENCE_S,
        "by_end": by_end,
        "ratio_first_audio_model_to_silence": ratio,
        "targets": {
            "first_audio_ratio_max": 0.6,
            "fewer_cutoffs_on_hesitant": True,
            "model_ms_median_max": 20.0,
            "no_wer_regression": True,
        },
        "rows": all_rows,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    return report


def print_table(report: dict[str, Any]) -> None:
    def f(value: float | None, spec: str = ".3f") -> str:
        return "-" if value is None else format(value, spec)

    print(f"{'end':<8} {'cut off':>8} {'(hesitant)':>10} {'end median':>11} {'p95':>7} {'audio median':>13} {'p95':>7}"
          f" {'model ms':>9} {'p95':>6} {'WER':>6}")
    for end, s in report["by_end"].items():
        print(f"{end:<8} {f(s['cutoff_rate'], '.0%'):>8} {f(s['cutoff_rate_hesitant'], '.0%'):>10}"
              f" {f(s['last_word_to_end_median_s']):>10}s {f(s['last_word_to_end_p95_s']):>6}s"
              f" {f(s['last_word_to_first_audio_median_s']):>12}s {f(s['last_word_to_first_audio_p95_s']):>6}s"
              f" {f(s['model_ms_median'], '.1f'):>9} {f(s['model_ms_p95'], '.1f'):>6} {f(s['wer']):>6}")
    print(f"\nlast word → first audio, model / silence = {f(report['ratio_first_audio_model_to_silence'], '.2f')}"
          " (target <= 0.60)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("bench-results/bench_endpoint.json"))
    args = parser.parse_args()
    print_table(asyncio.run(main(args.runs, args.out)))
    print(f"wrote {args.out}")
