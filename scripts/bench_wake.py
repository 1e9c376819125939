"""The wake word's speed and quality: detection rate, false wake-ups per hour, idle CPU, word end → capture.

  detection   espeak-ng "okay nabu" in several voices, speeds and noise levels (target ≥ 0.9 on
              the voices the model can hear; espeak's female variants are reported apart)
  false       ordinary prose read by espeak-ng over room noise, no wake word: wake-ups per hour
              (target 0)
  cpu         the listening thread (resampling a 48 kHz device stream, the detector) per second of
              audio, as % of one core (target ≤ 2 %)
  latency     how long after the word ends the capture starts: the model's own delay (its
              sliding window) less the pre-roll a wake press keeps, plus the thread's processing
              per block (target < 100 ms)
  pyopen      the same corpora through pyopen-wakeword's okay_nabu, the heavier alternative

Offline (the audio goes straight to the detectors, faster than real time); the daemon path is
covered by tests/test_wake_loop.py. `--size small` is a smoke run of a few seconds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assistant.audio.files import resample  # noqa: E402
from assistant.audio.listening import Listening  # noqa: E402
from assistant.audio.wake import RATE, WakeDetector  # noqa: E402
from assistant.handsfree import WAKE_PREROLL_S  # noqa: E402
from tests.espeak import CORPUS, WAKE_SPEEDS, WAKE_VOICES, espeak, noise, silence, with_noise  # noqa: E402

FEMALE_VOICES = ("en-us+f2", "en-us+f3")
NOISE_LEVELS = (0.0, 0.01, 0.03)  # RMS; espeak speech peaks near 0.5, so 0.03 is a noisy room
BLOCK = 480  # 30 ms, about what PortAudio hands over through PulseAudio

SIZES: dict[str, dict[str, Any]] = {
    "small": {"voices": WAKE_VOICES[:2], "female": FEMALE_VOICES[:1], "speeds": (150,), "noise": (0.0, 0.03),
              "corpus_voices": (("en-us", 170),), "corpus_repeat": 1, "cpu_s": 10},
    "full": {"voices": WAKE_VOICES, "female": FEMALE_VOICES, "speeds": WAKE_SPEEDS, "noise": NOISE_LEVELS,
             "corpus_voices": tuple((v, s) for v in ("en-us", "en-gb", "en-us+m3", "en-029", "en-us+f3") for s in (150, 175)),
             "corpus_repeat": 6, "cpu_s": 120},
}


class Detector:
    """A detector under test: feed 16 kHz floats, get the 16 kHz sample positions of its detections."""

    name: str
    feed: Callable[[np.ndarray], list[int]]

    def __init__(self, name: str, make: Callable[[], Callable[[np.ndarray], list[int]]]) -> None:
        self.name = name
        self.make = make


def micro() -> Callable[[np.ndarray], list[int]]:
    detector = WakeDetector("okay_nabu")
    return lambda audio: [d.sample for d in detector.feed(audio)]


def pyopen(threshold: float = 0.5) -> Callable[[np.ndarray], list[int]]:
    from pyopen_wakeword import Model, OpenWakeWord, OpenWakeWordFeatures

    model = OpenWakeWord.from_builtin(Model.OKAY_NABU)
    features = OpenWakeWordFeatures.from_builtin()
    fed = 0
    quiet_until = 0

    def feed(audio: np.ndarray) -> list[int]:
        nonlocal fed, quiet_until
        fed += len(audio)
        found = []
        pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()
        for chunk in features.process_streaming(pcm):
            for prob in model.process_streaming(chunk):
                if prob > threshold and fed >= quiet_until:
                    found.append(fed)
                    quiet_until = fed + RATE  # one detection per second, as WakeDetector
        return found

    return feed


DETECTORS = [Detector("micro okay_nabu (cutoff 0.85)", micro), Detector("pyopen okay_nabu (0.5)", pyopen)]


def run_blocks(feed: Callable[[np.ndarray], list[int]], audio: np.ndarray) -> tuple[list[int], float]:
    started = time.process_time()
    found = [at for i in range(0, len(audio), BLOCK) for at in feed(audio[i : i + BLOCK])]
    return found, time.process_time() - started


def detection(detector: Detector, voices: tuple[str, ...], size: dict[str, Any]) -> dict[str, Any]:
    hits, delays, total = 0, [], 0
    for voice in voices:
        for speed in size["speeds"]:
            word = espeak("okay nabu", voice, speed)
            spoken = np.nonzero(np.abs(word) > 0.02)[0]
            for level in size["noise"]:
                lead = int(0.5 * RATE)
                audio = np.concatenate([silence(0.5), word, silence(1.0)])
                if level:
                    audio = with_noise(audio, level, seed=total)
                found, _ = run_blocks(detector.make(), audio)
                total += 1
                if found:
                    hits += 1
                    delays.append((found[0] - (lead + spoken[-1])) / RATE * 1000)
    return {"samples": total, "detected": hits, "rate": hits / total if total else 0.0, "delays_ms": delays}


def corpus(size: dict[str, Any]) -> np.ndarray:
    parts = []
    for i in range(size["corpus_repeat"]):
        for voice, speed in size["corpus_voices"]:
            parts += [espeak(CORPUS, voice, speed), silence(0.5)]
    audio = np.concatenate(parts)
    return with_noise(audio, 0.01, seed=7)


def false_wakeups(detector: Detector, audio: np.ndarray) -> dict[str, Any]:
    found, cpu = run_blocks(detector.make(), audio)
    hours = len(audio) / RATE / 3600
    return {"hours": hours, "wakeups": len(found), "per_hour": len(found) / hours, "cpu_pct": cpu / (len(audio) / RATE) * 100}


def listening_cpu(seconds: float) -> dict[str, Any]:
    """The whole listening thread on a 48 kHz device stream of room noise, in 10 ms blocks."""
    device_rate = 48_000
    audio = resample(noise(seconds, 0.01, seed=11), RATE, device_rate)
    listening = Listening(WakeDetector("okay_nabu"), lambda d, t: None, lambda o: None)
    try:
        for i in range(0, len(audio), device_rate // 100):
            listening.listener(audio[i : i + device_rate // 100], device_rate)
        deadline = time.monotonic() + 60
        while listening._queue.qsize() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)
    finally:
        listening.close()
    blocks = int(seconds * 100)
    return {"audio_s": seconds, "cpu_s": listening.busy_s, "cpu_pct": listening.busy_s / seconds * 100,
            "per_block_ms": listening.busy_s / blocks * 1000}


def main(size_name: str, out: Path) -> dict[str, Any]:
    size = SIZES[size_name]
    results: dict[str, Any] = {"size": size_name, "wake_preroll_s": WAKE_PREROLL_S, "detectors": {}}
    audio = corpus(size)
    for detector in DETECTORS:
        try:
            detector.make()
        except Exception as exc:  # pyopen-wakeword absent or broken: report, do not fail the run
            results["detectors"][detector.name] = {"error": str(exc)}
            continue
        male = detection(detector, size["voices"], size)
        female = detection(detector, size["female"], size)
        results["detectors"][detector.name] = {"detection": male, "female_voices": female, "false": false_wakeups(detector, audio)}
    results["listening"] = listening_cpu(size["cpu_s"])
    delays = results["detectors"][DETECTORS[0].name]["detection"]["delays_ms"]
    per_block = results["listening"]["per_block_ms"]
    if delays:
        results["word_end_to_capture_ms"] = {
            "model_delay_median": statistics.median(delays),
            "model_delay_max": max(delays),
            "capture_start_median": statistics.median(delays) - WAKE_PREROLL_S * 1000 + per_block,
            "capture_start_max": max(delays) - WAKE_PREROLL_S * 1000 + per_block,
        }
    out.write_text(json.dumps(results, indent=2))
    print_table(results)
    print(f"\nwrote {out}")
    return results


def print_table(results: dict[str, Any]) -> None:
    print(f"{'detector':32} {'detected':>10} {'rate':>6} {'female':>8} {'corpus h':>9} {'false/h':>8} {'CPU %':>6}")
    for name, r in results["detectors"].items():
        if "error" in r:
            print(f"{name:32} error: {r['error']}")
            continue
        d, f, x = r["detection"], r["female_voices"], r["false"]
        print(f"{name:32} {d['detected']:>4}/{d['samples']:<5} {d['rate']:>6.2f} {f['rate']:>8.2f} {x['hours']:>9.3f}"
              f" {x['per_hour']:>8.1f} {x['cpu_pct']:>6.2f}")
    li = results["listening"]
    print(f"\nlistening thread (48 kHz stream, resample + detector): {li['cpu_pct']:.2f} % of one core"
          f" ({li['per_block_ms']:.3f} ms per 10 ms block)")
    lat = results.get("word_end_to_capture_ms")
    if lat:
        print(f"word end → detection: median {lat['model_delay_median']:.0f} ms, max {lat['model_delay_max']:.0f} ms;"
              f" capture starts {lat['capture_start_median']:.0f} ms (median), {lat['capture_start_max']:.0f} ms (max)"
              f" after the word ends, with a {results['wake_preroll_s'] * 1000:.0f} ms pre-roll")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=sorted(SIZES), default="full")
    parser.add_argument("--out", type=Path, default=Path("bench_wake.json"))
    args = parser.parse_args()
    main(args.size, args.out)
