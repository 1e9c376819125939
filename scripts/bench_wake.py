"""The wake word's speed and quality: detection rate, false wake-ups per hour, idle CPU, word end → capture.

  detection   espeak-ng "okay nabu" in several voices, speeds and noise levels (target ≥ 0.9 on
              the voices the model can hear; espeak's female variants are reported apart)
  false       ordinary prose read by espeak-ng over room noise, no wake word: wake-ups per hour
              (target 0)
  cpu         the listening thread (resampling a 48 kHz device stream, the detector) per second of
              audio, as % of one core (target ≤ 2 %)
  latency     how long after the word ends the capture starts: the model's own delay (its
              sliding window) to the end of the block that held the detection, less the pre-roll
              a wake press keeps (the press takes back its own delay from the ring, so the time the
              daemon needs to get there does not move the start; it is shown by `wake status`)
              (target < 100 ms)
  pyopen      the same corpora through pyopen-wakeword's okay_nabu, the heavier alternative
  echo        (--pulse) the real daemon in a private PulseAudio "room" where its speaker reaches
              its microphone: how often its own "okay nabu" wakes it, and how often a user's
              "okay nabu" over a reply interrupts it (echo 0, 10 and 20 dB below the user), with no
              protection, with the playback gate, with module-echo-cancel (WebRTC) alone, and
              with both (what echo = "auto" does where the canceller is the default source)

Offline except --pulse (the audio goes straight to the detectors, faster than real time).
`--size small` is a smoke run.
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assistant.audio.files import resample  # noqa: E402
from assistant.audio.wake import RATE, WakeDetector  # noqa: E402
from assistant.audio.wake_listener import WakeListener  # noqa: E402
from assistant.triggers.handsfree import WAKE_PREROLL_S  # noqa: E402
from tests.espeak import CORPUS, WAKE_SPEEDS, WAKE_VOICES, espeak, noise, silence, with_noise  # noqa: E402

# Sentences that come close to the word's sounds: reported apart, as how many of them wake it.
NEAR_MISSES = (
    "Okay, now we know.",
    "Nobody said it was okay.",
    "Okay then, neighbour, see you at noon.",
    "The new booking is okay.",
    "Okay, no problem.",
    "Is Nairobi okay for you?",
)
FEMALE_VOICES = ("en-us+f2", "en-us+f3")
NOISE_LEVELS = (0.0, 0.01, 0.03)  # RMS; espeak speech peaks near 0.5, so 0.03 is a noisy room
BLOCK = 480  # 30 ms, about what PortAudio hands over through PulseAudio

SIZES: dict[str, dict[str, Any]] = {
    "small": {"voices": WAKE_VOICES[:2], "female": FEMALE_VOICES[:1], "speeds": (150,), "noise": (0.0, 0.03),
              "corpus_voices": (("en-us", 170),), "corpus_repeat": 1, "cpu_s": 10, "echo_runs": 1},
    "full": {"voices": WAKE_VOICES, "female": FEMALE_VOICES, "speeds": WAKE_SPEEDS, "noise": NOISE_LEVELS,
             "corpus_voices": tuple((v, s) for v in ("en-us", "en-gb", "en-us+m3", "en-029", "en-us+f3") for s in (150, 175)),
             "corpus_repeat": 6, "cpu_s": 120, "echo_runs": 10},
}


class Detector:
    """A detector under test: feed 16 kHz floats, get the 16 kHz sample positions of its detections."""

    name: str
    feed: Callable[[np.ndarray], list[int]]

    def __init__(self, name: str, make: Callable[[], Callable[[np.ndarray], list[int]]]) -> None:
        self.name = name
        self.make = make


def micro(threshold: float = 0.0) -> Callable[[np.ndarray], list[int]]:
    detector = WakeDetector("okay_nabu", threshold)
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


# The shipped default first (its latency is the one reported), then a threshold sweep.
DETECTORS = [
    Detector("micro okay_nabu (cutoff 0.85)", micro),
    *(Detector(f"micro okay_nabu at {t:.2f}", functools.partial(micro, t)) for t in (0.5, 0.7, 0.95)),
    Detector("pyopen okay_nabu (0.5)", pyopen),
]


def run_blocks(feed: Callable[[np.ndarray], list[int]], audio: np.ndarray) -> tuple[list[int], float]:
    """Feed `audio` block by block; the end of each block that held a detection (when the daemon would know), and the CPU time."""
    started = time.process_time()
    found = [min(i + BLOCK, len(audio)) for i in range(0, len(audio), BLOCK) for _ in feed(audio[i : i + BLOCK])]
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
    listening = WakeListener(WakeDetector("okay_nabu"), lambda d, t: None, lambda o: None)
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


OWN_REPLY = "Sure. Okay nabu, the words you say to wake me."
STORY = "Tell me a long story about a brave knight and a dragon."


def echo_bench(runs: int) -> dict[str, Any]:
    """Self-wakes and barge-ins through the real daemon, per echo strategy."""
    import os
    import tempfile
    import threading

    from assistant.core.paths import Paths
    from tests.daemon_process import DaemonProcess
    from tests.pulse import Pulse
    from tests.room import Room, echo_canceller, remove_echo_canceller, speaker_in_room

    root = Path(tempfile.mkdtemp(prefix="bench-wake-"))
    pulse = Pulse(root / "pulse")
    os.environ.update(pulse.env)
    room = Room(pulse)
    results: dict[str, Any] = {}

    def wait(predicate: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.05)
        return False

    try:
        # (name, [wake] echo, load module-echo-cancel); "none" trusts a canceller that is not there.
        for name, echo, aec in (
            ("none", "cancel", False), ("gate", "gate", False), ("echo-cancel", "cancel", True), ("cancel+gate", "auto", True)
        ):
            module = echo_canceller(pulse) if aec else None
            xdg = {var: str(root / name / var.lower()) for var in ("XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_DATA_HOME", "XDG_RUNTIME_DIR")}
            for path in xdg.values():
                Path(path).mkdir(parents=True, mode=0o700)
            os.environ.update(xdg)
            paths = Paths.from_env()
            paths.config_dir.mkdir(parents=True)
            paths.config_file.write_text(f'[audio]\npreroll_s = 0\n\n[wake]\nenabled = true\necho = "{echo}"\n')
            try:
                with DaemonProcess(paths, env={**pulse.env, **xdg}) as daemon:
                    daemon.wait_warm()
                    row: dict[str, Any] = {"echo": daemon.call("wake.status")["echo"], "runs": runs}

                    def wakeups() -> int:
                        return int(daemon.call("wake.status")["wakeups"])

                    self_wakes = 0
                    with speaker_in_room(pulse):
                        for _ in range(runs):
                            before = wakeups()
                            daemon.call("say", text=OWN_REPLY)
                            time.sleep(1.5)
                            if wakeups() > before:
                                self_wakes += 1
                                daemon.call("ptt.cancel")
                    row["self_wakes"] = self_wakes
                    for db in (0, -10, -20):
                        hits = 0
                        with speaker_in_room(pulse, gain=10 ** (db / 20)):
                            for i in range(runs):
                                asker = threading.Thread(target=lambda: daemon.call("ask", text=STORY))
                                asker.start()
                                wait(lambda: daemon.call("status")["state"] == "speaking", 180)
                                pulse.mic.feed(np.concatenate([espeak("okay nabu", WAKE_VOICES[i % 3], 150), silence(0.3)]))
                                if wait(lambda: daemon.call("status")["state"] == "listening", 6):
                                    hits += 1
                                daemon.call("ptt.cancel")
                                asker.join(120)
                                wait(lambda: daemon.call("status")["state"] == "idle", 60)
                        row[f"barge_in_{-db}db"] = hits / runs
                    results[name] = row
            finally:
                if module is not None:
                    remove_echo_canceller(pulse, module)
    finally:
        room.close()
        pulse.close()
    return results


def main(size_name: str, out: Path, with_pulse: bool = False) -> dict[str, Any]:
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
        near = sum(bool(run_blocks(detector.make(), np.concatenate([silence(0.3), espeak(text, voice, 160), silence(0.5)]))[0])
                   for text in NEAR_MISSES for voice in size["voices"])
        results["detectors"][detector.name] = {
            "detection": male, "female_voices": female, "false": false_wakeups(detector, audio),
            "near_misses": {"woke": near, "of": len(NEAR_MISSES) * len(size["voices"])},
        }
    results["listening"] = listening_cpu(size["cpu_s"])
    delays = results["detectors"][DETECTORS[0].name]["detection"]["delays_ms"]
    if delays:
        results["word_end_to_capture_ms"] = {
            "model_delay_median": statistics.median(delays),
            "model_delay_max": max(delays),
            "capture_start_median": statistics.median(delays) - WAKE_PREROLL_S * 1000,
            "capture_start_max": max(delays) - WAKE_PREROLL_S * 1000,
        }
    if with_pulse:
        results["echo"] = echo_bench(size["echo_runs"])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print_table(results)
    print(f"\nwrote {out}")
    return results


def print_table(results: dict[str, Any]) -> None:
    print(f"{'detector':32} {'detected':>10} {'rate':>6} {'female':>8} {'corpus h':>9} {'false/h':>8} {'CPU %':>6} {'near-miss':>10}")
    for name, r in results["detectors"].items():
        if "error" in r:
            print(f"{name:32} error: {r['error']}")
            continue
        d, f, x = r["detection"], r["female_voices"], r["false"]
        print(f"{name:32} {d['detected']:>4}/{d['samples']:<5} {d['rate']:>6.2f} {f['rate']:>8.2f} {x['hours']:>9.3f}"
              f" {x['per_hour']:>8.1f} {x['cpu_pct']:>6.2f} {r['near_misses']['woke']:>5}/{r['near_misses']['of']}")
    li = results["listening"]
    print(f"\nlistening thread (48 kHz stream, resample + detector): {li['cpu_pct']:.2f} % of one core"
          f" ({li['per_block_ms']:.3f} ms per 10 ms block)")
    lat = results.get("word_end_to_capture_ms")
    if lat:
        print(f"word end → detection known (end of its block): median {lat['model_delay_median']:.0f} ms, max {lat['model_delay_max']:.0f} ms;"
              f" capture starts {lat['capture_start_median']:.0f} ms (median), {lat['capture_start_max']:.0f} ms (max)"
              f" after the word ends, with a {results['wake_preroll_s'] * 1000:.0f} ms pre-roll")
    if "echo" in results:
        print(f"\n{'echo strategy':14} {'mode':7} {'own voice woke it':>18} {'barge-in, echo 0 dB':>20} {'-10 dB':>7} {'-20 dB':>7}")
        for name, row in results["echo"].items():
            print(f"{name:14} {row['echo']:7} {row['self_wakes']:>10}/{row['runs']:<7} {row['barge_in_0db']:>20.2f}"
                  f" {row['barge_in_10db']:>7.2f} {row['barge_in_20db']:>7.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=sorted(SIZES), default="full")
    parser.add_argument("--out", type=Path, default=Path("bench-results/bench_wake.json"))
    parser.add_argument("--pulse", action="store_true", help="also measure the echo strategies through the daemon")
    args = parser.parse_args()
    main(args.size, args.out, args.pulse)
