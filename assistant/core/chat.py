"""The values of a chat: messages, tools as a model sees them, and what a model streams back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypedDict, Union


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
