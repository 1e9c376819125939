"""One conversation turn, streamed end to end: audio → transcript → reply tokens → sentences → audio chunks."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import AsyncExitStack, aclosing

import numpy as np

from assistant.core.chat import Message
from assistant.core.errors import AssistantError
from assistant.core.events import TurnState
from assistant.core.speech import Audio, Transcript
from assistant.hosts.proxies import Asr, Llm, Tts
from assistant.tools.capabilities import refusal
from assistant.tools.llm_route import converse
from assistant.tools.local import LocalIntents
from assistant.tools.numbers import spoken
from assistant.tools.registry import Registry
from assistant.turn.cleanup import clean_up
from assistant.turn.history import Conversation
from assistant.turn.results import Models, Timings, TurnResult
from assistant.turn.sentences import RepeatGuard, SentenceSplitter, speakable
from assistant.turn.sink import AudioSink
from assistant.turn.utterance import Utterance
from assistant.vram.arbiter import Arbiter

__all__ = ["AudioSink", "Models", "Pipeline", "Timings", "TurnResult", "is_silent"]

log = logging.getLogger(__name__)

# Below this RMS the audio is silence (or a mic that is muted); skip even the ASR.
SILENCE_RMS = 1e-4


async def _prompt_stats(llm: Llm, timings: Timings) -> None:
    """After the reply, off the path to the first sample: how much of the prompt the KV cache held."""
    try:
        stats = await llm.prompt_stats()
    except AssistantError:
        return  # an engine without the op
    if stats:
        timings.prompt_evaluated = stats["prompt_evaluated"]
        timings.prompt_reused = stats["prompt_reused"]
        timings.completion_tokens = stats.get("completion_tokens")
        log.info("prompt: %d tokens evaluated, %d reused from the cache", stats["prompt_evaluated"], stats["prompt_reused"])


async def _each(items: list[str]) -> AsyncIterator[str]:
    for item in items:
        yield item


async def _until_none(queue: asyncio.Queue[str | None]) -> AsyncIterator[str]:
    while (item := await queue.get()) is not None:
        yield item


def is_silent(audio: Audio) -> bool:
    return len(audio) == 0 or float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))) < SILENCE_RMS


class Pipeline:
    def __init__(
        self,
        arbiter: Arbiter,
        conversation: Conversation,
        tools: Registry | None = None,
        intents: LocalIntents | None = None,
    ) -> None:
        self.arbiter = arbiter
        self.conversation = conversation
        self.tools = tools if tools is not None else Registry()
        self.intents = intents  # ours, then Home Assistant's; None sends every turn to the LLM
        self._voice_rates: dict[str, int] = {}  # each voice's sample rate, from its first chunk
        self._prefilled: list[Message] | None = None  # the messages the last prefill put in the LLM's cache

    async def transcribe(self, audio: Audio, asr: str, prompt: str | None = None) -> Transcript:
        """The transcript of 16 kHz mono audio (with the VAD's trimming); `prompt` is a vocabulary hint."""
        async with self.arbiter.use(asr) as host:
            return await Asr(host).transcribe(audio, prompt)

    async def prefill(self, llm: str) -> dict[str, int] | None:
        """Have the LLM evaluate the system prompt and the history now, if it is resident (never loads or evicts).

        The next turn's prompt then starts with the same tokens, and only the new words are evaluated.
        Returns the prompt counts, or None when the LLM was not resident.
        """
        resident = await self.arbiter.acquire(llm, evict=False)
        if resident is None or resident.worker is None:
            return None
        try:
            # The same messages a turn builds, less the user's words: Conversation.messages keeps the
            # history by budget, and an empty text keeps as much as any real one would.
            messages = self.conversation.messages("")[:-1]
            # Set before the request: a turn that starts while it runs queues behind it in the worker.
            self._prefilled = messages
            try:
                stats = await Llm(resident.worker).prefill(messages, self.tools.specs())
            except BaseException:
                # Nothing is in the cache: the next turn must not keep over-budget history for its sake.
                self._prefilled = None
                raise
            if stats is None:
                self._prefilled = None  # an engine with no cache of its own (a remote server)
            return stats
        finally:
            await self.arbiter.release(resident)

    async def clean_up(self, text: str, llm: str) -> str:
        """A dictation's words tidied by the LLM (turn/cleanup.py); the words as they were when it cannot."""
        return await clean_up(self.arbiter, llm, text)

    async def say(self, text: str, tts: str, sink: AudioSink) -> None:
        """Speak text as it is, no LLM: `assistant say`."""
        async with self.arbiter.use(tts) as host, aclosing(Tts(host).synthesize(text)) as chunks:
            async for chunk in chunks:
                await sink.play(chunk, 0)
        await sink.finish()

    async def turn(
        self,
        utterance: Utterance,
        models: Models,
        sink: AudioSink | None,
        result: TurnResult | None = None,
    ) -> TurnResult:
        """Answer one utterance. Cancelling the task stops generation and synthesis; `result` then holds what was done.

        Pass `result` to keep a handle on partial progress if the turn is cancelled (barge-in).
        With no sink the reply is text only: no TTS is loaded. The timings count from the utterance's
        end (default: now). An answer the utterance started ahead of its end is played when it was for
        the final words; a guess's own utterance (`held`) acts and enters the conversation only once
        its words are confirmed. `result.on_sentence` hears each sentence of an LLM's reply as it is
        written (the API streams them); a reply made whole (a local intent's) is in `result.sentences` at the end.
        """
        result = result or TurnResult(id=uuid.uuid4().hex[:12])
        result.llm = models.llm
        started = utterance.ended_at if utterance.ended_at is not None else time.perf_counter()
        on_state = utterance.on_state
        on_state(TurnState.THINKING)
        # Open the sound device's stream while the ASR and the LLM work, so the first chunk finds it open.
        if sink is not None and models.tts in self._voice_rates:
            sink.prepare(self._voice_rates[models.tts])
        text = await self._words(utterance, models, result, started)
        if text is None:
            result.nothing_heard = True
            return result
        result.transcript = utterance.transcript = text
        guess = await utterance.take_guess(text, can_play=sink is not None)
        if guess is not None:
            assert sink is not None and utterance.ended_at is not None  # only a spoken utterance is guessed ahead
            await guess.adopt(result, sink, on_state, utterance.ended_at)
            return result
        held = utterance.held
        tools = self.tools if held is None else self.tools.held(held.wait)
        completed = False
        try:
            if not await self._answer_locally(models, sink, result, started, on_state, tools):
                await self._respond(models, sink, result, started, on_state, tools)
            completed = True
            if held is not None:
                await held.wait()  # a guess enters the conversation only once it is the turn
        except asyncio.CancelledError:
            if held is None or held.confirmed:
                self._conclude(result, sink, started, completed=False)
            raise
        except BaseException:
            result.timings.total_s = time.perf_counter() - started
            raise  # a failed turn stays out of the conversation: the next one starts clean
        self._conclude(result, sink, started, completed=True)
        return result

    async def _words(self, utterance: Utterance, models: Models, result: TurnResult, started: float) -> str | None:
        """The utterance's final words, stripped; None when nothing was said (silence, or an empty transcript)."""
        if utterance.text is not None:
            return utterance.text.strip()
        audio = utterance.audio
        assert audio is not None, "a spoken utterance has its audio once it ended"
        if is_silent(audio):
            return None
        streamer = utterance.streamer
        # The streaming transcriber reuses the partials it made at the pauses.
        transcript = await (streamer.finish(audio) if streamer is not None else self.transcribe(audio, models.asr))
        result.timings.asr_s = time.perf_counter() - started
        return transcript.text.strip() or None

    def _messages(self, text: str) -> list[Message]:
        messages = self.conversation.messages(text)
        prefilled = self._prefilled
        if prefilled is not None and messages[:-1] != prefilled and self.conversation.messages("")[:-1] == prefilled:
            # The user's words pushed the oldest kept turn out of the budget. Keep the history the
            # prefill evaluated (over the budget by those words at most): dropping a turn at the
            # front would change the prompt right after the system prompt and void the whole cache.
            return [*prefilled, messages[-1]]
        return messages

    def _conclude(self, result: TurnResult, sink: AudioSink | None, started: float, completed: bool) -> None:
        result.timings.total_s = time.perf_counter() - started
        first_sample = sink.first_sample_time if sink is not None else None  # a sound device's sink knows it
        if first_sample is not None:
            result.timings.first_sample_s = first_sample - started
        heard = len(result.sentences) if sink is None else min(sink.played_sentences(), len(result.sentences))
        result.interrupted = not completed or heard < len(result.sentences)
        # Only what the user heard enters the history: an unspoken sentence must not leak into the next turn.
        result.reply = " ".join(result.sentences[:heard])
        if not result.refused:
            # A refusal is no answer to learn from: replayed as the assistant's words, a small model
            # copied it onto the next request ("set volume to 50%" got the smart-home refusal back).
            self.conversation.add(result.transcript, result.reply)

    async def _reply(
        self, llm_id: str, messages: list[Message], result: TurnResult, tools: Registry
    ) -> AsyncGenerator[str, None]:
        """The reply's text as it streams: an honest refusal, or the LLM with the tools (llm_route.converse)."""
        calls_tools = self.arbiter.catalog.get(llm_id).options.calls_tools
        refused = refusal(result.transcript, tools, llm_id, calls_tools)
        if refused is not None:
            result.llm = ""  # no model wrote this reply
            result.refused = True
            yield refused
            return
        async with self.arbiter.use(llm_id) as host:
            llm = Llm(host)
            async with aclosing(converse(llm, messages, tools, result.tools)) as text:
                async for delta in text:
                    yield delta
            await _prompt_stats(llm, result.timings)

    async def _answer_locally(
        self,
        models: Models,
        sink: AudioSink | None,
        result: TurnResult,
        started: float,
        on_state: Callable[[TurnState], None],
        tools: Registry,
    ) -> bool:
        """A command the local intents know: run its tool and speak the templated reply, with no LLM at all."""
        if self.intents is None:
            return False
        answer = await self.intents.answer(result.transcript, tools, result.tools)
        if answer is None:
            return False
        result.llm = ""  # no model wrote this reply
        result.full_reply = answer.text
        splitter = SentenceSplitter()
        pieces = [speakable(p) for p in [*splitter.feed(answer.text), *splitter.flush()]]
        result.sentences = [p for p in pieces if p]
        if sink is None or not result.sentences:
            return True
        # The text keeps digits ("10:06 PM"); the voice gets them in words.
        # Our numbers-to-words are English; in another language the voice reads the digits in its own.
        await self._voice(models.tts, _each(result.sentences), sink, result.timings, started, on_state,
                          spoken if self.intents.english() else lambda sentence: sentence)
        return True

    async def _voice(
        self,
        tts_id: str,
        sentences: AsyncIterator[str],
        sink: AudioSink,
        timings: Timings,
        started: float,
        on_state: Callable[[TurnState], None],
        words: Callable[[str], str] = lambda sentence: sentence,
    ) -> None:
        """Synthesize and play sentences as they come. The voice is leased at the first one and held to the end."""
        index = 0
        tts: Tts | None = None
        async with AsyncExitStack() as stack:
            async for sentence in sentences:
                if tts is None:
                    tts = Tts(await stack.enter_async_context(self.arbiter.use(tts_id)))
                    on_state(TurnState.SPEAKING)
                async with aclosing(tts.synthesize(words(sentence))) as chunks:
                    async for chunk in chunks:
                        if timings.tts_first_chunk_s is None:
                            timings.tts_first_chunk_s = time.perf_counter() - started
                            self._voice_rates[tts_id] = chunk.sample_rate
                        await sink.play(chunk, index)
                        if timings.first_audio_s is None:
                            timings.first_audio_s = time.perf_counter() - started
                index += 1
            await sink.finish()

    async def _respond(
        self,
        models: Models,
        sink: AudioSink | None,
        result: TurnResult,
        started: float,
        on_state: Callable[[TurnState], None],
        tools: Registry,
    ) -> None:
        sentences: asyncio.Queue[str | None] = asyncio.Queue()
        messages = self._messages(result.transcript)
        timings = result.timings

        async def write() -> None:
            splitter = SentenceSplitter()
            guard = RepeatGuard()
            looped = False
            try:
                async with aclosing(self._reply(models.llm, messages, result, tools)) as deltas:
                    async for delta in deltas:
                        if timings.llm_first_token_s is None:
                            timings.llm_first_token_s = time.perf_counter() - started
                        result.full_reply += delta
                        looped = await _queue_pieces(splitter.feed(delta), guard)
                        if looped:
                            break  # leaving the stream stops the generation
                if not looped:
                    looped = await _queue_pieces(splitter.flush(), guard)
                if looped:
                    # What the history keeps is what was said, not the loop the model was in.
                    result.full_reply = " ".join(result.sentences)
                    log.info("reply cut at its first repeat, after %d pieces", len(result.sentences))
            finally:
                sentences.put_nowait(None)

        async def _queue_pieces(pieces: list[str], guard: RepeatGuard) -> bool:
            """Queue the pieces up to the first repeat; True when one was found."""
            for piece in pieces:
                kept, repeated = guard.keep(piece)
                await _queue_sentence(kept)
                if repeated:
                    return True
            return False

        async def _queue_sentence(piece: str) -> None:
            piece = speakable(piece)
            if not piece:
                return
            if timings.llm_first_sentence_s is None:
                timings.llm_first_sentence_s = time.perf_counter() - started
            result.add_sentence(piece)
            if sink is not None:
                sentences.put_nowait(piece)

        async def speak() -> None:
            if sink is not None:
                await self._voice(models.tts, _until_none(sentences), sink, timings, started, on_state)

        tasks = (asyncio.create_task(write()), asyncio.create_task(speak()))
        try:
            await asyncio.gather(*tasks)
        finally:
            pending = [task for task in tasks if not task.done()]
            for task in pending:
                # A cancelled gather has already cancelled its children. A second cancel would land in
                # the worker stream's clean-up, which then kills the worker instead of stopping it.
                if not task.cancelling():
                    task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        result.full_reply = result.full_reply.strip()
