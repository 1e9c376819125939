#!/usr/bin/env python3
"""Benchmark the Realtime API's transcription sessions against the same work in-process, the file endpoint,
and the desktop's push-to-talk, on the real embedded models.

    .venv/bin/python scripts/bench_realtime.py [--runs 2] [--out FILE]

One process: the arbiter and its workers, the API served on loopback from the same event loop (as in the
daemon). Each clip (Piper, 16 kHz) is sent at real-time pace in 100 ms appends, then 2 s of quiet (as a
microphone goes on sending: server_vad's 500 ms come after pymicro-vad's hang-over of up to 0.4 s on
some of Piper's takes, so 1 s of quiet was not always enough for the end to be heard at all); per
clip, interleaved so drift hits all alike:
  realtime ws      the official SDK's realtime client over the WebSocket, server_vad (silence 500 ms)
  realtime direct  the same session code in-process (no WebSocket): what the socket adds is the difference
  file             POST /v1/audio/transcriptions with the whole clip once the speech is over
  push-to-talk     the desktop's streaming transcriber fed the same blocks, released 0.3 s after the speech
Each reports speech end → final transcript (median, p95). The sessions also report speech start → first
delta, and deltas per 2 s of speech (on the long clip). Targets: the WebSocket adds at most 10 ms at the median; at least
one delta per 2 s of speech.

Spoken replies, per clip, the current LLM and voice:
  conversation server_vad    a conversation session (SDK client), server_vad (silence 500 ms): speech end →
                             the first response.output_audio.delta
  conversation semantic_vad  the same, ended by the end-of-turn model
  desktop turn               the desktop's pipeline on the same clip, from the key's release at the speech's
                             end to its first audio (no end detection to wait for)
Target: a conversation's first audio at most 1.1x the desktop turn's, at the median.

The figures depend on the CPU: on this 2-core machine one tiny.en pass over a few seconds takes about
0.3 to 0.6 s, and a pass runs after each second of new speech.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402
import numpy as np  # noqa: E402
import soundfile  # noqa: E402

from assistant.audio.files import resample  # noqa: E402
from assistant.audio.sinks import CollectingSink  # noqa: E402
from assistant.config.api import ApiSettings  # noqa: E402
from assistant.config.settings import Config  # noqa: E402
from assistant.core.speech import SAMPLE_RATE, Audio  # noqa: E402
from assistant.hosts.proxies import Asr  # noqa: E402
from assistant.openai_api import start_api  # noqa: E402
from assistant.openai_api.realtime_config import SessionConfig  # noqa: E402
from assistant.openai_api.realtime_events import Append  # noqa: E402
from assistant.openai_api.realtime_session import TranscriptionSession  # noqa: E402
from assistant.turn.assistant import Assistant  # noqa: E402
from assistant.turn.streaming_asr import ANSWER_PAUSE_S, StreamingTranscriber  # noqa: E402
from assistant.turn.utterance import Utterance  # noqa: E402
from assistant.vram.meter import SimulatedMeter  # noqa: E402
from scripts.bench_turn import QUESTIONS, speak_questions  # noqa: E402

LONG = "The quick brown fox jumps over the lazy dog, and then it runs across the wide green field to find its friends."
STEP_S = 0.1
COMPLETED = "conversation.item.input_audio_transcription.completed"
DELTA = "conversation.item.input_audio_transcription.delta"


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, -(-len(ordered) * 95 // 100) - 1)]


def pcm24(audio: Audio) -> bytes:
    return (np.clip(resample(audio, SAMPLE_RATE, 24_000), -1, 1) * 32767).astype("<i2").tobytes()


class Timeline:
    """When the speech started and ended being sent, and when each event came back."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.speech_end = 0.0
        self.events: list[tuple[float, dict[str, Any]]] = []

    def add(self, event: dict[str, Any]) -> None:
        self.events.append((time.perf_counter() - self.start, event))

    def done(self) -> bool:
        return any(e["type"] == COMPLETED for _, e in self.events)

    def figures(self, lead_s: float, speech_s: float) -> dict[str, float | None]:
        done = [at for at, e in self.events if e["type"] == COMPLETED]
        if not done:
            raise RuntimeError(f"no transcript came back: {[e['type'] for _, e in self.events]} {self.events[-1]}")
        completed = done[0]
        deltas = [at for at, e in self.events if e["type"] == DELTA]
        early = [at for at in deltas if at <= self.speech_end]
        return {
            "end_to_final_s": completed - self.speech_end,
            "first_delta_after_start_s": (deltas[0] - lead_s) if deltas else None,
            "deltas_per_2s": len(early) / (speech_s / 2),
        }


async def paced(audio_parts: list[Audio], send: Any, timeline: Timeline) -> None:
    """Speech then quiet, 100 ms at a time at real-time pace; the speech's end is marked."""
    for index, audio in enumerate(audio_parts):
        step = int(STEP_S * SAMPLE_RATE)
        for offset in range(0, len(audio), step):
            await send(audio[offset : offset + step])
            await asyncio.sleep(STEP_S)
        if index == 1:
            timeline.speech_end = time.perf_counter() - timeline.start


async def main(runs: int, out: Path) -> dict[str, Any]:
    assistant = Assistant.create(Config.load(), SimulatedMeter(total_gb=16), persist=False)
    models, arbiter = assistant.models, assistant.arbiter
    server = None
    rows: dict[str, list[dict[str, float | None]]] = {"ws": [], "direct": [], "file": [], "ptt": []}
    replies: dict[str, list[float]] = {"server_vad": [], "semantic_vad": [], "desktop": []}
    lead, quiet = np.zeros(int(0.5 * SAMPLE_RATE), np.float32), np.zeros(2 * SAMPLE_RATE, np.float32)
    try:
        await arbiter.ensure(models.asr)
        clips = await speak_questions(assistant, [*QUESTIONS, LONG])
        server = await start_api(ApiSettings(listen="127.0.0.1:0", max_concurrent=4), arbiter, lambda: assistant.models)
        url = server.url

        async def transcribe(audio: Audio, config: SessionConfig) -> str:
            async with arbiter.use(models.asr) as host:
                return (await Asr(host).transcribe(audio)).text

        async def direct(clip: Audio) -> dict[str, float | None]:
            timeline = Timeline()

            async def sent(message: str) -> None:
                timeline.add(json.loads(message))

            session = TranscriptionSession(SessionConfig(rate=24_000), transcribe, sent, 60.0)
            await paced([lead, clip, quiet], lambda a: session.take(Append(pcm24(a))), timeline)
            while not timeline.done():
                await asyncio.sleep(0.01)
            await session.close()
            return timeline.figures(len(lead) / SAMPLE_RATE, len(clip) / SAMPLE_RATE)

        async def websocket(clip: Audio) -> dict[str, float | None]:
            from openai import AsyncOpenAI

            client = AsyncOpenAI(base_url=f"{url}/v1", api_key="unused")
            async with client.realtime.connect(extra_query={"intent": "transcription"}) as connection:
                await connection.session.update(session={"type": "transcription", "audio": {"input": {
                    "format": {"type": "audio/pcm", "rate": 24000}, "turn_detection": {"type": "server_vad"}}}})
                timeline = Timeline()

                async def send(audio: Audio) -> None:
                    await connection.input_audio_buffer.append(audio=base64.b64encode(pcm24(audio)).decode())

                sender = asyncio.create_task(paced([lead, clip, quiet], send, timeline))
                async for event in connection:
                    timeline.add(event.model_dump())
                    if event.type == COMPLETED:
                        break
                await sender
            return timeline.figures(len(lead) / SAMPLE_RATE, len(clip) / SAMPLE_RATE)

        async def file(clip: Audio) -> dict[str, float | None]:
            buffer = io.BytesIO()
            soundfile.write(buffer, clip, SAMPLE_RATE, format="WAV", subtype="PCM_16")
            async with httpx.AsyncClient(base_url=url, timeout=120) as http:
                started = time.perf_counter()
                response = await http.post("/v1/audio/transcriptions", files={"file": ("q.wav", buffer.getvalue())})
                response.raise_for_status()
            return {"end_to_final_s": time.perf_counter() - started}

        async def push_to_talk(clip: Audio) -> dict[str, float | None]:
            heard: list[Audio] = []

            async def asr(audio: Audio) -> Any:
                async with arbiter.use(models.asr) as host:
                    return await Asr(host).transcribe(audio)

            streamer = StreamingTranscriber(asr, lambda: np.concatenate(heard), pause_s=ANSWER_PAUSE_S)
            timeline = Timeline()

            async def feed(audio: Audio) -> None:
                heard.append(audio)
                streamer.on_block(audio, SAMPLE_RATE)

            await paced([np.zeros(0, np.float32), clip, np.zeros(int(0.3 * SAMPLE_RATE), np.float32)], feed, timeline)
            await streamer.finish(np.concatenate(heard))  # released 0.3 s after the speech, as a user lets go
            return {"end_to_final_s": time.perf_counter() - timeline.start - timeline.speech_end}

        async def conversation(clip: Audio, detection: str) -> float:
            from openai import AsyncOpenAI

            client = AsyncOpenAI(base_url=f"{url}/v1", api_key="unused")
            async with client.realtime.connect(model="gpt-realtime") as connection:
                session: Any = {"type": "realtime", "audio": {"input": {
                    "format": {"type": "audio/pcm", "rate": 24000}, "turn_detection": {"type": detection}}}}
                await connection.session.update(session=session)
                timeline = Timeline()

                async def send(audio: Audio) -> None:
                    await connection.input_audio_buffer.append(audio=base64.b64encode(pcm24(audio)).decode())

                sender = asyncio.create_task(paced([lead, clip, quiet], send, timeline))
                async for event in connection:
                    timeline.add(event.model_dump())
                    if event.type in ("response.output_audio.delta", "response.done", "error"):
                        break
                sender.cancel()
                first = [at for at, e in timeline.events if e["type"] == "response.output_audio.delta"]
                if not first:
                    raise RuntimeError(f"no audio came back: {timeline.events[-3:]}")
            return first[0] - timeline.speech_end

        async def desktop(clip: Audio) -> float:
            assistant.conversation.clear()
            result = await assistant.pipeline.turn(Utterance.spoken(clip), assistant.models, CollectingSink())
            assert result.timings.first_audio_s is not None, result
            return float(result.timings.first_audio_s)

        await file(clips[0])  # warm-up: the first inference allocates its buffers
        await desktop(clips[0])  # ... and the LLM and the voice are resident before the first reply measured
        for _ in range(runs):
            for clip in clips:
                for key, measure in (("ws", websocket), ("direct", direct), ("file", file), ("ptt", push_to_talk)):
                    await asyncio.sleep(0.5)  # the previous measure's worker winds down first
                    rows[key].append(await measure(clip))
            for clip in clips[: len(QUESTIONS)]:  # the questions (the long clip is no question)
                for detection in ("server_vad", "semantic_vad"):
                    await asyncio.sleep(0.5)
                    replies[detection].append(await conversation(clip, detection))
                await asyncio.sleep(0.5)
                replies["desktop"].append(await desktop(clip))
        ahead = {"taken": server.counts.guesses_taken, "dropped": server.counts.guesses_dropped}
    finally:
        if server is not None:
            await server.close()
        await assistant.close()

    def stat(key: str, name: str) -> dict[str, float | None]:
        values = [float(v) for row in rows[key] if (v := row.get(name)) is not None]
        return {"median": statistics.median(values) if values else None, "p95": p95(values) if values else None}

    summary = {key: stat(key, "end_to_final_s") for key in rows}
    first = {key: stat(key, "first_delta_after_start_s") for key in ("ws", "direct")}
    # Deltas per 2 s on the long clip (the last of each round): a short question is over before two
    # passes can agree on a word, so its words come at the end.
    long_rows = {key: [row for i, row in enumerate(rows[key]) if i % len(clips) == len(clips) - 1] for key in rows}
    rate = {key: {"median": statistics.median(v) if (v := [float(r["deltas_per_2s"] or 0) for r in long_rows[key]])
                  else None} for key in ("ws", "direct")}
    ws_median, direct_median = summary["ws"]["median"], summary["direct"]["median"]
    report = {
        "runs": runs, "clips": len(clips), "end_to_final": summary, "first_delta_after_speech_start": first,
        "deltas_per_2s_of_speech": rate,
        "ws_added_median_ms": (ws_median - direct_median) * 1000 if ws_median is not None and direct_median is not None else None,
        "targets": {"ws_added_median_ms_max": 10, "deltas_per_2s_min": 1, "first_audio_ratio_max": 1.1},
        "first_audio": {key: {"median": statistics.median(values), "p95": p95(values)} for key, values in replies.items()},
        "first_audio_ratio": {key: statistics.median(replies[key]) / statistics.median(replies["desktop"])
                              for key in ("server_vad", "semantic_vad")},
        "answered_ahead": ahead, "rows": rows, "reply_rows": replies,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    return report


def print_table(report: dict[str, Any]) -> None:
    print(f"{'path':<16} {'speech end → final':>19} {'p95':>8} {'first delta':>12} {'deltas / 2 s':>13}")
    labels = {"ws": "realtime ws", "direct": "realtime direct", "file": "file endpoint", "ptt": "push-to-talk"}
    for key, label in labels.items():
        s = report["end_to_final"][key]
        first = report["first_delta_after_speech_start"].get(key, {}).get("median")
        rate = report["deltas_per_2s_of_speech"].get(key, {}).get("median")
        print(f"{label:<16} {s['median']:>18.3f}s {s['p95']:>7.3f}s "
              f"{(f'{first:.2f}s' if first is not None else '-'):>12} {(f'{rate:.2f}' if rate is not None else '-'):>13}")
    print(f"\n{'spoken reply':<26} {'speech end → first audio':>25} {'p95':>8} {'vs desktop':>11}")
    for key, label in (("server_vad", "conversation server_vad"), ("semantic_vad", "conversation semantic_vad"),
                       ("desktop", "desktop turn (release)")):
        s = report["first_audio"][key]
        ratio = report["first_audio_ratio"].get(key)
        print(f"{label:<26} {s['median']:>24.3f}s {s['p95']:>7.3f}s {(f'{ratio:.2f}x' if ratio else '-'):>11}")
    added = report["ws_added_median_ms"]
    print(f"the WebSocket adds {added:.1f} ms at the median (target: at most 10 ms); deltas per 2 s of speech "
          "(the long clip): target at least 1")
    print(f"conversation answers made ahead at a pause: {report['answered_ahead']['taken']} taken, "
          f"{report['answered_ahead']['dropped']} dropped")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("bench-results/bench_realtime.json"))
    args = parser.parse_args()
    print_table(asyncio.run(main(args.runs, args.out)))
    print(f"wrote {args.out}")
