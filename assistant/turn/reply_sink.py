"""Where a reply's voice goes: the sound device, or (with none, or when asked not to speak) a WAV file kept
among the newest few."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from assistant.audio.sinks import WavSink
from assistant.turn.sink import AudioSink

if TYPE_CHECKING:
    from assistant.audio.io import AudioIO

# Replies written as WAV files (no output device) are kept this many at most, the newest.
KEEP_REPLIES = 50


def prune_replies(directory: Path, keep: int) -> None:
    """Remove all but the `keep` newest reply WAVs (a few dozen files: listing them is cheap)."""
    try:
        wavs = sorted(directory.glob("*.wav"), key=lambda p: p.stat().st_mtime)
    except OSError:
        return  # a file removed while listing: prune at the next reply
    for old in wavs[: max(0, len(wavs) - keep)]:
        old.unlink(missing_ok=True)


def reply_sink(audio: AudioIO | None, replies: Path, name: str) -> tuple[AudioSink, WavSink | None]:
    """The sound device's sink when it can play; otherwise a WAV file in `replies` (returned too)."""
    if audio is not None and not audio.output_problem:
        return audio.sink(), None
    prune_replies(replies, KEEP_REPLIES - 1)
    wav = WavSink(replies / f"{name}.wav")
    return wav, wav
