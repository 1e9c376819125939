"""Audio sinks that do not need a sound device: collect the reply, or write it to a WAV file."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import numpy as np

from assistant.audio.files import concat, write_wav
from assistant.core.speech import Audio, AudioChunk


class CollectingSink:
    """Keeps every chunk in memory; all handed-over audio counts as played."""

    def __init__(self) -> None:
        self.chunks: list[AudioChunk] = []
        self._sentences = 0

    async def play(self, chunk: AudioChunk, sentence: int) -> None:
        self.chunks.append(chunk)
        self._sentences = max(self._sentences, sentence)

    async def finish(self) -> None:
        if self.chunks:
            self._sentences += 1

    def played_sentences(self) -> int:
        return self._sentences

    def prepare(self, rate: int) -> None:
        """Nothing to open: the chunks are kept as they come."""

    @property
    def first_sample_time(self) -> float | None:
        return None  # no listener hears it as it is made

    @property
    def sample_rate(self) -> int:
        return self.chunks[0].sample_rate if self.chunks else 22050

    def audio(self) -> Audio:
        return self.join(self.chunks)

    @staticmethod
    def join(chunks: list[AudioChunk]) -> Audio:
        return concat([c.samples for c in chunks]) if chunks else np.zeros(0, dtype=np.float32)


class WavSink(CollectingSink):
    """Writes the whole reply to one WAV file when the turn finishes."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    async def finish(self) -> None:
        await super().finish()
        # In a thread: a reply of minutes is megabytes to join and write (and a slow disk may sync),
        # and the daemon's loop serves the hotkey, the tray and the API meanwhile.
        await asyncio.to_thread(self._write, list(self.chunks), self.sample_rate)

    def _write(self, chunks: list[AudioChunk], rate: int) -> None:
        # A spoken reply is part of the conversation: born 0600, whatever the umask. Written beside
        # its place and renamed, so whoever finds the file finds it whole.
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(f".{self.path.name}")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)
        os.close(fd)
        write_wav(partial, self.join(chunks), rate)
        os.replace(partial, self.path)
