"""Transcribing while the key is held, on real speech and the real ASR worker: the final words match whole-utterance ASR."""

from __future__ import annotations

import asyncio
import gc
import threading
import time

import numpy as np
import pytest

from assistant.config.settings import Config
from assistant.core.speech import SAMPLE_RATE, Audio
from assistant.turn.assistant import Assistant
from assistant.turn.streaming_asr import EnergyVad, StreamingTranscriber
from assistant.vram.meter import SimulatedMeter

from ..speech import normalize, speak_16k, wer

pytestmark = pytest.mark.latency

BLOCK = SAMPLE_RATE // 50  # 20 ms, fed at real-time pace as a microphone would


class FedMic:
    """The capture's side, with real-time pacing: blocks to the listener, and the utterance so far."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._chunks: list[Audio] = []

    def so_far(self) -> Audio:
        with self._lock:
            return np.concatenate(self._chunks) if self._chunks else np.zeros(0, dtype=np.float32)

    def speak(self, audio: Audio, listener: StreamingTranscriber) -> None:
        for start in range(0, len(audio), BLOCK):
            block = audio[start : start + BLOCK]
            with self._lock:
                self._chunks.append(block)
            listener.on_block(block, SAMPLE_RATE)
            time.sleep(len(block) / SAMPLE_RATE)


def silence(seconds: float) -> Audio:
    return np.zeros(int(seconds * SAMPLE_RATE), dtype=np.float32)


async def stream_and_whole(config: Config, audio: Audio, commit_s: float = 12.0) -> tuple[str, str, StreamingTranscriber]:
    assistant = Assistant.create(config, SimulatedMeter(total_gb=16), persist=False)
    asr = assistant.models.asr
    try:
        await assistant.arbiter.ensure(asr)
        mic = FedMic()
        streamer = StreamingTranscriber(lambda a: assistant.pipeline.transcribe(a, asr), mic.so_far, commit_s=commit_s)
        await asyncio.to_thread(mic.speak, audio, streamer)
        streamed = await streamer.finish(mic.so_far())
        whole = await assistant.pipeline.transcribe(audio, asr)
        return streamed.text, whole.text, streamer
    finally:
        await assistant.close()


def test_a_pause_before_the_release_leaves_nothing_to_transcribe(config: Config) -> None:
    question = "How do I make a cup of tea?"
    streamed, whole, streamer = asyncio.run(stream_and_whole(config, np.concatenate([speak_16k(question), silence(1.0)])))
    assert normalize(streamed) == normalize(whole), (streamed, whole)
    assert wer(question, streamed) <= 0.25, streamed
    assert streamer.stats.partials >= 1
    assert streamer.stats.tail_s == 0.0  # the partial taken at the pause was the final transcript


def test_speech_after_the_last_pause_is_transcribed_at_release(config: Config) -> None:
    first, second = "Tell me something about the moon.", "And how far away is the sun?"
    # No quiet at the end: the key goes up mid-breath, so the tail must be transcribed. The voice's own
    # trailing quiet is cut too, or the VAD rightly finds a pause there and nothing is left at release.
    last = speak_16k(second, pad_s=0.0)
    loud = np.flatnonzero(np.abs(last) > 0.02)
    last = last[: loud[-1] + 1] if len(loud) else last
    audio = np.concatenate([speak_16k(first, pad_s=0.1), silence(0.8), last])
    streamed, whole, streamer = asyncio.run(stream_and_whole(config, audio))
    assert normalize(streamed) == normalize(whole), (streamed, whole)
    assert streamer.stats.partials >= 1 and streamer.stats.tail_s > 0


def test_long_utterances_commit_at_pauses(config: Config) -> None:
    first, second = "Why is the sky blue?", "What should I cook for dinner tonight?"
    audio = np.concatenate([speak_16k(first), silence(0.8), speak_16k(second), silence(0.8)])
    # A commit after a second of audio: the first question is kept and only what follows is redone.
    streamed, whole, streamer = asyncio.run(stream_and_whole(config, audio, commit_s=1.0))
    assert wer(whole, streamed) <= 0.1, (streamed, whole)
    assert wer(f"{first} {second}", streamed) <= 0.2, streamed
    assert streamer.stats.partials >= 2


def test_energy_vad_tells_speech_from_quiet() -> None:
    vad = EnergyVad()
    speech = speak_16k("Hello there.", pad_s=0.0)
    assert vad.quiet(silence(0.5))
    assert vad.quiet(np.random.default_rng(0).normal(0, 0.001, SAMPLE_RATE).astype(np.float32))
    assert not vad.quiet(speech)
    assert any(vad.is_speech(speech[i : i + BLOCK]) for i in range(0, len(speech), BLOCK))


def test_a_partial_that_fails_after_a_cancel_is_not_left_unretrieved() -> None:
    """`ptt cancel` while a partial runs, and the partial then fails: no "never retrieved" traceback in the log."""
    from assistant.core.errors import AssistantError
    from assistant.core.speech import Transcript

    unhandled: list[dict[str, object]] = []

    async def main() -> None:
        asyncio.get_running_loop().set_exception_handler(lambda loop, context: unhandled.append(context))
        started = asyncio.Event()

        async def failing(audio: Audio) -> Transcript:  # an ASR worker that dies mid-transcription
            started.set()
            await asyncio.sleep(1.0)  # still running at the cancel
            raise AssistantError("asr: the worker exited", code="worker_crashed")

        mic = FedMic()
        streamer = StreamingTranscriber(failing, mic.so_far)
        speech = np.random.default_rng(0).normal(0, 0.1, SAMPLE_RATE // 2).astype(np.float32)
        await asyncio.to_thread(mic.speak, np.concatenate([speech, silence(0.4)]), streamer)
        await asyncio.wait_for(started.wait(), 5)
        streamer.cancel()
        await asyncio.sleep(1.5)  # the partial fails now, after the cancel
        del streamer  # as Turns drops a cancelled Listening: the failed task goes with it
        gc.collect()

    asyncio.run(main())
    assert not [c for c in unhandled if "never retrieved" in str(c.get("message"))], unhandled
