"""The Realtime API's wire: client events read into typed ones, and the server's events written.

OpenAI's Realtime protocol (GA, and the beta names clients still send) over a WebSocket: each message is
one JSON event. What a transcription session takes is read here into `Append`, `Commit`, `Clear` and
`Update` (the session's configuration as far as this server serves it); everything else is an
`EventError` with OpenAI's error code, which the session answers with an `error` event and lives on.
The session's own state is realtime_session.py's.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

MAX_MESSAGE = 15 * 1024 * 1024  # OpenAI's cap on one client event
RATES = (24_000, 16_000)  # OpenAI's PCM rate, and the ASR's own (no resampling)
NO_REPLIES = (
    "spoken replies and conversation items over the Realtime API are not served yet; this server transcribes "
    "(a transcription session); use /v1/chat/completions and /v1/audio/speech for replies"
)


class Detection(Enum):
    """How the end of an utterance is found ("turn_detection")."""

    NONE = "none"  # the client commits
    SERVER_VAD = "server_vad"  # a silence after speech
    SEMANTIC_VAD = "semantic_vad"  # the end-of-turn model, up to a longest pause


@dataclass(frozen=True)
class SessionConfig:
    """What the client chose, in this server's terms."""

    intent: Literal["transcription", "realtime"] = "transcription"
    rate: int = 24_000
    detection: Detection = Detection.SERVER_VAD
    silence_s: float = 0.5  # server_vad: the quiet that ends speech (OpenAI's default 500 ms)
    threshold: float = 0.5  # server_vad: the voice detector's probability of speech
    prefix_padding_s: float = 0.3
    eagerness: str = "auto"  # semantic_vad: low, medium (auto) or high: the longest pause is 8, 4 or 2 s
    model: str = ""  # the transcription model the client named ("" or OpenAI's: the current ASR)
    language: str | None = None
    prompt: str | None = None

    def detects_as(self, other: SessionConfig) -> bool:
        """Whether `other` finds the ends of utterances as this does (an update that keeps them keeps an
        utterance being spoken)."""
        fields = ("detection", "silence_s", "threshold", "prefix_padding_s", "eagerness")
        return all(getattr(self, name) == getattr(other, name) for name in fields)

    @property
    def longest_pause_s(self) -> float:
        return {"low": 8.0, "high": 2.0}.get(self.eagerness, 4.0)

    def wire(self) -> dict[str, Any]:
        """The session as `session.created` / `session.updated` show it (GA shape)."""
        detection: dict[str, Any] | None = None
        if self.detection is Detection.SERVER_VAD:
            detection = {"type": "server_vad", "threshold": self.threshold, "silence_duration_ms": round(self.silence_s * 1000),
                         "prefix_padding_ms": round(self.prefix_padding_s * 1000)}
        elif self.detection is Detection.SEMANTIC_VAD:
            detection = {"type": "semantic_vad", "eagerness": self.eagerness}
        transcription = {"model": self.model or "whisper-1", "language": self.language, "prompt": self.prompt or ""}
        return {
            "type": self.intent,
            "object": "realtime.transcription_session" if self.intent == "transcription" else "realtime.session",
            "audio": {"input": {"format": {"type": "audio/pcm", "rate": self.rate}, "transcription": transcription,
                                "turn_detection": detection, "noise_reduction": None}},
        }


# ---------------------------------------------------------------------------------------- client events


@dataclass(frozen=True)
class Append:
    audio: bytes  # 16-bit little-endian mono PCM at the session's rate
    event_id: str | None = None  # the client's own, sent back with an error about this event


@dataclass(frozen=True)
class Commit:
    event_id: str | None = None


@dataclass(frozen=True)
class Clear:
    event_id: str | None = None


@dataclass(frozen=True)
class Update:
    config: SessionConfig  # the session's configuration with the update applied
    event_id: str | None = None


ClientEvent = Append | Commit | Clear | Update


class EventError(Exception):
    """A client event this server cannot take: OpenAI's error code and one line that says what to send."""

    def __init__(self, message: str, code: str = "invalid_value", event_id: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.event_id = event_id


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _Format(_Loose):
    type: str = "audio/pcm"
    rate: int | None = None


class _Detection(_Loose):
    type: str
    threshold: float | None = None
    silence_duration_ms: int | None = None
    prefix_padding_ms: int | None = None
    eagerness: Literal["low", "medium", "high", "auto"] | None = None


class _Transcription(_Loose):
    model: str | None = None
    language: str | None = None
    prompt: str | None = None


class _Input(_Loose):
    format: _Format | None = None
    transcription: _Transcription | None = None
    turn_detection: _Detection | None = None


class _Audio(_Loose):
    input: _Input | None = None


class _Session(_Loose):
    type: Literal["transcription", "realtime"] | None = None
    audio: _Audio | None = None
    # The beta's flat names (transcription_session.update, and session.update before the GA).
    input_audio_format: str | None = None
    input_audio_transcription: _Transcription | None = None
    turn_detection: _Detection | None = None


def read(message: str | bytes, config: SessionConfig) -> ClientEvent:
    """One message as a client event, against the session's current `config`; an EventError otherwise."""
    if len(message) > MAX_MESSAGE:
        raise EventError(f"the message is over {MAX_MESSAGE // (1024 * 1024)} MB; send audio in smaller appends",
                         "message_too_large")
    try:
        event = json.loads(message)
    except ValueError:
        raise EventError("the message is not JSON; send one JSON event per message", "invalid_json") from None
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        raise EventError("an event is a JSON object with a 'type'", "invalid_event")
    kind, event_id = event["type"], event.get("event_id") if isinstance(event.get("event_id"), str) else None
    try:
        if kind == "input_audio_buffer.append":
            return Append(_pcm(event.get("audio")), event_id)
        if kind == "input_audio_buffer.commit":
            return Commit(event_id)
        if kind == "input_audio_buffer.clear":
            return Clear(event_id)
        if kind in ("session.update", "transcription_session.update"):
            return Update(_updated(config, event.get("session")), event_id)
    except EventError as exc:
        raise EventError(exc.message, exc.code, event_id) from None
    if kind.startswith("response.") or kind.startswith("conversation.item."):
        raise EventError(NO_REPLIES, "unsupported_event", event_id)
    raise EventError(f"{kind!r} is not an event this server takes; a transcription session takes session.update and "
                     "input_audio_buffer.append, .commit and .clear", "unknown_event", event_id)


def _pcm(audio: object) -> bytes:
    if not isinstance(audio, str):
        raise EventError("'audio' must be base64 of 16-bit PCM", "invalid_audio")
    try:
        data = base64.b64decode(audio, validate=True)
    except (binascii.Error, ValueError):
        raise EventError("'audio' is not valid base64; send base64 of 16-bit little-endian PCM", "invalid_audio") from None
    if len(data) % 2:
        raise EventError("'audio' is an odd number of bytes; 16-bit PCM has two per sample", "invalid_audio")
    return data


def _updated(config: SessionConfig, session: object) -> SessionConfig:
    if not isinstance(session, dict):
        raise EventError("'session' must be an object", "invalid_session")
    try:
        parsed = _Session.model_validate(session)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise EventError(f"session.{where}: {first['msg']}", "invalid_session") from None
    if parsed.type is not None:
        config = replace(config, intent=parsed.type)
    given_input = parsed.audio.input if parsed.audio is not None and parsed.audio.input is not None else None
    # GA nesting first; the beta's flat fields where the GA ones are absent.
    fmt = given_input.format if given_input is not None else None
    if fmt is None and parsed.input_audio_format is not None:
        fmt = _Format(type="audio/pcm" if parsed.input_audio_format == "pcm16" else parsed.input_audio_format)
    if fmt is not None:
        if fmt.type != "audio/pcm":
            raise EventError(f"audio format {fmt.type!r} is not served here; send audio/pcm (pcm16) at 24000 or 16000 Hz",
                             "unsupported_format")
        rate = fmt.rate or 24_000
        if rate not in RATES:
            raise EventError(f"a rate of {rate} Hz is not served here; send 16-bit PCM at 24000 or 16000 Hz",
                             "unsupported_rate")
        config = replace(config, rate=rate)
    transcription = given_input.transcription if given_input is not None else None
    transcription = transcription or parsed.input_audio_transcription
    if transcription is not None:
        config = replace(config, model=transcription.model or config.model, language=transcription.language or None,
                         prompt=transcription.prompt or None)
    # turn_detection: absent leaves it; null turns it off (the client commits).
    detection_set = given_input is not None and "turn_detection" in given_input.model_fields_set
    detection = given_input.turn_detection if detection_set and given_input is not None else parsed.turn_detection
    if detection_set or "turn_detection" in parsed.model_fields_set:
        config = _detection(config, detection)
    return config


def _detection(config: SessionConfig, detection: _Detection | None) -> SessionConfig:
    if detection is None:
        return replace(config, detection=Detection.NONE)
    if detection.type == "server_vad":
        threshold = detection.threshold if detection.threshold is not None else config.threshold
        silence_ms = detection.silence_duration_ms if detection.silence_duration_ms is not None else config.silence_s * 1000
        padding_ms = detection.prefix_padding_ms if detection.prefix_padding_ms is not None else config.prefix_padding_s * 1000
        if not 0.0 <= threshold <= 1.0 or not 0 <= silence_ms <= 10_000 or not 0 <= padding_ms <= 10_000:
            raise EventError("server_vad takes a threshold from 0 to 1 and silence_duration_ms and prefix_padding_ms "
                             "from 0 to 10000", "invalid_session")
        return replace(config, detection=Detection.SERVER_VAD, threshold=threshold, silence_s=silence_ms / 1000,
                       prefix_padding_s=padding_ms / 1000)
    if detection.type == "semantic_vad":
        return replace(config, detection=Detection.SEMANTIC_VAD, eagerness=detection.eagerness or config.eagerness)
    raise EventError(f"turn_detection {detection.type!r} is not one of server_vad, semantic_vad (or null: the client "
                     "commits)", "invalid_session")


# ---------------------------------------------------------------------------------------- server events

_ids = itertools.count(1)


def new_id(prefix: str) -> str:
    return f"{prefix}_{next(_ids):06d}"


def server_event(kind: str, **fields: Any) -> str:
    """One server event as its JSON message, with a fresh event_id."""
    return json.dumps({"type": kind, "event_id": new_id("event"), **fields})


def error_event(message: str, code: str, event_id: str | None = None, kind: str = "invalid_request_error") -> str:
    return server_event("error", error={"type": kind, "code": code, "message": message, "param": None,
                                       "event_id": event_id})
