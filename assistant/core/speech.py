"""The values that carry speech between the layers: audio, transcripts, synthesized chunks."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

SAMPLE_RATE = 16_000  # what every Transcriber takes: 16 kHz mono float32

Audio = npt.NDArray[np.float32]


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
