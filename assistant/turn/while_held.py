"""The work done while the key is held: the utterance transcribed at its pauses, the LLM's prompt prefilled,
and the reply to the words so far made ahead (turn/speculation.py), for the release to play at once."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from assistant.core.errors import AssistantError
from assistant.core.events import TurnState
from assistant.core.speech import Audio, Transcript
from assistant.turn.pipeline import AudioSink, Models, Pipeline, Timings, TurnResult
from assistant.turn.speculation import Speculation
from assistant.turn.streaming_asr import ANSWER_PAUSE_S, StreamingTranscriber

if TYPE_CHECKING:
    from assistant.audio.io import AudioIO

log = logging.getLogger(__name__)


class WhileHeld:
    """From press to release. `start` at the press, `stop` at the release, then `finish` is the turn's ASR.

    `audio` is the daemon's AudioIO (its listener hook and the utterance so far).
    """

    def __init__(self, pipeline: Pipeline, models: Models, audio: AudioIO, speculate: bool = True) -> None:
        self.pipeline = pipeline
        self.models = models
        self.audio = audio
        self.speculate = speculate
        self.prefill: dict[str, int] | None = None
        self.released: float | None = None  # perf_counter() at the release
        self._streamer: StreamingTranscriber | None = None
        self._prefill_task: asyncio.Task[None] | None = None
        self._guess: Speculation | None = None
        self._discarding: set[asyncio.Task[None]] = set()
        self._guesses = 0
        self._wasted_s = 0.0
        self._used: Speculation | None = None

    def start(self) -> None:
        asr = self.models.asr
        streamer = StreamingTranscriber(
            lambda audio: self.pipeline.transcribe(audio, asr),
            self.audio.utterance_so_far,
            pause_s=ANSWER_PAUSE_S,
            on_partial=self._on_partial if self.speculate else None,
            on_speech=self._drop_guess,
        )
        if self.audio.add_listener(streamer.on_block):
            self._streamer = streamer
        self._prefill_task = asyncio.get_running_loop().create_task(self._prefill())

    async def _prefill(self) -> None:
        started = time.perf_counter()
        try:
            self.prefill = await self.pipeline.prefill(self.models.llm)
        except AssistantError as exc:
            log.info("no prefill: %s", exc)
            return
        if self.prefill:
            log.info(
                "prefill: %d prompt tokens evaluated, %d reused, in %.3f s",
                self.prefill["prompt_evaluated"],
                self.prefill["prompt_reused"],
                time.perf_counter() - started,
            )

    def stop(self) -> None:
        """The key went up: no more blocks. Call before taking the utterance."""
        self.released = time.perf_counter()
        if self._streamer is not None:
            self.audio.remove_listener(self._streamer.on_block)

    # ------------------------------------------------------------ answering ahead

    def _on_partial(self, text: str) -> None:
        """A pause's words: guess the reply to them, unless the release came first."""
        if self.released is not None:
            return
        self._drop_guess()
        models = self.models
        arbiter = self.pipeline.arbiter
        if not (arbiter.resident(models.llm) and arbiter.resident(models.tts)):
            return  # a guess never loads or evicts a model; the release does what it needs
        self._guess = Speculation(self.pipeline, models, text)
        self._guesses += 1

    def _drop_guess(self) -> None:
        """The user spoke again: the guess is for words that are no longer the whole utterance."""
        guess, self._guess = self._guess, None
        if guess is not None:
            task = asyncio.get_running_loop().create_task(self._discard(guess))
            self._discarding.add(task)
            task.add_done_callback(self._discarding.discard)

    async def _discard(self, guess: Speculation) -> None:
        self._wasted_s += await guess.discard()

    async def ahead(self, result: TurnResult, sink: AudioSink | None, on_state: Callable[[TurnState], None]) -> bool:
        """The pipeline's `ahead` hook: play the guess when it was for the final words (see Speculation)."""
        guess, self._guess = self._guess, None
        if guess is None:
            return False
        if sink is None or not guess.usable(result.transcript):
            await self._discard(guess)
            return False
        self._used = guess
        assert self.released is not None
        await guess.adopt(result, sink, on_state, self.released)
        return True

    async def settle(self) -> None:
        """After the turn: drop a guess it did not use (nothing heard, a failed ASR) and wait for the drops."""
        self._drop_guess()
        await asyncio.gather(*self._discarding, return_exceptions=True)

    async def finish(self, audio: Audio) -> Transcript:
        """The turn's transcript of the whole utterance (16 kHz), reusing the partials."""
        if self._streamer is None:
            return await self.pipeline.transcribe(audio, self.models.asr)
        return await self._streamer.finish(audio)

    def cancel(self) -> None:
        """The utterance was dropped; a prefill already running finishes (it is still valid for the next press)."""
        self.stop()
        if self._streamer is not None:
            self._streamer.cancel()
        self._drop_guess()

    def annotate(self, timings: Timings) -> None:
        """After settle(): what was done while the key was held, into the turn's timings."""
        if self._streamer is not None:
            timings.asr_partials = self._streamer.stats.partials
            timings.asr_tail_audio_s = self._streamer.stats.tail_s
        if self.speculate:
            timings.speculations = self._guesses
            timings.speculation_wasted_s = self._wasted_s
            if self._used is None:
                timings.speculation_ahead_s = None
