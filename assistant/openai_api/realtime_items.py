"""A Realtime conversation's items: what the user said or typed, what the assistant said, the function
calls it made and their outputs; each as the LLM reads it (`Message`s) and as the wire shows it.

Items are the conversation's memory: every response reads all of them, in order, after the session's
instructions. A function call and its output go to the LLM the way the chat endpoint passes a client's
tool calls (an assistant message with `tool_calls`, then a `tool` message). On the wire each is the
SDK's own pydantic type, as chat.py answers with the SDK's chat types: a field we misname fails here,
not in a client.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from typing import Literal

from openai.types.realtime import (
    RealtimeConversationItemAssistantMessage,
    RealtimeConversationItemFunctionCall,
    RealtimeConversationItemFunctionCallOutput,
    RealtimeConversationItemSystemMessage,
    RealtimeConversationItemUserMessage,
)
from openai.types.realtime import realtime_conversation_item_assistant_message as assistant_message
from openai.types.realtime import realtime_conversation_item_system_message as system_message
from openai.types.realtime import realtime_conversation_item_user_message as user_message

from assistant.core.chat import Message, ToolCall
from assistant.turn.history import estimate_tokens

# What the LLM reads of the conversation, as the desktop's default history_tokens: with the instructions
# and the reply it fits the embedded LLM's 2048-token context.
HISTORY_TOKENS = 1024

_ids = itertools.count(1)


def new_id(prefix: str) -> str:
    return f"{prefix}_{next(_ids):06d}"


Status = Literal["completed", "incomplete", "in_progress"]


@dataclass
class UserMessage:
    id: str
    text: str | None  # None: spoken, and its transcript is not done yet
    spoken: bool = False

    def messages(self) -> list[Message]:
        return [{"role": "user", "content": self.text}] if self.text else []

    def wire(self) -> RealtimeConversationItemUserMessage:
        part = (user_message.Content(type="input_audio", transcript=self.text) if self.spoken
                else user_message.Content(type="input_text", text=self.text or ""))
        return RealtimeConversationItemUserMessage(id=self.id, object="realtime.item", type="message",
                                                   status="completed", role="user", content=[part])


@dataclass
class SystemMessage:
    id: str
    text: str

    def messages(self) -> list[Message]:
        return [{"role": "system", "content": self.text}]

    def wire(self) -> RealtimeConversationItemSystemMessage:
        return RealtimeConversationItemSystemMessage(
            id=self.id, object="realtime.item", type="message", status="completed", role="system",
            content=[system_message.Content(type="input_text", text=self.text)])


@dataclass
class AssistantMessage:
    id: str
    text: str = ""  # what was said (or written); cut to what was played when the user barged in
    spoken: bool = True
    status: Status = "in_progress"

    def messages(self) -> list[Message]:
        return [{"role": "assistant", "content": self.text}] if self.text else []

    def wire(self) -> RealtimeConversationItemAssistantMessage:
        part = (assistant_message.Content(type="output_audio", transcript=self.text) if self.spoken
                else assistant_message.Content(type="output_text", text=self.text))
        return RealtimeConversationItemAssistantMessage(id=self.id, object="realtime.item", type="message",
                                                        status=self.status, role="assistant", content=[part])


@dataclass
class FunctionCall:
    id: str
    call_id: str
    name: str
    arguments: str  # JSON, as the model wrote it

    @classmethod
    def of(cls, call: ToolCall) -> FunctionCall:
        return cls(new_id("item"), call.id or new_id("call"), call.name, json.dumps(call.arguments))

    def messages(self) -> list[Message]:
        return [{"role": "assistant", "content": "", "tool_calls": [
            {"id": self.call_id, "type": "function", "function": {"name": self.name, "arguments": self.arguments}}]}]

    def wire(self) -> RealtimeConversationItemFunctionCall:
        return RealtimeConversationItemFunctionCall(id=self.id, object="realtime.item", type="function_call",
                                                    status="completed", call_id=self.call_id, name=self.name,
                                                    arguments=self.arguments)


@dataclass
class FunctionOutput:
    id: str
    call_id: str
    output: str

    def messages(self) -> list[Message]:
        return [{"role": "tool", "tool_call_id": self.call_id, "content": self.output}]

    def wire(self) -> RealtimeConversationItemFunctionCallOutput:
        return RealtimeConversationItemFunctionCallOutput(id=self.id, object="realtime.item",
                                                          type="function_call_output", status="completed",
                                                          call_id=self.call_id, output=self.output)


Item = UserMessage | SystemMessage | AssistantMessage | FunctionCall | FunctionOutput


def view(items: list[Item], first: str | None, instructions: str) -> tuple[list[Message], str | None]:
    """What the LLM reads: the instructions, then the items that fit HISTORY_TOKENS, oldest first; and the
    id of the oldest item read, to start from next time (`first`, this time).

    As the desktop's history does (turn/history.py), once the items outgrow the budget the oldest go in
    one step, down to half of it, and the view then starts at the same item for several turns, so the
    LLM's KV cache is reused rather than the whole conversation read again each turn. The items
    themselves stay (a client may still truncate or delete them); only what the LLM reads is cut.
    """
    start = next((i for i, item in enumerate(items) if item.id == first), 0)
    sizes = [sum(estimate_tokens(m["content"] + json.dumps(m.get("tool_calls", ""))) for m in item.messages())
             for item in items]
    if sum(sizes[start:]) > HISTORY_TOKENS:
        kept, start = 0, len(items)
        while start > 0 and kept + sizes[start - 1] <= HISTORY_TOKENS // 2:
            start -= 1
            kept += sizes[start]
        start = min(start, len(items) - 1)  # the newest item always, however long
    while start < len(items) - 1 and isinstance(items[start], (AssistantMessage, FunctionOutput)):
        start += 1  # never begin with a reply or an output whose question or call was cut
    messages: list[Message] = [{"role": "system", "content": instructions}] if instructions else []
    for item in items[start:]:
        messages += item.messages()
    return messages, items[start].id if items else None
