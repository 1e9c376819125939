"""Where a turn's reply audio goes: the one Protocol the pipeline plays into."""

from __future__ import annotations

from typing import Protocol

from assistant.core.speech import AudioChunk


class AudioSink(Protocol):
    """Where reply audio goes: a sound device, a WAV file, a test's list."""

    async def play(self, chunk: AudioChunk, sentence: int) -> None: ...

    async def finish(self) -> None:
        """Wait until everything handed to play() has been heard."""
        ...

    def played_sentences(self) -> int:
        """How many sentences were played to their end (for barge-in)."""
        ...

    def prepare(self, rate: int) -> None:
        """Get ready for audio at `rate` (a sound device opens its stream), while the reply is still being made."""
        ...

    @property
    def first_sample_time(self) -> float | None:
        """perf_counter() when the first reply sample reached the listener; None where no device tells."""
        ...
