"""The values of a chat: messages, tools as a model sees them, and what a model streams back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypedDict, Union

if TYPE_CHECKING:  # the SDK's shapes, for the type checker; core imports no client library at run time
    from openai.types.chat import ChatCompletionFunctionToolParam, ChatCompletionMessageFunctionToolCallParam

Role = Literal["system", "user", "assistant", "tool"]


class _MessageBase(TypedDict):
    role: Role
    content: str  # always text: an API client's content parts are joined on the way in


class Message(_MessageBase, total=False):
    """A chat message in OpenAI's shape, which llama-cpp-python's chat templates and every OpenAI-compatible
    server read. Narrower than the SDK's ChatCompletionMessageParam (one TypedDict, text content), so a
    reader needs no case per role; its parts are the SDK's own."""

    tool_calls: list[ChatCompletionMessageFunctionToolCallParam]  # on an assistant message
    tool_call_id: str  # on a tool message: which call this is the result of
    name: str  # on a tool message: the tool's name


@dataclass(frozen=True)
class ToolSpec:
    """A tool as a chat model sees it: a name, what it does, and a JSON schema for its arguments."""

    name: str
    description: str
    parameters: dict[str, Any]

    def as_openai(self) -> ChatCompletionFunctionToolParam:
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
