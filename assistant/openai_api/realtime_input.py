"""One item of a Realtime session's input buffer as it is spoken (its audio, the words sent for it,
the pass at its current pause), and who hears of the input side's news."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from assistant.core.speech import Audio
from assistant.turn.live_words import LiveWords


class Listener(Protocol):
    """Who hears of the input side's news: a conversation (realtime_conversation.py) makes its responses."""

    def spoken(self, item_id: str) -> None: ...  # an utterance was committed; its transcript will follow

    async def transcribed(self, item_id: str, text: str | None) -> None: ...  # None: its transcription failed

    async def committed_by_detection(self) -> None: ...  # turn detection ended an utterance

    async def speech_started(self, ago_s: float) -> None: ...  # the user began to speak `ago_s` ago

    async def paused(self, item_id: str, text: str) -> None: ...  # the user paused, having said `text` so far

    async def resumed(self) -> None: ...  # ... and spoke on: what they said at the pause is not the turn


@dataclass
class InputItem:
    """One utterance: its audio (16 kHz), the words sent as deltas so far, and its place in the stream."""

    id: str
    start_ms: int
    parts: list[Audio] = field(default_factory=list)
    samples: int = 0
    words: LiveWords = field(default_factory=LiveWords)  # the words sent as deltas
    partial_at: int = 0  # samples when the last pass started
    # The pass over the utterance up to its current pause (None: no pause, or speech since): the final
    # transcript when the turn ends in that pause.
    settling: asyncio.Task[str | None] | None = None

    def add(self, audio: Audio) -> None:
        self.parts.append(audio)
        self.samples += len(audio)

    def audio(self) -> Audio:
        return np.concatenate(self.parts) if self.parts else np.zeros(0, dtype=np.float32)
