"""Raw PCM bytes (what Wyoming carries) to and from the float32 samples the engines use."""

from __future__ import annotations

import numpy as np

from assistant.core.errors import AudioError
from assistant.core.speech import Audio

WIDTHS = (1, 2, 4)  # bytes per sample: unsigned 8-bit, signed 16-bit and 32-bit, little-endian


def to_pcm16(audio: Audio) -> bytes:
    """Float samples in [-1, 1] as signed 16-bit little-endian PCM."""
    clipped = np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0)
    return (clipped * 32767.0).astype("<i2").tobytes()


def from_pcm(data: bytes, width: int, channels: int) -> Audio:
    """Interleaved PCM as mono float32 (channels averaged)."""
    if width not in WIDTHS:
        raise AudioError(f"audio sample width {width} is not supported; send 2-byte (16-bit) samples")
    if channels < 1:
        raise AudioError(f"audio with {channels} channels makes no sense; send mono (1 channel)")
    frame = width * channels
    if len(data) % frame:
        raise AudioError(f"{len(data)} bytes of audio do not divide into {width}-byte samples × {channels} channels")
    if width == 1:
        samples = (np.frombuffer(data, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
    elif width == 2:
        samples = np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
    else:
        samples = np.frombuffer(data, dtype="<i4").astype(np.float32) / 2147483648.0
    if channels > 1:
        samples = samples.reshape(-1, channels).mean(axis=1)
    return np.ascontiguousarray(samples, dtype=np.float32)
