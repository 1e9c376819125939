"""One full voice turn on the real embedded models, each in its own worker process."""

from __future__ import annotations

import asyncio
import os
import signal

import numpy as np
import pytest

from assistant.audio.files import resample
from assistant.audio.sinks import CollectingSink
from assistant.config.settings import Config
from assistant.core.errors import WorkerCrashed
from assistant.core.speech import SAMPLE_RATE
from assistant.turn.assistant import Assistant
from assistant.turn.pipeline import TurnResult
from assistant.turn.utterance import Utterance
from assistant.vram.meter import SimulatedMeter

from ..speech import speak_16k, wer

QUESTION = "Why is the sky blue?"


def make(config: Config) -> Assistant:
    return Assistant.create(config, SimulatedMeter(total_gb=16), persist=False)


def test_voice_turn_end_to_end(config: Config) -> None:
    async def main() -> tuple[TurnResult, CollectingSink, str]:
        assistant = make(config)
        sink = CollectingSink()
        try:
            result = await assistant.pipeline.turn(Utterance.spoken(speak_16k(QUESTION)), assistant.models, sink)
            # Transcribe the spoken reply back with the same ASR.
            reply_audio = resample(sink.audio(), sink.sample_rate, SAMPLE_RATE)
            heard = await assistant.pipeline.transcribe(reply_audio, assistant.models.asr)
            return result, sink, heard.text
        finally:
            await assistant.close()

    result, sink, heard = asyncio.run(main())
    assert wer(QUESTION, result.transcript) <= 0.1, result.transcript
    assert result.reply.strip(), "the LLM gave an empty reply"
    assert result.reply == " ".join(result.sentences)
    assert not result.interrupted and not result.nothing_heard
    assert sink.sample_rate == 22050 and len(sink.audio()) > sink.sample_rate * 0.5
    assert wer(result.reply, heard) <= 0.3, (result.reply, heard)
    t = result.timings
    assert t.asr_s is not None and t.first_audio_s is not None and t.total_s is not None
    assert t.asr_s <= t.llm_first_token_s <= t.llm_first_sentence_s <= t.first_audio_s <= t.total_s  # type: ignore[operator]


def test_silence_is_nothing_heard_without_an_llm_call(config: Config) -> None:
    async def main() -> tuple[TurnResult, dict[str, object]]:
        assistant = make(config)
        try:
            quiet = np.zeros(SAMPLE_RATE * 2, dtype=np.float32)
            noise = np.random.default_rng(0).normal(0, 0.002, SAMPLE_RATE * 2).astype(np.float32)
            silent = await assistant.pipeline.turn(Utterance.spoken(quiet), assistant.models, CollectingSink())
            assert silent.nothing_heard
            hiss = await assistant.pipeline.turn(Utterance.spoken(noise), assistant.models, CollectingSink())
            return hiss, assistant.arbiter.snapshot()
        finally:
            await assistant.close()

    hiss, snapshot = asyncio.run(main())
    assert hiss.nothing_heard and hiss.reply == ""
    llm = next(m for m in snapshot.models if m.id == config.catalog.defaults["llm"])  # type: ignore[index, union-attr]
    assert llm.load_count == 0, "no LLM may be loaded for a turn where nothing was heard"


def test_worker_killed_mid_generation_is_a_clean_error_and_the_next_turn_works(config: Config) -> None:
    async def main() -> tuple[BaseException | None, TurnResult]:
        assistant = make(config)
        try:
            await assistant.arbiter.ensure(assistant.models.llm)
            llm_pid = next(
                m.pid for m in assistant.arbiter.snapshot().models if m.id == assistant.models.llm
            )
            messages = [{"role": "user", "content": "Count from one to one hundred."}]
            error: BaseException | None = None
            try:
                async with assistant.arbiter.use(assistant.models.llm) as llm:
                    async for i, _ in aenumerate(llm.stream("chat", messages=messages, max_tokens=300)):
                        if i == 2:
                            os.kill(llm_pid, signal.SIGKILL)
            except WorkerCrashed as exc:
                error = exc
            result = await assistant.pipeline.turn(Utterance.typed("Say hello."), assistant.models, CollectingSink())
            return error, result
        finally:
            await assistant.close()

    error, result = asyncio.run(main())
    assert isinstance(error, WorkerCrashed)
    assert "killed by SIGKILL" in str(error) and "\n" not in str(error)
    assert result.reply.strip()


async def aenumerate(items):  # type: ignore[no-untyped-def]
    i = 0
    async for item in items:
        yield i, item
        i += 1


@pytest.mark.parametrize("phase", ["idle"])
def test_crashed_idle_worker_is_replaced_on_next_use(config: Config, phase: str) -> None:
    async def main() -> tuple[int, int, str]:
        assistant = make(config)
        try:
            await assistant.arbiter.ensure(assistant.models.tts)
            first = _pid(assistant, assistant.models.tts)
            os.kill(first, signal.SIGKILL)
            await asyncio.sleep(0.5)
            state = _state(assistant, assistant.models.tts)
            async with assistant.arbiter.use(assistant.models.tts) as tts:
                chunks = [c async for c in tts.stream("synthesize", text="Hello there.")]
            return first, _pid(assistant, assistant.models.tts), f"{state}:{len(chunks)}"
        finally:
            await assistant.close()

    first, second, state = asyncio.run(main())
    assert first != second
    assert state.startswith("unloaded:") and not state.endswith(":0")


def _pid(assistant: Assistant, model_id: str) -> int:
    return next(m.pid for m in assistant.arbiter.snapshot().models if m.id == model_id)


def _state(assistant: Assistant, model_id: str) -> str:
    return next(m.state for m in assistant.arbiter.snapshot().models if m.id == model_id)


class InterruptingSink:
    """Plays the first sentence, then interrupts the turn as a push-to-talk press would."""

    def __init__(self) -> None:
        self.sentences: set[int] = set()
        self._done = 0

    async def play(self, chunk: object, sentence: int) -> None:
        self.sentences.add(sentence)
        if sentence >= 1:
            self._done = 1
            task = asyncio.current_task()
            assert task is not None
            task.cancel()
            await asyncio.sleep(0)

    async def finish(self) -> None:
        self._done = len(self.sentences)

    def played_sentences(self) -> int:
        return self._done

    def prepare(self, rate: int) -> None:
        pass

    first_sample_time = None


def test_interrupted_turn_keeps_only_the_heard_part_in_the_conversation(config: Config) -> None:
    async def main() -> tuple[TurnResult, list[dict[str, str]]]:
        assistant = make(config)
        result = TurnResult(id="t")
        try:
            with pytest.raises(asyncio.CancelledError):
                await assistant.pipeline.turn(Utterance.typed("Tell me a long story about a dragon."), assistant.models, InterruptingSink(), result)
            return result, [dict(m) for m in assistant.conversation.messages("And then?")]
        finally:
            await assistant.close()

    result, messages = asyncio.run(main())
    assert result.interrupted and len(result.sentences) >= 2
    assert result.reply == result.sentences[0]
    assert messages[-2] == {"role": "assistant", "content": result.sentences[0]}
    assert result.sentences[1] not in " ".join(m["content"] for m in messages)
