"""The engine interfaces and the values that cross them."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypedDict

import numpy as np
import numpy.typing as npt

SAMPLE_RATE = 16_000  # what every Transcriber takes: 16 kHz mono float32

Audio = npt.NDArray[np.float32]


class Message(TypedDict):
    role: str  # "system" | "user" | "assistant"
    content: str


@dataclass(frozen=True)
class Segment:
    start: float
    end: float
    text: str


@dataclass(frozen=True)
class Transcript:
    text: str
    segments: tuple[Segment, ...] = ()
    language: str = ""
    audio_seconds: float = 0.0
    speech_seconds: float = 0.0  # what the VAD kept


@dataclass(frozen=True)
class AudioChunk:
    samples: Audio
    sample_rate: int
    text: str = field(default="")  # the text this chunk speaks, when known

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.sample_rate


class Transcriber(Protocol):
    device: str

    def transcribe(self, audio: Audio) -> Transcript: ...


class ChatModel(Protocol):
    device: str

    def chat(self, messages: Sequence[Message], max_tokens: int | None = None) -> Iterator[str]:
        """Yield text deltas; the caller stops iterating to cancel."""
        ...


class Synthesizer(Protocol):
    device: str
    sample_rate: int

    def synthesize(self, text: str) -> Iterator[AudioChunk]: ...
