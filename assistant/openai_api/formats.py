"""What the OpenAI audio endpoints send back: transcripts as json, text, verbose_json, srt or vtt; speech as
wav, pcm, flac, mp3 or opus."""

from __future__ import annotations

import enum
import io
import struct

import numpy as np

from assistant.audio.files import resample
from assistant.core.speech import Audio, Transcript

PCM_RATE = 24_000  # OpenAI's `pcm` is 24 kHz 16-bit mono, and clients play it as such
OPUS_RATE = 48_000  # one of the rates Opus takes


class TranscriptFormat(enum.Enum):
    JSON = "json"
    TEXT = "text"
    VERBOSE_JSON = "verbose_json"
    SRT = "srt"
    VTT = "vtt"


class SpeechFormat(enum.Enum):
    WAV = "wav"
    PCM = "pcm"
    FLAC = "flac"
    MP3 = "mp3"
    OPUS = "opus"

    @property
    def streams(self) -> bool:
        """Whether the audio can go out as it is made (the others are encoded whole)."""
        return self in (SpeechFormat.WAV, SpeechFormat.PCM)

    @property
    def media_type(self) -> str:
        return {"wav": "audio/wav", "pcm": "audio/pcm", "flac": "audio/flac", "mp3": "audio/mpeg",
                "opus": "audio/ogg"}[self.value]


def _timestamp(seconds: float, separator: str) -> str:
    millis = int(round(max(0.0, seconds) * 1000))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def transcript_body(transcript: Transcript, fmt: TranscriptFormat) -> tuple[str | dict[str, object], str]:
    """The response body (a JSON object or text) and its media type."""
    segments = [s for s in transcript.segments if s.text]
    if fmt is TranscriptFormat.JSON:
        return {"text": transcript.text}, "application/json"
    if fmt is TranscriptFormat.VERBOSE_JSON:
        return {
            "task": "transcribe",
            "language": transcript.language,
            "duration": round(transcript.audio_seconds, 3),
            "text": transcript.text,
            "segments": [
                {"id": i, "start": round(s.start, 3), "end": round(s.end, 3), "text": s.text} for i, s in enumerate(segments)
            ],
        }, "application/json"
    if fmt is TranscriptFormat.TEXT:
        return transcript.text + "\n", "text/plain; charset=utf-8"
    if fmt is TranscriptFormat.SRT:
        blocks = [
            f"{i}\n{_timestamp(s.start, ',')} --> {_timestamp(s.end, ',')}\n{s.text}\n" for i, s in enumerate(segments, 1)
        ]
        return "\n".join(blocks), "application/x-subrip; charset=utf-8"
    cues = [f"{_timestamp(s.start, '.')} --> {_timestamp(s.end, '.')}\n{s.text}\n" for s in segments]
    return "WEBVTT\n\n" + "\n".join(cues), "text/vtt; charset=utf-8"


def pcm16(audio: Audio) -> bytes:
    return (np.clip(audio, -1.0, 1.0) * 32767).astype("<i2").tobytes()


def wav_header(rate: int) -> bytes:
    """A 16-bit mono WAV header for a stream of unknown length (the sizes at their maximum, as OpenAI sends)."""
    unknown = 0xFFFFFFFF
    return (b"RIFF" + struct.pack("<I", unknown) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
            + b"data" + struct.pack("<I", unknown))


def chunk_bytes(audio: Audio, rate: int, fmt: SpeechFormat) -> bytes:
    """One streamed piece: 16-bit samples (pcm at 24 kHz, wav at the voice's own rate)."""
    return pcm16(resample(audio, rate, PCM_RATE) if fmt is SpeechFormat.PCM else audio)


def encode_whole(audio: Audio, rate: int, fmt: SpeechFormat) -> bytes:
    """A whole file in one of the formats that are not streamed (libsndfile writes them)."""
    import soundfile

    out = io.BytesIO()
    if fmt is SpeechFormat.OPUS:
        soundfile.write(out, resample(audio, rate, OPUS_RATE), OPUS_RATE, format="OGG", subtype="OPUS")
    elif fmt is SpeechFormat.MP3:
        soundfile.write(out, np.clip(audio, -1.0, 1.0), rate, format="MP3", subtype="MPEG_LAYER_III")
    else:
        soundfile.write(out, np.clip(audio, -1.0, 1.0), rate, format="FLAC", subtype="PCM_16")
    return out.getvalue()
