"""The work done while the key is held: the utterance transcribed at its pauses, the LLM's prompt prefilled,
and the reply to the words so far made ahead (turn/speculation.py), for the release to play at once."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from assistant.audio import smart_turn
from assistant.audio.settings import TurnSettings
from assistant.core.errors import AssistantError
from assistant.turn.pipeline import Pipeline
from assistant.turn.results import Models, Timings
from assistant.turn.speculation import Speculation
from assistant.turn.streaming_asr import ANSWER_PAUSE_S, StreamingTranscriber
from assistant.turn.utterance import Utterance

if TYPE_CHECKING:
    from assistant.audio.io import AudioIO

log = logging.getLogger(__name__)


class WhileHeld:
    """From press to release: feeds the press's `utterance` while the key is held. `start` at the press,
    `stop` at the release; the utterance then goes to the turn, with its streamer and its guess.

    `audio` is the daemon's AudioIO (its listener hook and the utterance so far).
    """

    def __init__(
        self,
        pipeline: Pipeline,
        models: Models,
        audio: AudioIO,
        utterance: Utterance,
        on_pause: Callable[[str, bool | None], None],
        on_speech: Callable[[], None],
        turn: TurnSettings,
    ) -> None:
        """`on_pause` hears the words so far at each pause, with the end-of-turn model's verdict on them when
        [turn] end = "model" (`turn`), and `on_speech` that the user spoke again after one: Turns asks the
        policy whether to answer ahead (`guess`) or drop the guess."""
        self.pipeline = pipeline
        self.models = models
        self.audio = audio
        self.utterance = utterance
        self._on_pause = on_pause
        self._on_speech = on_speech
        self._threshold = turn.threshold if turn.end == "model" else None  # None: no verdict is asked for
        self.prefill: dict[str, int] | None = None
        self.released: float | None = None  # perf_counter() at the release
        self._prefill_task: asyncio.Task[None] | None = None
        self._resumed = 0  # times the user spoke again after a pause: a verdict on words since added is stale
        self._judging: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        asr = self.models.asr
        streamer = StreamingTranscriber(
            lambda audio: self.pipeline.transcribe(audio, asr),
            self.audio.utterance_so_far,
            pause_s=ANSWER_PAUSE_S,
            on_partial=self._on_partial,
            on_speech=self._spoke_again,
        )
        if self.audio.add_listener(streamer.on_block):
            self.utterance.streamer = streamer
        loop = asyncio.get_running_loop()
        self._prefill_task = loop.create_task(self._prefill())
        if self._threshold is not None:
            self._keep(loop.create_task(self._load_model()))  # loaded once per process, while the user speaks

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
        if self.utterance.streamer is not None:
            self.audio.remove_listener(self.utterance.streamer.on_block)

    # ------------------------------------------------------------ answering ahead

    def _on_partial(self, text: str) -> None:
        if self.released is not None:  # a partial that ends after the release is the turn's, not a pause's
            return
        if self._threshold is None:
            self._on_pause(text, None)
        else:
            self._keep(asyncio.get_running_loop().create_task(self._judge(text, self._threshold, self._resumed)))

    async def _judge(self, text: str, threshold: float, resumed: int) -> None:
        """The end-of-turn model on the utterance so far (its words are `text`), then the pause goes to Turns."""

        def probability() -> float | None:
            model = smart_turn.shared()
            return None if model is None else model.complete(self.audio.utterance_so_far())

        try:
            p = await asyncio.to_thread(probability)
        except Exception as exc:  # onnxruntime's own errors: answer ahead as without the model
            log.warning("the end-of-turn model failed (%s); the words at this pause are guessed at anyway", exc)
            p = None
        if self.released is not None or resumed != self._resumed:
            return  # the key went up, or the user went on, while the model listened: the verdict is stale
        self._on_pause(text, None if p is None else p >= threshold)

    async def _load_model(self) -> None:
        await asyncio.to_thread(smart_turn.shared)

    def _spoke_again(self) -> None:
        self._resumed += 1
        self._on_speech()

    def _keep(self, task: asyncio.Task[None]) -> None:
        self._judging.add(task)  # held so it is not collected mid-way
        task.add_done_callback(self._judging.discard)

    def guess(self, text: str) -> None:
        """Answer the words so far ahead of the release (the policy checked that the models are resident)."""
        self.utterance.guessed(Speculation(self.pipeline, self.models, text))

    def cancel(self) -> None:
        """The utterance was dropped; a prefill already running finishes (it is still valid for the next press)."""
        self.stop()
        if self.utterance.streamer is not None:
            self.utterance.streamer.cancel()
        self.utterance.drop_guess()

    def annotate(self, timings: Timings, answer_ahead: bool) -> None:
        """After the utterance settled: what was done while the key was held, into the turn's timings."""
        streamer = self.utterance.streamer
        if streamer is not None:
            timings.asr_partials = streamer.stats.partials
            timings.asr_tail_audio_s = streamer.stats.tail_s
        if answer_ahead:
            timings.speculations = self.utterance.guesses
            timings.speculations_dropped = self.utterance.dropped
            timings.speculations_skipped = self.utterance.unguessed
            timings.speculation_wasted_s = self.utterance.wasted_s
            if not self.utterance.guessed_ahead:
                timings.speculation_ahead_s = None
