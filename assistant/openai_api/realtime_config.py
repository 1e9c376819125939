"""A Realtime session's configuration: what `session.update` (and `response.create`'s options) set, read
into this server's terms, and shown back as the GA session object.

Clients send the GA shape (`audio.input.turn_detection`, `output_modalities`, flat function tools) or the
beta's (`input_audio_format`, `modalities`, `turn_detection` at the top); both are read here. A value
this server cannot serve is an EventError that says what it can.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from assistant.core.chat import ToolSpec
from assistant.openai_api.errors import EventError

RATES = (24_000, 16_000)  # OpenAI's PCM rate, and the ASR's own (no resampling)
INSTRUCTIONS = ("You are a helpful voice assistant. Answer in a few short spoken sentences, "
                "without lists or markup.")  # a session that gives none


class Detection(Enum):
    """How the end of an utterance is found ("turn_detection")."""

    NONE = "none"  # the client commits
    SERVER_VAD = "server_vad"  # a silence after speech
    SEMANTIC_VAD = "semantic_vad"  # the end-of-turn model, up to a longest pause


class Modality(Enum):
    """What a response is made of: speech (with its transcript), or text alone."""

    AUDIO = "audio"
    TEXT = "text"


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
    # Conversation sessions: how replies are made.
    llm: str = ""  # the model the client connected with (?model=): a catalog LLM, or OpenAI's name for the current one
    instructions: str = INSTRUCTIONS
    tools: tuple[ToolSpec, ...] = ()
    modality: Modality = Modality.AUDIO
    voice: str = ""  # a catalog voice, or OpenAI's name for the current one
    max_output_tokens: int | None = None
    create_response: bool = True  # a reply starts when turn detection commits an utterance
    interrupt_response: bool = True  # speech during a reply cancels it (barge-in)

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
        replies = {} if self.intent == "transcription" else {
            "create_response": self.create_response, "interrupt_response": self.interrupt_response}
        if self.detection is Detection.SERVER_VAD:
            detection = {"type": "server_vad", "threshold": self.threshold, "silence_duration_ms": round(self.silence_s * 1000),
                         "prefix_padding_ms": round(self.prefix_padding_s * 1000), **replies}
        elif self.detection is Detection.SEMANTIC_VAD:
            detection = {"type": "semantic_vad", "eagerness": self.eagerness, **replies}
        transcription = {"model": self.model or "whisper-1", "language": self.language, "prompt": self.prompt or ""}
        audio_input = {"format": {"type": "audio/pcm", "rate": self.rate}, "transcription": transcription,
                       "turn_detection": detection, "noise_reduction": None}
        if self.intent == "transcription":
            return {"type": "transcription", "object": "realtime.transcription_session", "audio": {"input": audio_input}}
        return {
            "type": "realtime", "object": "realtime.session", "model": self.llm or "gpt-realtime",
            "instructions": self.instructions, "output_modalities": [self.modality.value],
            "tools": [{"type": "function", "name": t.name, "description": t.description, "parameters": t.parameters}
                      for t in self.tools],
            "tool_choice": "auto", "max_output_tokens": self.max_output_tokens or "inf",
            "audio": {"input": audio_input,
                      "output": {"format": {"type": "audio/pcm", "rate": 24_000}, "voice": self.voice or "alloy"}},
        }


@dataclass(frozen=True)
class ResponseOptions:
    """What one `response.create` sets for that response alone (None: the session's)."""

    instructions: str | None = None
    modality: Modality | None = None
    max_output_tokens: int | None = None
    tools: tuple[ToolSpec, ...] | None = None

    def over(self, config: SessionConfig) -> SessionConfig:
        """The session's configuration for this response."""
        return replace(
            config,
            instructions=config.instructions if self.instructions is None else self.instructions,
            modality=self.modality or config.modality,
            max_output_tokens=self.max_output_tokens or config.max_output_tokens,
            tools=config.tools if self.tools is None else self.tools,
        )


# ---------------------------------------------------------------------------------------- reading

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
    create_response: bool | None = None
    interrupt_response: bool | None = None


class _Transcription(_Loose):
    model: str | None = None
    language: str | None = None
    prompt: str | None = None


class _Input(_Loose):
    format: _Format | None = None
    transcription: _Transcription | None = None
    turn_detection: _Detection | None = None


class _Output(_Loose):
    format: _Format | None = None
    voice: str | None = None


class _Audio(_Loose):
    input: _Input | None = None
    output: _Output | None = None


class _Function(_Loose):
    name: str
    description: str = ""
    parameters: dict[str, Any] | None = None


class _Tool(_Loose):
    type: str = "function"
    name: str | None = None  # the Realtime API's flat shape
    description: str = ""
    parameters: dict[str, Any] | None = None
    function: _Function | None = None  # the chat endpoint's nested shape, which some clients send here too


class _Reply(_Loose):
    """What a session and a response share."""

    instructions: str | None = None
    output_modalities: list[Literal["audio", "text"]] | None = None
    modalities: list[Literal["audio", "text"]] | None = None  # the beta's name
    max_output_tokens: int | Literal["inf"] | None = None
    max_response_output_tokens: int | Literal["inf"] | None = None  # the beta's name
    tools: list[_Tool] | None = None


class _Session(_Reply):
    type: Literal["transcription", "realtime"] | None = None
    audio: _Audio | None = None
    # The beta's flat names (transcription_session.update, and session.update before the GA).
    input_audio_format: str | None = None
    input_audio_transcription: _Transcription | None = None
    turn_detection: _Detection | None = None
    voice: str | None = None


def _parsed(model: type[_Reply], value: object, name: str) -> Any:
    if not isinstance(value, dict):
        raise EventError(f"'{name}' must be an object", "invalid_session")
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise EventError(f"{name}.{where}: {first['msg']}", "invalid_session") from None


def _modality(given: list[Literal["audio", "text"]] | None) -> Modality | None:
    if not given:
        return None
    return Modality.AUDIO if "audio" in given else Modality.TEXT  # audio always comes with its transcript


def _tokens(given: int | Literal["inf"] | None) -> int | None:
    if given is None or given == "inf":
        return None
    if given < 1:
        raise EventError("max_output_tokens must be a positive whole number or 'inf'", "invalid_session")
    return given


def _tools(given: list[_Tool]) -> tuple[ToolSpec, ...]:
    specs = []
    for i, tool in enumerate(given):
        function = tool.function or (_Function(name=tool.name, description=tool.description, parameters=tool.parameters)
                                     if tool.name else None)
        if tool.type != "function" or function is None:
            raise EventError(f"tools[{i}] must be {{type: function, name, description, parameters}}; only function "
                             "tools are served here", "invalid_tools")
        specs.append(ToolSpec(function.name, function.description,
                              dict(function.parameters or {"type": "object", "properties": {}})))
    return tuple(specs)


def response_options(value: object) -> ResponseOptions:
    """`response.create`'s `response` (absent: the session's settings)."""
    if value is None:
        return ResponseOptions()
    parsed: _Reply = _parsed(_Reply, value, "response")
    return ResponseOptions(
        instructions=parsed.instructions,
        modality=_modality(parsed.output_modalities or parsed.modalities),
        max_output_tokens=_tokens(parsed.max_output_tokens if parsed.max_output_tokens is not None
                                  else parsed.max_response_output_tokens),
        tools=None if parsed.tools is None else _tools(parsed.tools),
    )


def updated(config: SessionConfig, session: object) -> SessionConfig:
    """`config` with a `session.update`'s `session` applied."""
    parsed: _Session = _parsed(_Session, session, "session")
    if parsed.type is not None:
        config = replace(config, intent=parsed.type)
    given_input = parsed.audio.input if parsed.audio is not None and parsed.audio.input is not None else None
    # GA nesting first; the beta's flat fields where the GA ones are absent.
    fmt = given_input.format if given_input is not None else None
    if fmt is None and parsed.input_audio_format is not None:
        fmt = _Format(type="audio/pcm" if parsed.input_audio_format == "pcm16" else parsed.input_audio_format)
    if fmt is not None:
        config = replace(config, rate=_rate(fmt))
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
    return _replies(config, parsed)


def _rate(fmt: _Format) -> int:
    if fmt.type != "audio/pcm":
        raise EventError(f"audio format {fmt.type!r} is not served here; send audio/pcm (pcm16) at 24000 or 16000 Hz",
                         "unsupported_format")
    rate = fmt.rate or 24_000
    if rate not in RATES:
        raise EventError(f"a rate of {rate} Hz is not served here; send 16-bit PCM at 24000 or 16000 Hz",
                         "unsupported_rate")
    return rate


def _replies(config: SessionConfig, parsed: _Session) -> SessionConfig:
    """How replies are made: instructions, modality, tools, voice, the token cap."""
    options = response_options(parsed.model_dump(exclude_unset=True, include=set(_Reply.model_fields)))
    output = parsed.audio.output if parsed.audio is not None else None
    if output is not None and output.format is not None and (output.format.type != "audio/pcm"
                                                             or (output.format.rate or 24_000) != 24_000):
        raise EventError("output audio is served as audio/pcm at 24000 Hz only", "unsupported_format")
    voice = (output.voice if output is not None else None) or parsed.voice
    tokens_set = {"max_output_tokens", "max_response_output_tokens"} & parsed.model_fields_set
    return replace(
        options.over(config),
        voice=voice or config.voice,
        max_output_tokens=options.max_output_tokens if tokens_set else config.max_output_tokens,
    )


def _detection(config: SessionConfig, detection: _Detection | None) -> SessionConfig:
    if detection is None:
        return replace(config, detection=Detection.NONE)
    replies = replace(
        config,
        create_response=config.create_response if detection.create_response is None else detection.create_response,
        interrupt_response=(config.interrupt_response if detection.interrupt_response is None
                            else detection.interrupt_response),
    )
    if detection.type == "server_vad":
        threshold = detection.threshold if detection.threshold is not None else config.threshold
        silence_ms = detection.silence_duration_ms if detection.silence_duration_ms is not None else config.silence_s * 1000
        padding_ms = detection.prefix_padding_ms if detection.prefix_padding_ms is not None else config.prefix_padding_s * 1000
        if not 0.0 <= threshold <= 1.0 or not 0 <= silence_ms <= 10_000 or not 0 <= padding_ms <= 10_000:
            raise EventError("server_vad takes a threshold from 0 to 1 and silence_duration_ms and prefix_padding_ms "
                             "from 0 to 10000", "invalid_session")
        return replace(replies, detection=Detection.SERVER_VAD, threshold=threshold, silence_s=silence_ms / 1000,
                       prefix_padding_s=padding_ms / 1000)
    if detection.type == "semantic_vad":
        return replace(replies, detection=Detection.SEMANTIC_VAD, eagerness=detection.eagerness or config.eagerness)
    raise EventError(f"turn_detection {detection.type!r} is not one of server_vad, semantic_vad (or null: the client "
                     "commits)", "invalid_session")
