"""What the LLM reads of a long Realtime conversation: the newest items within the budget, cut in steps."""

from __future__ import annotations

from typing import Any

import pytest

from assistant.openai_api.realtime_config import SessionConfig
from assistant.openai_api.realtime_conversation import Conversation
from assistant.openai_api.realtime_items import HISTORY_TOKENS, AssistantMessage, FunctionCall, FunctionOutput, UserMessage
from assistant.openai_api.server import Counts
from assistant.turn.history import estimate_tokens

pytestmark = pytest.mark.quick


async def _send(message: str) -> None:
    pass


def _never(*args: Any) -> Any:
    raise AssertionError("no reply is made here")


def test_a_long_conversation_is_cut_to_the_budget_in_steps_never_at_a_reply() -> None:
    conversation = Conversation(_never, _send, lambda: SessionConfig(intent="realtime"), Counts())
    sentence = "This is a sentence of a conversation that goes on and on. " * 3
    for n in range(40):
        conversation.items += [UserMessage(f"u{n}", f"Question {n}. {sentence}"),
                               AssistantMessage(f"a{n}", f"Answer {n}. {sentence}", status="completed")]
    config = SessionConfig(intent="realtime")
    first = conversation._messages(config)
    assert first[0]["role"] == "system" and first[1]["role"] == "user"  # the instructions, then a question
    assert first[-1]["content"].startswith("Answer 39.")  # the newest always
    assert sum(estimate_tokens(m["content"]) for m in first[1:]) <= HISTORY_TOKENS
    conversation.items += [UserMessage("u40", f"Question 40. {sentence}")]
    second = conversation._messages(config)
    assert second[1] == first[1]  # the same start: the LLM's cache of the beginning is reused
    for n in range(41, 60):
        conversation.items += [UserMessage(f"u{n}", f"Question {n}. {sentence}")]
    third = conversation._messages(config)
    assert third[1] != first[1] and sum(estimate_tokens(m["content"]) for m in third[1:]) <= HISTORY_TOKENS


def test_a_cut_never_leaves_a_function_output_without_its_call() -> None:
    conversation = Conversation(_never, _send, lambda: SessionConfig(intent="realtime"), Counts())
    long = "word " * 2000  # one item over the whole budget
    conversation.items += [UserMessage("u0", long), FunctionCall("c0", "call_0", "turn_on", "{}"),
                           FunctionOutput("o0", "call_0", long), UserMessage("u1", "And the kitchen?")]
    messages = conversation._messages(SessionConfig(intent="realtime"))
    assert [m["role"] for m in messages] == ["system", "user"] and messages[-1]["content"] == "And the kitchen?"
