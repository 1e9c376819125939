#!/usr/bin/env python3
"""Benchmark the OpenAI-compatible API against the same work done in-process, on the real embedded models.

    .venv/bin/python scripts/bench_api.py [--runs 5] [--out FILE]

One process: the arbiter and its workers, the API served on loopback from the same event loop (as in
the daemon), and an httpx client in a thread. Per request, interleaved so drift hits both alike:
  transcription  a spoken WAV: decode + resample + ASR in-process, or POST /v1/audio/transcriptions
  speech         time to the first audio bytes: the voice's first chunk as 24 kHz PCM in-process, or the
                 first body bytes of POST /v1/audio/speech (response_format pcm, streamed)
  chat           time to the first token: the LLM's first text delta in-process, or the first content
                 delta of POST /v1/chat/completions with stream=true
Prints a table of medians and p95s, and what the HTTP layer adds at the median (target: at most 10 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import statistics
import sys
import time
from contextlib import aclosing
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402
import soundfile  # noqa: E402

from assistant.audio.files import decode_audio, resample  # noqa: E402
from assistant.config.api import ApiSettings  # noqa: E402
from assistant.config.settings import Config  # noqa: E402
from assistant.core.chat import TextDelta  # noqa: E402
from assistant.core.speech import SAMPLE_RATE  # noqa: E402
from assistant.hosts.proxies import Asr, Llm, Tts  # noqa: E402
from assistant.openai_api import start_api  # noqa: E402
from assistant.openai_api.formats import SpeechFormat, chunk_bytes  # noqa: E402
from assistant.turn.assistant import Assistant  # noqa: E402
from assistant.vram.meter import SimulatedMeter  # noqa: E402
from scripts.bench_turn import QUESTIONS, speak_questions  # noqa: E402

REPLY_TEXT = "The sky looks blue because the air scatters blue light more than red. It is called Rayleigh scattering."


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, -(-len(ordered) * 95 // 100) - 1)]


def wav_bytes(audio: Any) -> bytes:
    out = io.BytesIO()
    soundfile.write(out, audio, SAMPLE_RATE, format="WAV", subtype="PCM_16")
    return out.getvalue()


async def main(runs: int, out: Path) -> dict[str, Any]:
    assistant = Assistant.create(Config.load(), SimulatedMeter(total_gb=16), persist=False)
    models, arbiter = assistant.models, assistant.arbiter
    server = None
    try:
        for kind in ("asr", "llm", "tts"):
            await arbiter.ensure(getattr(models, kind))
        clips = [wav_bytes(clip) for clip in await speak_questions(assistant)]
        server = await start_api(ApiSettings(listen="127.0.0.1:0", max_concurrent=4), arbiter, lambda: assistant.models)
        http = httpx.Client(base_url=server.url, timeout=120)

        async def asr_direct(wav: bytes) -> float:
            started = time.perf_counter()
            samples, rate = decode_audio(wav)
            async with arbiter.use(models.asr) as host:
                await Asr(host).transcribe(resample(samples, rate, SAMPLE_RATE))
            return time.perf_counter() - started

        def asr_http(wav: bytes) -> float:
            started = time.perf_counter()
            response = http.post("/v1/audio/transcriptions", files={"file": ("q.wav", wav)})
            response.raise_for_status()
            return time.perf_counter() - started

        async def tts_direct() -> float:
            started = time.perf_counter()
            async with arbiter.use(models.tts) as host, aclosing(Tts(host).synthesize(REPLY_TEXT.split(". ")[0] + ".")) as s:
                async for chunk in s:
                    chunk_bytes(chunk.samples, chunk.sample_rate, SpeechFormat.PCM)
                    break
            return time.perf_counter() - started

        def tts_http() -> float:
            started = time.perf_counter()
            body = {"input": REPLY_TEXT, "response_format": "pcm"}
            with http.stream("POST", "/v1/audio/speech", json=body) as response:
                for _ in response.iter_raw():
                    break
            return time.perf_counter() - started

        async def chat_direct(question: str) -> float:
            messages = [{"role": "user", "content": question}]
            started = time.perf_counter()
            async with arbiter.use(models.llm) as host, aclosing(Llm(host).chat(messages)) as events:  # type: ignore[list-item]
                async for event in events:
                    if isinstance(event, TextDelta) and event.text:
                        break
            return time.perf_counter() - started

        def chat_http(question: str) -> float:
            body = {"messages": [{"role": "user", "content": question}], "stream": True}
            started = time.perf_counter()
            with http.stream("POST", "/v1/chat/completions", json=body) as response:
                for line in response.iter_lines():
                    if line.startswith("data:") and '"content": "' in line and '"content": ""' not in line:
                        break
            return time.perf_counter() - started

        rows: dict[str, list[float]] = {key: [] for key in (
            "transcription_direct", "transcription_http", "speech_direct", "speech_http", "chat_direct", "chat_http")}
        await asr_direct(clips[0])
        await asyncio.to_thread(asr_http, clips[0])  # warm-up: first inference allocates buffers
        for _ in range(runs):
            for question, wav in zip(QUESTIONS, clips):
                # A different first word each time: the LLM's cache then holds only the shared prefix (the
                # template) for either path, never the whole prompt the other one just evaluated.
                n = len(rows["chat_direct"])
                for key, measure in (
                    ("transcription_direct", lambda: asr_direct(wav)),
                    ("transcription_http", lambda: asyncio.to_thread(asr_http, wav)),
                    ("speech_direct", tts_direct),
                    ("speech_http", lambda: asyncio.to_thread(tts_http)),
                    ("chat_direct", lambda: chat_direct(f"Question {n}: {question}")),
                    ("chat_http", lambda: asyncio.to_thread(chat_http, f"Query {n}: {question}")),
                ):
                    # Each measure stops its stream at the first audio or token; the worker then winds the
                    # rest down. Let it, so the next measure does not share the CPU with it.
                    await asyncio.sleep(0.5)
                    rows[key].append(await measure())
        http.close()
    finally:
        if server is not None:
            await server.close()
        await assistant.close()
    summary = {key: {"median_s": statistics.median(v), "p95_s": p95(v)} for key, v in rows.items()}
    added = {
        name: summary[f"{name}_http"]["median_s"] - summary[f"{name}_direct"]["median_s"]
        for name in ("transcription", "speech", "chat")
    }
    report = {"runs": runs, "requests_per_kind": len(rows["chat_http"]), "summary": summary,
              "http_added_median_s": added, "rows": rows}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    return report


def print_table(report: dict[str, Any]) -> None:
    s = report["summary"]
    print(f"{'request':<15} {'in-process':>11} {'p95':>8} {'over HTTP':>10} {'p95':>8} {'HTTP adds':>10}")
    for name, label in (("transcription", "transcription"), ("speech", "speech 1st byte"), ("chat", "chat 1st token")):
        d, h = s[f"{name}_direct"], s[f"{name}_http"]
        print(f"{label:<15} {d['median_s']:>10.3f}s {d['p95_s']:>7.3f}s {h['median_s']:>9.3f}s {h['p95_s']:>7.3f}s"
              f" {report['http_added_median_s'][name] * 1000:>8.1f}ms")
    print("target: the HTTP layer adds at most 10 ms at the median")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("bench-results/bench_api.json"))
    args = parser.parse_args()
    print_table(asyncio.run(main(args.runs, args.out)))
    print(f"wrote {args.out}")
