"""Where speech starts and ends in an utterance, so the ASR reads the same speech as the same samples.

Whisper's words on a doubtful utterance depend on where it starts to within a few milliseconds: its
features are 10 ms frames counted from the first sample, and its VAD reads 32 ms windows from there. The
same question captured by push-to-talk starts at whatever sample the key press fell on (measured: one
espeak-ng sentence with room noise, preceded by 0.300 to 0.451 s of silence in 14 ms steps, read as four
different sentences). The end counts too: quiet after the speech is read as frames of silence, unlike the
padding Whisper adds itself, so a file and the same speech followed by half a second of silence differed.
Cutting or padding the quiet before the first loud sample and after the last to fixed lengths makes the
ASR's input the same samples whichever way the audio came: a file, Wyoming, the API or the microphone.
Only quiet is cut (every sample below 2 % of the utterance's peak), so no word is lost.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from assistant.core.speech import SAMPLE_RATE, Audio

LEAD_S = 0.3  # quiet kept before the first loud sample: Whisper reads a word better with a little before it
TAIL_S = 0.3  # and after the last one
LOUD_OF_PEAK = 0.02  # a sample louder than 2 % of the utterance's peak (-34 dB) is no longer quiet


@dataclass(frozen=True)
class Aligned:
    audio: Audio
    shift_s: float  # add to a time in `audio` to get the time in the audio as given


def align_speech(audio: Audio, lead_s: float = LEAD_S, tail_s: float = TAIL_S, rate: int = SAMPLE_RATE) -> Aligned:
    """The audio from `lead_s` before its first loud sample to `tail_s` after its last, padded with silence
    where it has less quiet than that at either end."""
    if not len(audio):
        return Aligned(audio, 0.0)
    loud = np.abs(audio) > LOUD_OF_PEAK * float(np.max(np.abs(audio)))
    if not loud.any():  # all silence: nothing to align on
        return Aligned(audio, 0.0)
    first, last = int(np.argmax(loud)), len(audio) - 1 - int(np.argmax(loud[::-1]))
    start, end = first - int(lead_s * rate), last + 1 + int(tail_s * rate)
    kept = audio[max(0, start) : min(len(audio), end)]
    before = np.zeros(max(0, -start), dtype=audio.dtype)
    after = np.zeros(max(0, end - len(audio)), dtype=audio.dtype)
    return Aligned(np.concatenate([before, kept, after]), start / rate)
