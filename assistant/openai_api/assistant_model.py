"""`model = "assistant"`: the desktop's own turn over the API (local intents, tools, the honest refusals).

A raw LLM id answers from the model's weights alone: asked the time in Tokyo it guesses one. The
assistant model runs the turn `assistant ask --no-speak` runs (`Pipeline.turn` on a typed utterance,
no sink), so the clock tool answers, as on the desktop.

Its conversation is its own: the daemon gives the API a pipeline over the same arbiter, tools and
intents with a separate `Conversation` (Assistant.separate_pipeline). An API client's questions never
enter the desktop's context or its history log, and the desktop's never reach an API client.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from assistant.core.chat import Message
from assistant.turn.history import estimate_tokens
from assistant.turn.pipeline import Pipeline
from assistant.turn.results import Models, TurnResult
from assistant.turn.utterance import Source, Utterance

ASSISTANT = "assistant"  # the model name a client asks for
DESCRIPTION = "the desktop assistant's turn: local intents, tools (the clock, timers, ...) and the current LLM"


@dataclass(frozen=True)
class Asked:
    """What a client's message list asks the assistant."""

    text: str  # the last user message: the utterance
    fresh: bool  # no earlier reply in the list: a new chat, so the conversation starts afresh


@dataclass(frozen=True)
class Answered:
    result: TurnResult
    prompt_estimate: int  # estimated tokens of the prompt an LLM would read (history.estimate_tokens)


def asked(messages: list[Message]) -> Asked | None:
    """The utterance in a client's message list; None when it has no user message with words.

    Only the last user message is the utterance. The assistant keeps its conversation itself, as it
    was really held: its own system prompt, what its tools did, the history kept to its token budget
    (and the KV cache's prefix that goes with it). A client such as Open WebUI sends the whole chat
    again with each request; replayed, it would double the history, and a client's system prompt
    would replace the assistant's. A list with no assistant message is a chat that just began, so
    the conversation is cleared: a new chat in the client is a new conversation here.
    """
    text = next((str(m.get("content") or "") for m in reversed(messages) if m.get("role") == "user"), "").strip()
    if not text:
        return None
    return Asked(text, fresh=not any(m.get("role") == "assistant" for m in messages))


class AssistantModel:
    def __init__(self, pipeline: Pipeline, models: Callable[[], Models]) -> None:
        self.pipeline = pipeline
        self.models = models
        # One turn at a time: each turn reads the conversation and adds to it, and two at once would
        # each answer without the other's question in the history, and store both in either order.
        self._lock = asyncio.Lock()

    async def turn(self, question: Asked, on_sentence: Callable[[str], None] | None = None) -> Answered:
        """The reply to `question`, as `assistant ask --no-speak` makes it; `on_sentence` hears an LLM's
        sentences as they are written. Errors are the pipeline's (AssistantError)."""
        async with self._lock:
            if question.fresh:
                self.pipeline.conversation.clear()
            # The messages the LLM will read (the same call trims the history to its budget, as the turn's does).
            prompt = self.pipeline.conversation.messages(question.text)
            utterance = Utterance.typed(question.text, Source.API)
            result = TurnResult(id=uuid.uuid4().hex[:12], on_sentence=on_sentence)
            try:
                await self.pipeline.turn(utterance, self.models(), None, result)
                return Answered(result, sum(estimate_tokens(m["content"]) for m in prompt))
            finally:
                await utterance.settle()
