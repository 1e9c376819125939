"""The wake word: a microWakeWord model (shipped in the pymicro-wakeword wheel) scoring 16 kHz audio."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from assistant.core.speech import Audio

# The models inside the pymicro-wakeword wheel; nothing is fetched at run time.
WORDS = ("okay_nabu", "hey_jarvis", "alexa", "hey_mycroft")
RATE = 16_000
FRAME = 160  # the feature front end's 10 ms step
# After a detection the model's sliding window still holds the word: without a pause the same
# utterance would fire again on the next stride.
REFRACTORY_S = 1.0


def phrase(word: str) -> str:
    """The words a person says: "okay_nabu" → "okay nabu"."""
    return word.replace("_", " ")


def default_cutoff(word: str) -> float:
    """The probability cutoff the model was published with (its JSON beside the .tflite)."""
    return float(_model_json(word)["micro"]["probability_cutoff"])


def _model_json(word: str) -> dict[str, Any]:
    import pymicro_wakeword

    path = Path(pymicro_wakeword.__file__).parent / "models" / f"{word}.json"
    data: dict[str, Any] = json.loads(path.read_text())
    return data


@dataclass(frozen=True)
class Detection:
    sample: int  # the 16 kHz sample count (since the detector started) at which the word was recognised
    probability: float


class WakeDetector:
    """One wake word on a 16 kHz mono stream; not thread-safe (one feeding thread).

    `feed` returns the detections in that block. The model averages its last few outputs
    (sliding_window_size in the model's JSON) and fires when the mean passes `threshold`;
    threshold 0 means the model's own published cutoff.
    """

    def __init__(self, word: str, threshold: float = 0.0) -> None:
        if word not in WORDS:
            raise ValueError(f"unknown wake word {word!r}; one of {', '.join(WORDS)}")
        from pymicro_wakeword import MicroWakeWord, MicroWakeWordFeatures, Model

        self.word = word
        self.threshold = threshold or default_cutoff(word)
        self._model: Any = MicroWakeWord.from_builtin(Model(word))
        self._features: Any = MicroWakeWordFeatures()
        self._samples = 0  # fed so far
        self._quiet_until = 0  # no detection before this sample (refractory)
        self.peak = 0.0  # highest probability seen since the last reset_peak()

    @property
    def samples(self) -> int:
        return self._samples

    def feed(self, audio: Audio) -> list[Detection]:
        """Score float samples in [-1, 1] at 16 kHz."""
        pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype("<i2").tobytes()
        start = self._samples
        self._samples += len(audio)
        found: list[Detection] = []
        # The front end consumes 10 ms per feature vector; the features come out in order, so
        # the k-th one of this block ends about k*FRAME samples after what came before it.
        pending = self._samples_buffered(start)
        for k, features in enumerate(self._features.process_streaming(pcm), 1):
            prob = self._model.process_streaming_prob(features)
            if prob is None:
                continue
            self.peak = max(self.peak, prob)
            at = start - pending + k * FRAME
            if prob > self.threshold and at >= self._quiet_until:
                found.append(Detection(at, float(prob)))
                self._quiet_until = at + int(REFRACTORY_S * RATE)
                self._model._probabilities.clear()  # start the average afresh, without reloading the model
        return found

    def _samples_buffered(self, start: int) -> int:
        """Samples fed before this block that the front end has not turned into features yet."""
        return len(getattr(self._features, "_audio_buffer", b"")) // 2

    def reset_peak(self) -> float:
        peak, self.peak = self.peak, 0.0
        return peak

    def close(self) -> None:
        self._model.close()
