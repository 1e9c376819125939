"""The engine interfaces and the values that cross them."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypedDict, Union

import numpy as np
import numpy.typing as npt

SAMPLE_RATE = 16_000  # what every Transcriber takes: 16 kHz mono float32

Audio = npt.NDArray[np.float32]


class _MessageBase(TypedDict):
    role: str  # "system" | "user" | "assistant" | "tool"
    content: str


class Message(_MessageBase, total=False):
    # OpenAI's shapes, which llama-cpp-python's chat templates and every OpenAI-compatible server read.
    tool_calls: list[dict[str, Any]]  # on an assistant message: [{id, type: "function", function: {name, arguments}}]
    tool_call_id: str  # on a tool message: which call this is the result of
    name: str  # on a tool message: the tool's name


@dataclass(frozen=True)
class ToolSpec:
    """A tool as a chat model sees it: a name, what it does, and a JSON schema for its arguments."""

    name: str
    description: str
    parameters: dict[str, Any]

    def as_openai(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }


@dataclass(frozen=True)
class TextDelta:
    """A piece of the reply's text, as the model writes it."""

    text: str


@dataclass(frozen=True)
class ToolCall:
    """The model asks for a tool to be run; the caller runs it and sends the result back as a tool message."""

    id: str
    name: str
    arguments: dict[str, Any]


ChatEvent = Union[TextDelta, ToolCall]


@dataclass(frozen=True)
class Segment:
    start: float
    end: float
    text: str


@dataclass(frozen=True)
class Transcript:
    text: str
    segments: tuple[Segment, ...] = ()
    language: str = ""
    audio_seconds: float = 0.0
    speech_seconds: float = 0.0  # what the VAD kept


@dataclass(frozen=True)
class AudioChunk:
    samples: Audio
    sample_rate: int
    text: str = field(default="")  # the text this chunk speaks, when known

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.sample_rate


class Transcriber(Protocol):
    device: str

    def transcribe(self, audio: Audio) -> Transcript: ...


class ChatModel(Protocol):
    device: str

    def chat(
        self, messages: Sequence[Message], max_tokens: int | None = None, tools: Sequence[ToolSpec] = ()
    ) -> Iterator[ChatEvent]:
        """Yield text deltas and tool calls; the caller stops iterating to cancel.

        With no tools the stream is text only. A model that cannot call tools ignores them.
        """
        ...


class Synthesizer(Protocol):
    device: str
    sample_rate: int

    def synthesize(self, text: str) -> Iterator[AudioChunk]: ...
