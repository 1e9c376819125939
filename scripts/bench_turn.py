#!/usr/bin/env python3
"""Benchmark one voice turn: streamed pipeline vs naive sequential vs the floor, on the real embedded models.

    .venv/bin/python scripts/bench_turn.py [--runs 3] [--pulse [--release-gap 0.15,0.3,0.6]] [--out FILE]

Per spoken question and run it measures, on warm workers:
  streamed   the real pipeline: time to first audio, per-stage timings
  naive      full transcript, then the full reply, then the full synthesis (first audio = the end)
  floor      ASR alone + LLM alone to its first sentence + TTS alone of that sentence
  intent     a spoken command the local intents answer (no LLM): the real pipeline, to first audio
  intent_floor  ASR alone + TTS alone of that command's first reply sentence (the target: intent <= 1.15x this)
  voice      with --pulse: through a private PulseAudio, the question spoken into the virtual mic at
             real-time pace while the key is held, released --release-gap seconds after the last word
             (each of them, in one run: people let go of a key at different moments); from the
             release to the first reply sample handed to the sound device. The daemon transcribes
             at pauses, prefills the LLM and answers ahead (turn/speculation.py) while the key is
             held. The table's voice rows are at 0.3 s (or the first gap given); the JSON's
             "by_release_gap" has each gap's ratios, median and p95, the share of guessed turns
             whose guess was the reply played, the seconds of discarded guesses per turn, and WER.
  voice_sequential  the same, with that work left until the release (the baseline)
Prints one table of medians and writes JSON. With --pulse also: per question the voice-to-voice
median and p95, and the word error rate of the final transcripts against whole-utterance ASR.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from contextlib import aclosing
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assistant.audio.files import resample  # noqa: E402
from assistant.audio.sinks import CollectingSink  # noqa: E402
from assistant.config.settings import Config  # noqa: E402
from assistant.core.chat import TextDelta  # noqa: E402
from assistant.core.events import ignore  # noqa: E402
from assistant.core.speech import SAMPLE_RATE  # noqa: E402
from assistant.tools.numbers import spoken  # noqa: E402
from assistant.turn.assistant import Assistant  # noqa: E402
from assistant.turn.sentences import SentenceSplitter  # noqa: E402
from assistant.turn.utterance import Utterance  # noqa: E402
from assistant.vram.meter import SimulatedMeter  # noqa: E402
from tests.speech import wer  # noqa: E402

QUESTIONS = [
    "Why is the sky blue?",
    "How do I make a cup of tea?",
    "Tell me something about the moon.",
    "What should I cook for dinner tonight?",
    "How far away is the sun?",
]
# Commands the local intents answer without the LLM (and without side effects on this machine).
COMMANDS = ["What time is it in Tokyo?", "What is twelve times seven?"]


async def speak_questions(assistant: Assistant, questions: list[str] = QUESTIONS) -> list[Any]:
    clips = []
    async with assistant.arbiter.use(assistant.models.tts) as tts:
        for question in questions:
            chunks = [c async for c in tts.stream("synthesize", text=question)]
            audio = resample(CollectingSink.join(chunks), chunks[0].sample_rate, SAMPLE_RATE)
            clips.append(audio)
    return clips


async def streamed(assistant: Assistant, audio: Any) -> dict[str, Any]:
    assistant.conversation.clear()
    result = await assistant.pipeline.turn(Utterance.spoken(audio), assistant.models, CollectingSink())
    return {"first_audio_s": result.timings.first_audio_s, **result.timings.as_dict(), "reply": result.reply}


async def asr_alone(assistant: Assistant, audio: Any) -> tuple[float, list[Any]]:
    """ASR seconds, and the messages the LLM gets for what was heard, in a fresh conversation."""
    assistant.conversation.clear()
    started = time.perf_counter()
    transcript = await assistant.pipeline.transcribe(audio, assistant.models.asr)
    return time.perf_counter() - started, assistant.conversation.messages(transcript.text)


def heard(messages: list[Any]) -> str:
    """The user's words in messages built by asr_alone."""
    return str(messages[-1]["content"])


async def naive(assistant: Assistant, audio: Any) -> dict[str, Any]:
    started = time.perf_counter()
    asr, messages = await asr_alone(assistant, audio)
    async with assistant.arbiter.use(assistant.models.llm) as llm:
        reply = "".join([e.text async for e in llm.stream("chat", messages=messages) if isinstance(e, TextDelta)])
    llm_s = time.perf_counter() - started - asr
    async with assistant.arbiter.use(assistant.models.tts) as tts:
        chunks = [c async for c in tts.stream("synthesize", text=reply)]
    total = time.perf_counter() - started
    return {"first_audio_s": total, "asr_s": asr, "llm_s": llm_s, "tts_s": total - asr - llm_s, "chunks": len(chunks)}


async def floor(assistant: Assistant, audio: Any, question: str = "") -> dict[str, Any]:
    asr, messages = await asr_alone(assistant, audio)
    splitter = SentenceSplitter()
    first = ""
    started = time.perf_counter()
    async with assistant.arbiter.use(assistant.models.llm) as llm, aclosing(llm.stream("chat", messages=messages)) as deltas:
        async for event in deltas:
            if not isinstance(event, TextDelta):
                continue
            pieces = splitter.feed(event.text)
            if pieces:
                first = pieces[0]
                break
    first = first or (splitter.flush() or [""])[0]
    llm_first = time.perf_counter() - started
    started = time.perf_counter()
    async with assistant.arbiter.use(assistant.models.tts) as tts, aclosing(tts.stream("synthesize", text=first)) as chunks:
        async for _ in chunks:
            break  # the first chunk is when audio could start
    tts_first = time.perf_counter() - started
    return {
        "first_audio_s": asr + llm_first + tts_first,
        "asr_s": asr,
        "llm_first_sentence_s": llm_first,
        "tts_s": tts_first,
        "question": question,
        "transcript": heard(messages),  # whole-utterance ASR: the reference for the streamed transcripts
        "wer": wer(question, heard(messages)) if question else None,
    }


async def intent(assistant: Assistant, audio: Any) -> dict[str, Any]:
    assistant.conversation.clear()
    result = await assistant.pipeline.turn(Utterance.spoken(audio), assistant.models, CollectingSink())
    if not result.tools or result.tools[0].route != "intent":
        raise SystemExit(f"the local intents did not take {result.transcript!r}: fix the command list")
    t = result.timings
    return {"first_audio_s": t.first_audio_s, "asr_s": t.asr_s, "tts_first_chunk_s": t.tts_first_chunk_s, "reply": result.reply}


async def intent_floor(assistant: Assistant, audio: Any) -> dict[str, Any]:
    """ASR alone, then TTS alone of the reply's first sentence; matching and the tool run off the clock."""
    started = time.perf_counter()
    transcript = await assistant.pipeline.transcribe(audio, assistant.models.asr)
    asr = time.perf_counter() - started
    assert assistant.pipeline.intents is not None
    matcher = assistant.pipeline.intents.loaded()[0]
    assert matcher is not None
    match = matcher.match(transcript.text)
    assert match is not None, transcript.text
    answer = await assistant.tools.call(match.tool, match.arguments, "intent", [])
    first = (SentenceSplitter().feed(answer.text + " ") or [answer.text])[0]
    started = time.perf_counter()
    async with assistant.arbiter.use(assistant.models.tts) as tts, aclosing(tts.stream("synthesize", text=spoken(first))) as chunks:
        async for _ in chunks:
            break
    tts_first = time.perf_counter() - started
    return {"first_audio_s": asr + tts_first, "asr_s": asr, "tts_s": tts_first}


async def voice_rows(
    assistant: Assistant, clips: list[Any], runs: int, gaps: list[float]
) -> dict[str, list[dict[str, Any]]]:
    """Real audio: the mic is a fifo-fed PulseAudio source (fed at real-time pace), the speaker a null sink."""
    import os
    import tempfile

    from assistant.audio.io import AudioIO
    from assistant.turn.turns import Turns
    from tests.pulse import Pulse, reinit_portaudio

    pulse = Pulse(Path(tempfile.mkdtemp(prefix="bench-pulse-")))
    os.environ.update(pulse.env)
    reinit_portaudio()
    audio = AudioIO(assistant.config.settings.audio, ignore)
    await audio.open()
    sinks: list[Any] = []
    make_sink = audio.sink

    def recording_sink() -> Any:
        sinks.append(make_sink())
        return sinks[-1]

    audio.sink = recording_sink  # type: ignore[method-assign]
    modes = {"voice": Turns(assistant, audio, ignore), "voice_sequential": Turns(assistant, audio, ignore, overlap=False)}
    rows: dict[str, list[dict[str, Any]]] = {mode: [] for mode in modes}
    try:
        for _ in range(runs):
            # Each mode runs through all the questions in turn. Asking one question in both modes back
            # to back would leave its whole prompt in the LLM's cache for the second, which then
            # evaluates one token: a head start no user gets.
            for gap, (mode, turns) in ((gap, item) for gap in gaps for item in modes.items()):
                for question, clip in zip(QUESTIONS, clips):
                    assistant.conversation.clear()
                    await turns.press()
                    pulse.mic.feed(clip)  # the feeder writes it at real-time pace, as a person speaks
                    await asyncio.to_thread(pulse.mic.wait)
                    await asyncio.sleep(gap)  # the key goes up a moment after the last word
                    released = time.perf_counter()
                    await turns.release()
                    # The whole reply plays: cutting it short would also cut the LLM's cache short, and the
                    # next turn would start slower than a user's does.
                    record = await next(iter(turns._speaking))
                    first = sinks[-1].first_sample_time
                    print(f"  {mode}, release {gap:g} s after the last word: {question!r}", file=sys.stderr, flush=True)
                    timings = record.timings  # a TurnRecord
                    rows[mode].append({
                        "release_gap_s": gap,
                        "first_audio_s": first - released if first else None,
                        "pipeline_first_audio_s": timings["first_audio_s"],
                        "asr_s": timings["asr_s"],
                        "llm_first_token_s": timings["llm_first_token_s"],
                        "llm_first_sentence_s": timings["llm_first_sentence_s"],
                        "tts_first_chunk_s": timings["tts_first_chunk_s"],
                        "prompt_evaluated": timings.get("prompt_evaluated"),
                        "prompt_reused": timings.get("prompt_reused"),
                        "asr_partials": timings.get("asr_partials"),
                        "asr_tail_audio_s": timings.get("asr_tail_audio_s"),
                        "speculations": timings.get("speculations"),
                        "speculation_hit": (
                            None if not timings.get("speculations") else float(timings.get("speculation_ahead_s") is not None)
                        ),
                        "speculation_ahead_s": timings.get("speculation_ahead_s"),
                        "speculation_wasted_s": timings.get("speculation_wasted_s"),
                        "question": question,
                        "transcript": record.transcript,
                        "wer": wer(question, record.transcript),
                    })
    finally:
        audio.close()
        pulse.close()
    return rows


TEXT_KEYS = ("reply", "chunks", "question", "transcript")


def median(rows: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in rows if r.get(key) is not None]
    return statistics.median(values) if values else None


def p95(values: list[float]) -> float | None:
    """Nearest rank: with a handful of runs, the slowest but one or the slowest."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, -(-len(ordered) * 95 // 100) - 1)]


def per_question(rows: list[dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    table = {}
    for question in QUESTIONS:
        values = [r["first_audio_s"] for r in rows if r["question"] == question and r["first_audio_s"] is not None]
        table[question] = {"median_s": statistics.median(values) if values else None, "p95_s": p95(values)}
    return table


def mean_wer(rows: list[dict[str, Any]]) -> float | None:
    values = [r["wer"] for r in rows if r.get("wer") is not None]
    return statistics.mean(values) if values else None


def by_release_gap(voice: dict[str, list[dict[str, Any]]], floor_s: float) -> dict[str, dict[str, float | None]]:
    """Per gap: voice and voice_sequential against the floor, median and p95 (the issue's JSON shape)."""
    out: dict[str, dict[str, float | None]] = {}
    for gap in sorted({r["release_gap_s"] for r in voice["voice"]}):
        entry: dict[str, float | None] = {}
        for mode, key in (("voice", "ratio_voice_to_floor"), ("voice_sequential", "ratio_voice_sequential_to_floor")):
            values = [r["first_audio_s"] for r in voice[mode] if r["release_gap_s"] == gap and r["first_audio_s"] is not None]
            entry[key] = statistics.median(values) / floor_s if values else None
            worst = p95(values)
            entry[f"{key}_p95"] = worst / floor_s if worst is not None else None
            if mode == "voice":
                entry["voice_median_s"] = statistics.median(values) if values else None
                entry["voice_p95_s"] = worst
        rows = [r for r in voice["voice"] if r["release_gap_s"] == gap]
        guessed = [r for r in rows if r.get("speculations")]
        # Over the turns where a guess was made while the key was held: how often it was the reply played,
        # and the seconds of work the discarded ones cost (per turn, all its discarded guesses).
        entry["speculation_hit_rate"] = statistics.mean(r["speculation_hit"] for r in guessed) if guessed else None
        entry["speculation_wasted_s"] = statistics.mean(r["speculation_wasted_s"] or 0.0 for r in rows) if rows else None
        entry["speculation_turns"] = len(guessed)
        entry["wer"] = mean_wer(rows)
        out[f"{gap:g}"] = entry
    return out


async def main(runs: int, out: Path, with_pulse: bool = False, gaps: tuple[float, ...] = (0.3,)) -> dict[str, Any]:
    config = Config.load()
    assistant = Assistant.create(config, SimulatedMeter(total_gb=16), persist=False)
    try:
        for kind in ("asr", "llm", "tts"):
            await assistant.arbiter.ensure(getattr(assistant.models, kind))
        clips = await speak_questions(assistant)
        commands = await speak_questions(assistant, COMMANDS)
        await floor(assistant, clips[0])  # warm-up: first inference allocates buffers
        rows: dict[str, list[dict[str, Any]]] = {"streamed": [], "naive": [], "floor": []}
        for _ in range(runs):
            for question, clip in zip(QUESTIONS, clips):
                # Interleave the three modes so drift on a noisy machine hits them alike.
                rows["floor"].append(await floor(assistant, clip, question))
                rows["streamed"].append(await streamed(assistant, clip))
                rows["naive"].append(await naive(assistant, clip))
            for clip in commands:
                rows.setdefault("intent_floor", []).append(await intent_floor(assistant, clip))
                rows.setdefault("intent", []).append(await intent(assistant, clip))
        voice: dict[str, list[dict[str, Any]]] = {}
        if with_pulse:
            voice = await voice_rows(assistant, clips, runs, list(gaps))
            reference = 0.3 if 0.3 in gaps else gaps[0]  # the gap the table and the older figures use
            rows.update({mode: [r for r in found if r["release_gap_s"] == reference] for mode, found in voice.items()})
    finally:
        await assistant.close()
    summary = {mode: {k: median(r, k) for k in r[0] if k not in TEXT_KEYS} for mode, r in rows.items()}
    first = {mode: summary[mode]["first_audio_s"] for mode in rows}
    report = {
        "runs": runs,
        "questions": QUESTIONS,
        "models": dict(assistant.models.__dict__),
        "median": summary,
        "ratio_streamed_to_naive": first["streamed"] / first["naive"],
        "ratio_streamed_to_floor": first["streamed"] / first["floor"],
        "ratio_voice_to_floor": first["voice"] / first["floor"] if "voice" in first else None,
        "commands": COMMANDS,
        "ratio_intent_to_floor": first["intent"] / first["intent_floor"],
        "ratio_voice_sequential_to_floor": (
            first["voice_sequential"] / first["floor"] if "voice_sequential" in first else None
        ),
        "voice_per_question": {mode: per_question(rows[mode]) for mode in ("voice", "voice_sequential") if mode in rows},
        "voice_p95_s": {
            mode: p95([r["first_audio_s"] for r in rows[mode] if r["first_audio_s"] is not None])
            for mode in ("voice", "voice_sequential")
            if mode in rows
        },
        "wer": {
            "whole_utterance": mean_wer(rows["floor"]),
            **{mode: mean_wer(rows[mode]) for mode in ("voice", "voice_sequential") if mode in rows},
        },
        "by_release_gap": by_release_gap(voice, first["floor"]) if voice else None,
        "rows": rows,
        "voice_rows_all_gaps": voice or None,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    return report


def print_table(report: dict[str, Any]) -> None:
    med = report["median"]
    print(f"{'mode':<10} {'first audio':>12} {'asr':>8} {'llm 1st tok':>12} {'llm 1st sent':>13} {'tts 1st':>8}")
    s = med["streamed"]
    print(
        f"{'streamed':<10} {s['first_audio_s']:>11.3f}s {s['asr_s']:>7.3f}s {s['llm_first_token_s']:>11.3f}s"
        f" {s['llm_first_sentence_s']:>12.3f}s {s['tts_first_chunk_s']:>7.3f}s"
    )
    n = med["naive"]
    print(f"{'naive':<10} {n['first_audio_s']:>11.3f}s {n['asr_s']:>7.3f}s {'':>12} {'':>13} {'':>8}")
    f = med["floor"]
    print(f"{'floor':<10} {f['first_audio_s']:>11.3f}s {f['asr_s']:>7.3f}s {'':>12} {f['llm_first_sentence_s']:>12.3f}s {f['tts_s']:>7.3f}s")
    i, fl = med["intent"], med["intent_floor"]
    print(f"{'intent':<10} {i['first_audio_s']:>11.3f}s {i['asr_s']:>7.3f}s {'(no LLM)':>12} {'':>13} {i['tts_first_chunk_s']:>7.3f}s")
    print(f"{'int floor':<10} {fl['first_audio_s']:>11.3f}s {fl['asr_s']:>7.3f}s {'':>12} {'':>13} {fl['tts_s']:>7.3f}s")
    if "voice" in med:
        for mode in ("voice", "voice_sequential"):
            v = med[mode]
            print(
                f"{mode:<10} {v['first_audio_s']:>11.3f}s {v['asr_s']:>7.3f}s {v['llm_first_token_s']:>11.3f}s"
                f"   p95 {report['voice_p95_s'][mode]:.3f}s  (release → first sample at the device)"
            )
        print(f"\n{'question':<42} {'voice median':>12} {'p95':>7} {'sequential':>11} {'p95':>7}")
        for question in report["questions"]:
            a, b = report["voice_per_question"]["voice"][question], report["voice_per_question"]["voice_sequential"][question]
            print(f"{question:<42} {a['median_s']:>11.3f}s {a['p95_s']:>6.3f}s {b['median_s']:>10.3f}s {b['p95_s']:>6.3f}s")
        w = report["wer"]
        print(
            f"\nWER: whole-utterance {w['whole_utterance']:.3f}, voice {w['voice']:.3f}"
            f" ({w['voice'] - w['whole_utterance']:+.3f}; target <= +0.02), sequential {w['voice_sequential']:.3f}"
        )
        print(
            f"voice/floor = {report['ratio_voice_to_floor']:.2f} (target <= 0.75)   "
            f"voice_sequential/floor = {report['ratio_voice_sequential_to_floor']:.2f}"
        )
        print(f"\n{'release gap':<12} {'voice/floor':>12} {'p95':>6} {'median':>8} {'p95':>7} {'sequential/floor':>17}"
              f" {'p95':>6} {'guess hit':>10} {'wasted':>8} {'WER':>6}")
        for gap, g in report["by_release_gap"].items():
            hit = g["speculation_hit_rate"]
            print(f"{gap + ' s':<12} {g['ratio_voice_to_floor']:>12.2f} {g['ratio_voice_to_floor_p95']:>6.2f}"
                  f" {g['voice_median_s']:>7.3f}s {g['voice_p95_s']:>6.3f}s"
                  f" {g['ratio_voice_sequential_to_floor']:>17.2f} {g['ratio_voice_sequential_to_floor_p95']:>6.2f}"
                  f" {(f'{hit:.0%}' if hit is not None else '-'):>10} {g['speculation_wasted_s']:>7.3f}s {g['wer']:>6.3f}")
    print(
        f"streamed/naive = {report['ratio_streamed_to_naive']:.2f} (target <= 0.60)   "
        f"streamed/floor = {report['ratio_streamed_to_floor']:.2f} (target <= 1.20)   "
        f"intent/intent floor = {report['ratio_intent_to_floor']:.2f} (target <= 1.15)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("bench-results/bench_turn.json"))
    parser.add_argument("--pulse", action="store_true", help="also measure voice to voice through PulseAudio")
    parser.add_argument("--release-gap", default="0.15,0.3,0.6",
                        help="seconds from the last word to the release, comma-separated (with --pulse)")
    args = parser.parse_args()
    release_gaps = tuple(float(g) for g in args.release_gap.split(","))
    print_table(asyncio.run(main(args.runs, args.out, args.pulse, release_gaps)))
    print(f"wrote {args.out}")
