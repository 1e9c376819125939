#!/usr/bin/env python3
"""Benchmark the audio layer's timing on a private PulseAudio: barge-in, capture length, a prepared stream.

    .venv/bin/python scripts/bench_playback.py [--runs 5] [--out bench-results/bench_playback.json]

The figures tests/audio/test_audio.py asserted as wall-clock limits before it asserted the order of events:
1. Barge-in: three sentences (0.4 s, 0.4 s, 4.0 s) queued, the speaking task cancelled 0.5 s into the
   third; awaiting finish() or elsewhere ("slow-cleanup": the task takes 0.5 s to unwind). The time from
   the cancel to the stop (was asserted < 100 ms) and to the last sample handed to the device (< 100 ms);
   the sound heard on the sink's monitor (was asserted < 2.0 s), and that less the time from the first
   sample to the cancel: what was heard past the cancel (negative: the device's buffer was dropped unheard).
2. Capture: 0.5 s of pre-roll, then 0.3 s of silence and a spoken sentence fed while the key is down. The
   capture's length against the pre-roll plus the time the key was down (was asserted within 0.15 s).
3. First sample: from play() to the first sample handed to the device, with the stream opened ahead
   (prepare(), as the pipeline does at the end of speech) and without.
Needs pulseaudio, pactl, pacat and parecord (Debian packages pulseaudio pulseaudio-utils libasound2-plugins).
Prints one table and writes JSON.
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from assistant.audio.settings import AudioSettings  # noqa: E402
from assistant.core.speech import AudioChunk  # noqa: E402
from tests.pulse import Pulse, reinit_portaudio  # noqa: E402
from tests.speech import speak_16k  # noqa: E402
from tests.audio.test_audio import loud_span, opened, silence, tone  # noqa: E402
from tests.waiting import until  # noqa: E402


async def barge_in(pulse: Pulse, work: Path, awaiting: str, run: int) -> dict[str, float]:
    state: dict[str, Any] = {}

    async def speak(sink: Any) -> None:
        for index, seconds in enumerate((0.4, 0.4, 4.0)):
            await sink.play(AudioChunk(tone(440 + 110 * index, seconds, 22_050), 22_050), index)
        if awaiting == "finish":
            await sink.finish()
        else:
            try:
                await asyncio.sleep(30)
            finally:
                await asyncio.sleep(0.5)

    io = await opened(AudioSettings(earcons=False))
    try:
        with pulse.record(work / f"barge-{awaiting}-{run}.wav") as recording:
            sink = io.sink()
            task = asyncio.create_task(speak(sink))
            await until(lambda: sink.played_sentences() >= 2, 10, interval=0.01, what="the third sentence")
            await asyncio.sleep(0.5)
            cancelled_at = time.perf_counter()
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
            await asyncio.sleep(0.3)
    finally:
        io.close()
    start, end = loud_span(recording.audio())
    return {
        "stop_ms": (sink.stopped_time - cancelled_at) * 1000,
        "last_sample_ms": (sink.last_sample_time - cancelled_at) * 1000,
        "heard_s": end - start,
        "heard_after_cancel_s": (end - start) - (cancelled_at - sink.first_sample_time),
    }


async def capture(pulse: Pulse, speech: np.ndarray) -> dict[str, float]:
    io = await opened(AudioSettings(preroll_s=0.5, earcons=False))
    try:
        await asyncio.sleep(0.6)  # the ring fills first
        pressing = time.perf_counter()
        await io.start_capture()
        pulse.mic.feed(np.concatenate([silence(0.3), speech]))
        await asyncio.to_thread(pulse.mic.wait)
        await asyncio.sleep(0.5)
        audio = await io.stop_capture()
        released = time.perf_counter()
    finally:
        io.close()
    held = released - pressing
    return {"length_s": len(audio) / 16_000, "held_s": held, "error_ms": (len(audio) / 16_000 - (0.5 + held)) * 1000}


async def first_sample(prepared: bool) -> float:
    io = await opened(AudioSettings(earcons=False))
    try:
        sink = io.sink()
        if prepared:
            sink.prepare(22_050)
            await asyncio.sleep(0.5)  # the end of speech comes well before the first sentence's audio
        started = time.perf_counter()
        await sink.play(AudioChunk(tone(440, 0.3, 22_050), 22_050), 0)
        await until(lambda: sink.first_sample_time is not None, 10, interval=0.001, what="the first sample")
        await sink.finish()
        return (sink.first_sample_time - started) * 1000
    finally:
        io.close()


def _stats(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results" / "bench_playback.json")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-playback-"))
    pulse = Pulse(work)
    os.environ.update(pulse.env)
    reinit_portaudio()
    speech = speak_16k("Turn on the lights in the kitchen, please.", pad_s=0.0)
    results: dict[str, Any] = {"runs": args.runs, "barge_in": {}, "capture": [], "first_sample_ms": {}}
    try:
        for awaiting in ("finish", "slow-cleanup"):
            results["barge_in"][awaiting] = [asyncio.run(barge_in(pulse, work, awaiting, i)) for i in range(args.runs)]
        results["capture"] = [asyncio.run(capture(pulse, speech)) for _ in range(args.runs)]
        for mode in ("prepared", "cold"):
            results["first_sample_ms"][mode] = [asyncio.run(first_sample(mode == "prepared")) for _ in range(args.runs)]
    finally:
        pulse.close()

    rows: list[tuple[str, str, dict[str, float]]] = []
    for awaiting, runs in results["barge_in"].items():
        rows.append((f"barge-in ({awaiting}): cancel → stop", "ms", _stats([r["stop_ms"] for r in runs])))
        rows.append((f"barge-in ({awaiting}): cancel → last sample", "ms", _stats([r["last_sample_ms"] for r in runs])))
        rows.append((f"barge-in ({awaiting}): heard past the cancel", "ms", _stats([r["heard_after_cancel_s"] * 1000 for r in runs])))
        rows.append((f"barge-in ({awaiting}): heard in all, of 4.8 s queued", "s", _stats([r["heard_s"] for r in runs])))
    rows.append(("capture: length − (pre-roll + key down)", "ms", _stats([r["error_ms"] for r in results["capture"]])))
    for mode, values in results["first_sample_ms"].items():
        rows.append((f"play() → first sample, {mode}", "ms", _stats(values)))
    results["summary"] = {name: {**stats, "unit": unit} for name, unit, stats in rows}

    print(f"{args.runs} runs each on a private PulseAudio (null sink, fifo-fed mic)")
    print("| figure | median | min | max |")
    print("|---|---|---|---|")
    for name, unit, stats in rows:
        digits = 0 if unit == "ms" else 2
        print(f"| {name} | " + " | ".join(f"{stats[key]:.{digits}f} {unit}" for key in ("median", "min", "max")) + " |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
