"""Reading any WAV/FLAC/MP3 into 16 kHz mono float32, resampling, and writing WAV."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from assistant.core.errors import AudioError
from assistant.core.speech import SAMPLE_RATE, Audio


def resample(audio: Audio, src_rate: int, dst_rate: int) -> Audio:
    if src_rate == dst_rate or len(audio) == 0:
        return np.asarray(audio, dtype=np.float32)
    import soxr

    return np.asarray(soxr.resample(audio, src_rate, dst_rate, quality="HQ"), dtype=np.float32)


def to_mono(samples: np.ndarray) -> Audio:
    data = np.asarray(samples, dtype=np.float32)
    return data.mean(axis=1).astype(np.float32) if data.ndim == 2 else data


def read_audio(path: Path) -> tuple[Audio, int]:
    """Mono float32 samples at the file's own rate."""
    import soundfile

    if not path.exists():
        raise AudioError(f"{path} does not exist; give the path of a WAV, FLAC or MP3 file")
    if path.is_dir():
        raise AudioError(f"{path} is a directory; give the path of a WAV, FLAC or MP3 file")
    try:
        data, rate = soundfile.read(str(path), dtype="float32", always_2d=False)
    except Exception:  # soundfile raises LibsndfileError, RuntimeError or TypeError depending on the damage
        raise AudioError(f"{path} is not a readable audio file; use WAV, FLAC or MP3") from None
    return to_mono(data), int(rate)


def decode_audio(data: bytes) -> tuple[Audio, int]:
    """Mono float32 samples of an encoded file held in memory (WAV, FLAC, MP3, OGG), at its own rate."""
    import io

    import soundfile

    if not data:
        raise AudioError("the file is empty; send a WAV, FLAC, MP3 or OGG recording")
    try:
        samples, rate = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=False)
    except Exception:  # soundfile raises LibsndfileError, RuntimeError or TypeError depending on the damage
        raise AudioError("the file is not audio this server can read; send WAV, FLAC, MP3 or OGG") from None
    return to_mono(samples), int(rate)


def load_speech(path: Path) -> Audio:
    """Any supported file as the 16 kHz mono float32 a Transcriber takes."""
    audio, rate = read_audio(path)
    return resample(audio, rate, SAMPLE_RATE)


def write_wav(path: Path, audio: Audio, rate: int) -> None:
    import soundfile

    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(path), np.clip(audio, -1.0, 1.0), rate, subtype="PCM_16")


def concat(chunks: list[Audio]) -> Audio:
    return np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, dtype=np.float32)
