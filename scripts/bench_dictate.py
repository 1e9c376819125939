"""Dictation on each typing method this machine can run: release → last character in the window.

    .venv/bin/python scripts/bench_dictate.py [--runs 3] [--out bench-results/bench_dictate.json]

The real daemon (embedded models), espeak-ng speech fed into a private PulseAudio mic at real-time pace,
and real desktops: XTEST and xdotool into xterm on Xvfb, wtype into foot on a headless sway, the clipboard
into xterm; `live = true` (each phrase typed at its pause) against `live = false`. For each phrase: the time
from `assistant dictate release` to the whole text in the window; the sequential floor (the ASR of the
whole utterance, timed here on the same model, plus typing the whole text alone with the same method);
characters per second typed; and the WER of what arrived.

    .venv/bin/python scripts/bench_dictate.py --punctuation [--out bench-results/bench_punctuation.json]

Spoken punctuation instead (no desktop, no daemon): each command word said at the end of short sentences
by Piper's joe voice and espeak-ng voices, through a dictation's final transcription (Pipeline.transcribe
with dictation's prompt, in process) and Shaper.phrase. A command lands when the typed text ends in its mark
(or, for "scratch that", types nothing) with no word left for it. Before: the old shaping (Restorer.off());
after: the mishearings restored (assistant/turn/misheard.py); each under each prompt. And sentences that end
in a real word close to a command, which must keep it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from assistant.core.paths import Paths  # noqa: E402
from assistant.keyboard.clipboard import Clipboard  # noqa: E402
from assistant.keyboard.typing import Edit, Method, Wtype, Xdotool  # noqa: E402
from assistant.keyboard.xtest import Xtest  # noqa: E402
from tests.daemon_process import DaemonProcess  # noqa: E402
from tests.desktop import SWAY_MISSING, X11_MISSING, Sway, Xterm, Xvfb  # noqa: E402
from tests.espeak import espeak, silence  # noqa: E402
from tests.pulse import Pulse  # noqa: E402
from tests.speech import wer  # noqa: E402

PHRASES = [
    "The meeting moved to Thursday comma so please update the calendar period",
    "Send the report to the whole team before lunch period",
    "How long will the new build take question mark",
]


def _words(text: str) -> str:
    return " ".join(re.findall(r"[a-z']+", text.lower()))


def _wait_text(read: Any, want: str, timeout: float = 30.0) -> float:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if read() == want:
            return time.perf_counter()
        time.sleep(0.002)
    raise RuntimeError(f"the window never showed {want!r}; it has {read()!r}")


class WholeAsr:
    """The floor's ASR: the whole utterance on the same embedded model, in this process, warmed first."""

    def __init__(self) -> None:
        from assistant.config.settings import Config
        from assistant.turn.assistant import Assistant
        from assistant.vram.meter import SimulatedMeter

        self.loop = asyncio.new_event_loop()  # one loop for the worker's whole life: it answers on this loop

        async def create() -> Assistant:
            return Assistant.create(Config.load(), SimulatedMeter(16.0), persist=False)

        self.assistant = self.loop.run_until_complete(create())
        self.seconds(espeak("warm up", "en-us", 125))

    def seconds(self, audio: np.ndarray) -> float:
        started = time.perf_counter()
        self.loop.run_until_complete(self._transcribe(audio))
        return time.perf_counter() - started

    def text(self, audio: np.ndarray, prompt: str | None) -> str:
        """A dictation's final transcription of `audio` under `prompt`."""

        async def transcribe() -> str:
            asr = self.assistant.models.asr
            return (await self.assistant.pipeline.transcribe(audio.astype(np.float32), asr, prompt)).text

        return self.loop.run_until_complete(transcribe())

    def close(self) -> None:
        self.loop.run_until_complete(self.assistant.close())
        self.loop.close()

    async def _transcribe(self, audio: np.ndarray) -> None:
        await self.assistant.pipeline.transcribe(audio.astype(np.float32), self.assistant.models.asr)


def bench_method(name: str, env: dict[str, str], read: Any, method: Method, pulse: Pulse, runs: int,
                 live: bool, asr: WholeAsr) -> dict[str, Any]:
    rows: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory() as home:
        xdg = {"XDG_CONFIG_HOME": f"{home}/c", "XDG_STATE_HOME": f"{home}/s", "XDG_DATA_HOME": f"{home}/d",
               "XDG_RUNTIME_DIR": f"{home}/r"}
        os.environ.update(xdg)  # Paths and the daemon read them from the environment
        paths = Paths.from_env()
        os.makedirs(f"{home}/r", mode=0o700)
        paths.config_dir.mkdir(parents=True)
        paths.config_file.write_text(f'[dictation]\nmethods = ["{name}"]\nkeep = false\nlive = {str(live).lower()}\n')
        denv = {**env, **pulse.env, **xdg}
        with DaemonProcess(paths, env=denv) as daemon:
            for _ in range(runs):
                for phrase in PHRASES:
                    before = read()
                    speech = espeak(phrase, "en-us", 125)
                    assert daemon.cli("dictate", "press").returncode == 0
                    pulse.mic.feed(np.concatenate([speech, silence(0.3)]))
                    pulse.mic.wait()
                    released = time.perf_counter()
                    result = daemon.json("dictate", "release")
                    arrived = _wait_text(read, before + result["text"])
                    typed_alone = _type_alone(method, read, result["text"])
                    rows.append({
                        "release_to_last_char_s": arrived - released,
                        "floor_s": asr.seconds(speech) + typed_alone,
                        "chars_per_s": len(result["text"]) / typed_alone if typed_alone else 0.0,
                        "wer": wer(_words(phrase.replace(" comma", "").replace(" period", "").replace(" question mark", "")),
                                   _words(result["text"])),
                    })
    latency = [r["release_to_last_char_s"] for r in rows]
    ratios = [r["release_to_last_char_s"] / r["floor_s"] for r in rows]
    return {
        "method": name,
        "live": live,
        "release_to_last_char_median_s": statistics.median(latency),
        "release_to_last_char_p95_s": sorted(latency)[max(0, int(0.95 * len(latency)) - 1)],
        "ratio_to_floor_median": statistics.median(ratios),
        "chars_per_s_median": statistics.median(r["chars_per_s"] for r in rows),
        "wer_mean": statistics.fmean(r["wer"] for r in rows),
        "runs": len(rows),
    }


def _type_alone(method: Method, read: Any, text: str) -> float:
    before = read()
    started = time.perf_counter()
    asyncio.run(method.apply(Edit(0, text)))
    return _wait_text(read, before + text) - started


# ---------------------------------------------------------------------- spoken punctuation (--punctuation)

COMMANDS = {"comma": ",", "period": ".", "question mark": "?", "new line": "\n", "new paragraph": "\n\n",
            "scratch that": ""}
SENTENCES = ["The meeting moved to Thursday", "Send the report to the whole team", "How long will the build take",
             "Call me when you land"]
# Held out (--held-out): sentences and a voice the mishearing table was not derived from.
HELD_OUT = ["The printer on the third floor is out of paper", "We should book the tickets tonight",
            "Where did you park the car", "The invoice is attached"]
# Sentences that end in a real word close to a command: the word must be typed, never a mark.
REAL_WORDS = ["I left a comment", "Leave a comment on it", "It was a long period", "We need a new line",
              "That is a good question", "No comment"]
HOTWORDS = "comma period question mark new line new paragraph scratch that"
# A prompt that shows Whisper the commands as words where they are said, at the ends of sentences.
EXAMPLES_PROMPT = ("Dear Sam comma thanks for the notes period Can we meet on Monday question mark new line "
                   "The draft is late scratch that new paragraph")


def _voices() -> dict[str, Any]:
    from tests.speech import speak_16k

    return {
        "piper joe": lambda text: speak_16k(text),
        "espeak en-us": lambda text: espeak(text, "en-us", 130),
        "espeak en-gb": lambda text: espeak(text, "en-gb", 130),
        "espeak en-us+m3": lambda text: espeak(text, "en-us+m3", 150),
        "espeak en-gb-scotland": lambda text: espeak(text, "en-gb-scotland", 140),
    }


def lands(command: str, sentence: str, transcript: str, typed: str) -> bool:
    """The command's mark typed, and no word of it left ("scratch that": nothing typed). No word left: the
    shaping took the transcript's last word away, or Whisper wrote the mark itself (no more words than said):
    an ASR error elsewhere in the sentence is not the command's failure."""
    if command == "scratch that":
        return not re.search(r"[^\W\d_]", typed)
    mark = COMMANDS[command]
    ends = typed.endswith("\n") and not typed.endswith("\n\n") if mark == "\n" else typed.rstrip(" ").endswith(mark)
    heard, left = _words(transcript).split(), _words(typed).split()
    return ends and (not left or not heard or left[-1] != heard[-1] or len(left) <= len(_words(sentence).split()))


def bench_punctuation(text: Any, out: Path, voices: list[str], prompt_names: list[str]) -> None:
    from assistant.turn.dictation import dictation_prompt
    from assistant.turn.misheard import Restorer
    from assistant.turn.shaping import Shaper

    # Dictation's own prompt; "hotwords": the bare list before it, as faster-whisper 1.2's `hotwords` would put
    # it (the same slot, before the prompt: its get_prompt); "examples": the commands said in sentences.
    prompts = {"dictation": dictation_prompt(()), "hotwords": HOTWORDS + " " + dictation_prompt(()),
               "examples": EXAMPLES_PROMPT}
    prompts = {name: prompts[name] for name in prompt_names}
    shapers = {"before": Restorer.off, "after": Restorer}
    heard: list[dict[str, Any]] = []
    for voice, say in ((v, _voices()[v]) for v in voices):
        audio = {s: say(s) for s in [f"{s} {c}" for s in SENTENCES for c in COMMANDS] + REAL_WORDS}
        for said, clip in audio.items():
            row: dict[str, Any] = {"voice": voice, "said": said, "transcripts": {}, "typed": {}}
            for prompt, words in prompts.items():
                transcript = text(clip, words)
                row["transcripts"][prompt] = transcript
                for shaper, restore in shapers.items():
                    row["typed"][f"{prompt}/{shaper}"] = Shaper(restore=restore()).phrase(transcript).text
            heard.append(row)
            print(f"{voice:<16} {said!r:<48} {row['transcripts']}", flush=True)
    configs = [f"{p}/{s}" for p in prompts for s in shapers]
    landing: dict[str, dict[str, dict[str, float]]] = {}
    for command in COMMANDS:
        for voice in voices:
            rows = [r for r in heard if r["voice"] == voice and r["said"] in {f"{s} {command}" for s in SENTENCES}]
            landing.setdefault(command, {})[voice] = {
                c: sum(lands(command, r["said"][: -len(command) - 1], r["transcripts"][c.split("/")[0]], r["typed"][c])
                       for r in rows) / len(rows)
                for c in configs
            }
    kept = [{"voice": r["voice"], "said": r["said"], **{c: r["typed"][c] for c in configs},
             **{f"{c} kept": len(_words(r["typed"][c])) >= len(_words(r["transcripts"][c.split("/")[0]])) for c in configs}}
            for r in heard if r["said"] in REAL_WORDS]
    print(f"\n{'command':<14} {'voice':<16} " + " ".join(f"{c:>17}" for c in configs))
    for command, per_voice in landing.items():
        for voice, rates in per_voice.items():
            print(f"{command:<14} {voice:<16} " + " ".join(f"{rates[c]:>17.2f}" for c in configs))
    total = {c: statistics.fmean(v[c] for vs in landing.values() for v in vs.values()) for c in configs}
    for voice in voices:
        mean = {c: statistics.fmean(landing[command][voice][c] for command in COMMANDS) for c in configs}
        print(f"{'all':<14} {voice:<16} " + " ".join(f"{mean[c]:>17.2f}" for c in configs))
    print(f"{'all':<14} {'all':<16} " + " ".join(f"{total[c]:>17.2f}" for c in configs))
    print("\nreal words that must stay (kept/all):",
          {c: f"{sum(k[f'{c} kept'] for k in kept)}/{len(kept)}" for c in configs})
    for k in kept:
        lost = [c for c in configs if not k[f"{c} kept"]]
        if lost:
            print(f"  turned into a mark: {k['voice']} {k['said']!r} under {lost}: {[k[c] for c in lost]}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"prompts": prompts, "landing": landing, "total": total, "real_words": kept,
                               "heard": heard}, indent=2))
    print(f"wrote {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--punctuation", action="store_true", help="spoken punctuation per voice, before and after")
    parser.add_argument("--voices", default="piper joe,espeak en-us,espeak en-gb,espeak en-us+m3")
    parser.add_argument("--prompts", default="dictation,hotwords")
    parser.add_argument("--held-out", action="store_true", help="other sentences than the table was derived from")
    args = parser.parse_args()
    if args.punctuation:
        if args.held_out:
            SENTENCES[:] = HELD_OUT
        asr = WholeAsr()
        try:
            bench_punctuation(asr.text, args.out or ROOT / "bench-results" / "bench_punctuation.json",
                              args.voices.split(","), args.prompts.split(","))
        finally:
            asr.close()
        return
    args.out = args.out or ROOT / "bench-results" / "bench_dictate.json"
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        pulse = Pulse(Path(tmp) / "pulse")
        os.environ.update(pulse.env)
        asr = WholeAsr()
        try:
            if not X11_MISSING:
                server = Xvfb()
                term = Xterm(server.display, Path(tmp) / "xterm.txt")
                try:
                    env = {**os.environ, "DISPLAY": server.display}
                    for live in (False, True):
                        results.append(bench_method("xtest", env, term.text, Xtest(env), pulse, args.runs, live, asr))
                    results.append(bench_method("xdotool", env, term.text, Xdotool(env), pulse, args.runs, False, asr))
                    results.append(bench_method("clipboard", env, term.text, Clipboard(env), pulse, args.runs, False, asr))
                finally:
                    term.stop()
                    server.stop()
            if not SWAY_MISSING:
                sway = Sway()
                try:
                    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
                    env["WAYLAND_DISPLAY"] = str(sway.runtime / "wayland-1")
                    for live in (False, True):
                        results.append(bench_method("wtype", env, sway.text, Wtype(env), pulse, args.runs, live, asr))
                finally:
                    sway.stop()
        finally:
            asr.close()
            pulse.close()
    print(f"{'method':<10} {'live':<5} {'release→last char':>18} {'p95':>7} {'÷ floor':>8} {'chars/s':>8} {'WER':>6}")
    for r in results:
        print(f"{r['method']:<10} {str(r['live']).lower():<5} {r['release_to_last_char_median_s']:>16.3f} s {r['release_to_last_char_p95_s']:>6.3f} "
              f"{r['ratio_to_floor_median']:>8.2f} {r['chars_per_s_median']:>8.0f} {r['wer_mean']:>6.3f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"results": results}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
