"""End of speech after the wake word: a voice activity detector (pymicro-vad) and the rules that end an utterance.

Two ways to end one. By silence: quiet for `silence_s` after speech. By meaning: at each pause of
`pause_s` the caller asks the end-of-turn model (audio/smart_turn.py) whether the words are complete,
and `silence_s` is only the longest pause allowed. The rules here decide when a pause is a pause; the
model's verdict is the caller's, since it needs the audio and this stays pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from assistant.core.speech import Audio

RATE = 16_000
FRAME = 160  # pymicro-vad scores 10 ms at a time
FRAME_S = FRAME / RATE

# How the utterance ended: "end" a silence, "model" the end-of-turn model's verdict (the caller's),
# "no_speech" nobody spoke, "max" the cap. "pause" is no end: the moment to ask the model.
Outcome = Literal["end", "model", "no_speech", "max"]
Signal = Outcome | Literal["pause"]


class Vad:
    """Speech probability per 10 ms of 16 kHz audio.

    pymicro-vad (the microWakeWord architecture trained for speech) costs about 0.7 % of one
    core while it runs; Silero through onnxruntime, which faster-whisper ships, costs several
    times that per call. It needs about 0.75 s of audio before its first score, so the caller
    primes it with the audio just before the utterance.
    """

    def __init__(self) -> None:
        from pymicro_vad import MicroVad

        self._vad: Any = MicroVad()
        self._rest = np.zeros(0, dtype=np.float32)

    def feed(self, audio: Audio) -> list[float]:
        """Scores of each whole 10 ms frame; -1 while the detector is still warming up."""
        audio = np.concatenate([self._rest, np.asarray(audio, dtype=np.float32)])
        whole = len(audio) // FRAME * FRAME
        self._rest = audio[whole:]
        pcm = (np.clip(audio[:whole], -1.0, 1.0) * 32767).astype("<i2").tobytes()
        step = FRAME * 2
        return [float(self._vad.process_10ms(pcm[i : i + step])) for i in range(0, len(pcm), step)]

    def reset(self) -> None:
        self._vad.reset()
        self._rest = np.zeros(0, dtype=np.float32)


@dataclass(frozen=True)
class EndpointRules:
    silence_s: float = 0.7  # silence after speech that ends the utterance
    no_speech_s: float = 5.0  # no speech at all by then: give up
    max_s: float = 30.0  # cut here whatever happens
    # Speech must last this long to count: an earcon or a cough is shorter, and must neither
    # start an utterance nor keep one open.
    min_speech_s: float = 0.2
    threshold: float = 0.5
    # Ending by meaning: at each pause this long after speech, `push` says "pause" once (None: never).
    pause_s: float | None = None


class Endpointer:
    """Decides, frame by frame, when the utterance after a wake word is over. Pure: no clock, no audio."""

    def __init__(self, rules: EndpointRules) -> None:
        self.rules = rules
        self.elapsed_s = 0.0
        self.heard_speech = False
        self._run_s = 0.0  # length of the current run of speech frames
        self._silence_s = 0.0  # length of the current run of non-speech frames after speech
        self._paused = False  # the current run of silence was signalled as a pause

    @property
    def speech_run_s(self) -> float:
        """How long the current run of speech has lasted (0 in a pause)."""
        return self._run_s

    @property
    def silence_s(self) -> float:
        """How long the quiet after the last speech has lasted."""
        return self._silence_s

    def push(self, probability: float) -> Signal | None:
        """One 10 ms frame's speech probability (negative: not known yet); the outcome once the utterance
        is over, or "pause" when a pause has lasted `pause_s` (once per pause)."""
        rules = self.rules
        self.elapsed_s += FRAME_S
        if probability >= rules.threshold:
            self._run_s += FRAME_S
            if self._run_s >= rules.min_speech_s:
                self.heard_speech = True
                self._silence_s = 0.0
                self._paused = False
        else:
            self._run_s = 0.0
            if self.heard_speech:
                self._silence_s += FRAME_S
        if self.elapsed_s >= rules.max_s:
            return "max"
        if self.heard_speech and self._silence_s >= rules.silence_s:
            return "end"
        if rules.pause_s is not None and self.heard_speech and not self._paused and self._silence_s >= rules.pause_s:
            self._paused = True
            return "pause"
        if not self.heard_speech and self.elapsed_s >= rules.no_speech_s:
            return "no_speech"
        return None
