"""The work done while the key is held: the utterance transcribed at its pauses, and the LLM's prompt prefilled."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from assistant.core.errors import AssistantError
from assistant.core.speech import Audio, Transcript
from assistant.turn.pipeline import Models, Pipeline, Timings
from assistant.turn.streaming_asr import StreamingTranscriber

if TYPE_CHECKING:
    from assistant.audio.io import AudioIO

log = logging.getLogger(__name__)


class WhileHeld:
    """From press to release. `start` at the press, `stop` at the release, then `finish` is the turn's ASR.

    `audio` is the daemon's AudioIO (its listener hook and the utterance so far).
    """

    def __init__(self, pipeline: Pipeline, models: Models, audio: AudioIO) -> None:
        self.pipeline = pipeline
        self.models = models
        self.audio = audio
        self.prefill: dict[str, int] | None = None
        self._streamer: StreamingTranscriber | None = None
        self._prefill_task: asyncio.Task[None] | None = None

    def start(self) -> None:
        asr = self.models.asr
        streamer = StreamingTranscriber(lambda audio: self.pipeline.transcribe(audio, asr), self.audio.utterance_so_far)
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
        if self._streamer is not None:
            self.audio.remove_listener(self._streamer.on_block)

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

    def annotate(self, timings: Timings) -> None:
        if self._streamer is not None:
            timings.asr_partials = self._streamer.stats.partials
            timings.asr_tail_audio_s = self._streamer.stats.tail_s
