"""Answering ahead: while the key is still held, the reply to the words heard so far, kept back until the release.

When a partial transcript is ready at a pause, the turn starts on it: the local intent match, or the
LLM to its first sentence and the TTS of that sentence. None of it reaches the user yet:
- its audio goes into a buffer (the first sentence; the next ones wait);
- its state changes are held back (the user still sees "listening");
- its utterance is `held` by the gate: every tool run waits there (the pipeline hands the tool
  registry's held view to every route, so none can act on a guess), and so does its conversation entry.

At the release, if the final transcript is the speculated one, the gate opens: the buffer plays at
once and the rest streams as in any turn. If the words changed, or the user spoke again, the task is
cancelled where it waits: nothing was said, stored or done. Only resident models are used, so a
guess never loads or evicts one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable

from assistant.core.chat import Message
from assistant.core.events import TurnState
from assistant.core.speech import AudioChunk
from assistant.turn.pipeline import Pipeline
from assistant.turn.results import Models, TurnResult
from assistant.turn.sink import AudioSink
from assistant.turn.utterance import Source, Utterance

log = logging.getLogger(__name__)

class Gate:
    """Closed while the words are a guess; opened once at the release with the turn's real sink and state."""

    def __init__(self) -> None:
        self.confirmed = False
        self._opened = asyncio.Event()
        self.sink: AudioSink | None = None
        self._on_state: Callable[[TurnState], None] | None = None
        self._state: TurnState | None = None
        self.ready_at: float | None = None  # perf_counter() when the guess first had to wait here

    async def wait(self) -> None:
        """Return once the words are confirmed and the buffer played; a discarded guess is cancelled in here."""
        if not self._opened.is_set():
            if self.ready_at is None:
                self.ready_at = time.perf_counter()
            await self._opened.wait()

    def on_state(self, state: TurnState) -> None:
        if self._on_state is None:
            self._state = state  # the user is still holding the key: shown at the release
        else:
            self._on_state(state)

    def confirm(self, sink: AudioSink, on_state: Callable[[TurnState], None]) -> None:
        self.confirmed = True
        self.sink = sink
        self._on_state = on_state
        if self._state is not None:
            on_state(self._state)

    def opened(self) -> None:
        self._opened.set()


class GatedSink:
    """The speculative turn's AudioSink: the first sentence is kept in a buffer, later ones wait for the gate."""

    def __init__(self, gate: Gate) -> None:
        self.gate = gate
        self._buffer: deque[tuple[AudioChunk, int]] = deque()
        self._open = False
        self.first_play: float | None = None  # perf_counter() when the first chunk reached the real sink

    @property
    def held(self) -> int:
        """Chunks kept back so far (the first sentence's)."""
        return len(self._buffer)

    async def flush(self) -> None:
        """At the release, in the turn's own task (which then owns the device stream): the buffer, then pass-through."""
        sink = self.gate.sink
        assert sink is not None
        while self._buffer:
            chunk, sentence = self._buffer.popleft()
            await self._forward(sink, chunk, sentence)
        self._open = True  # no await since the loop's last check: nothing can slip in between
        self.gate.opened()

    async def _forward(self, sink: AudioSink, chunk: AudioChunk, sentence: int) -> None:
        if self.first_play is None:
            self.first_play = time.perf_counter()
        await sink.play(chunk, sentence)

    async def play(self, chunk: AudioChunk, sentence: int) -> None:
        if not self._open and sentence == 0:
            self._buffer.append((chunk, sentence))
            return
        await self.gate.wait()
        assert self.gate.sink is not None
        await self._forward(self.gate.sink, chunk, sentence)

    async def finish(self) -> None:
        await self.gate.wait()
        assert self.gate.sink is not None
        await self.gate.sink.finish()

    def played_sentences(self) -> int:
        return self.gate.sink.played_sentences() if self.gate.sink is not None else 0

    def prepare(self, rate: int) -> None:
        """Nothing to open until the release: the turn's real sink prepares itself then."""

    @property
    def first_sample_time(self) -> float | None:
        return self.gate.sink.first_sample_time if self.gate.sink is not None else None


class Speculation:
    """One guess: the turn for `text`, run ahead into a gated sink. Adopt it at the release, or discard it."""

    def __init__(self, pipeline: Pipeline, models: Models, text: str) -> None:
        self.text = text
        self.pipeline = pipeline
        # The conversation it answers: a turn that ends meanwhile (a typed `ask`) makes it stale.
        self.messages: list[Message] = pipeline.conversation.messages(text)
        self.started = time.perf_counter()
        self.gate = Gate()
        self.sink = GatedSink(self.gate)
        self.result = TurnResult(id="")
        self.task = asyncio.get_running_loop().create_task(self._run(models))

    async def _run(self, models: Models) -> None:
        # The guess's own utterance: typed words, held by the gate, its state shown only at the release.
        words = Utterance(Source.GUESS, text=self.text, ended_at=self.started, on_state=self.gate.on_state, held=self.gate)
        await self.pipeline.turn(words, models, self.sink, self.result)

    def usable(self, transcript: str) -> bool:
        """Whether the final words are the guessed ones, in the same conversation, and the guess did not fail."""
        if self.task.done() and (self.task.cancelled() or self.task.exception() is not None):
            return False
        return transcript == self.text and self.pipeline.conversation.messages(transcript) == self.messages

    async def adopt(self, result: TurnResult, sink: AudioSink, on_state: Callable[[TurnState], None], released: float) -> None:
        """The guess becomes the turn: play what it made, let it go on, and fill `result` with what it did.

        Cancelling the caller (barge-in) cancels the guess's turn, which then keeps what was heard.
        An error in it is raised here, as the turn's own.
        """
        self.gate.confirm(sink, on_state)
        try:
            await self.sink.flush()
            await asyncio.wait({self.task})
        except asyncio.CancelledError:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
            self._fill(result, released)
            raise
        self._fill(result, released)
        self.task.result()

    def _fill(self, result: TurnResult, released: float) -> None:
        timings, asr_s = self.result.timings, result.timings.asr_s
        shift = self.started - released  # negative: the guess began before the release
        timings.count_from(shift)
        if self.sink.first_play is not None:
            timings.first_audio_s = self.sink.first_play - released
        timings.asr_s = asr_s
        timings.speculation_ahead_s = released - self.started
        result.take_over(self.result)

    async def discard(self) -> float:
        """Cancel it where it is (nothing was said, stored or done); the seconds of work it wasted."""
        if not self.task.done():
            self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        end = self.gate.ready_at if self.gate.ready_at is not None else time.perf_counter()
        return max(0.0, end - self.started)
