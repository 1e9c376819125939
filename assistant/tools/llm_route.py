"""The LLM route: the model sees the tools, asks for calls, gets their results, and writes the final answer."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from contextlib import aclosing

from assistant.core.chat import Message, TextDelta, ToolCall
from assistant.hosts.proxies import Llm
from assistant.tools.registry import Registry, ToolCallRecord

# Rounds of tool calls in one turn; the round after the last is asked with no tools, so it must answer.
MAX_TOOL_ROUNDS = 3


async def converse(
    llm: Llm, messages: list[Message], registry: Registry, records: list[ToolCallRecord]
) -> AsyncGenerator[str, None]:
    """Yield the reply's text as it streams; run each tool the model calls in between.

    `llm` is the leased LLM. Each tool run is appended to `records`.
    A tool that fails ends the turn with its own honest sentence: a small model, handed an error,
    may well reword it as a success, so the failure is spoken as the tool wrote it.
    Cancelling the caller cancels a tool that is running (its task sees CancelledError).
    """
    specs = registry.specs()
    history = list(messages)
    for round_no in range(MAX_TOOL_ROUNDS + 1):
        offered = specs if round_no < MAX_TOOL_ROUNDS else []
        calls: list[ToolCall] = []
        async with aclosing(llm.chat(history, tools=offered)) as events:
            async for event in events:
                if isinstance(event, ToolCall):
                    calls.append(event)
                elif isinstance(event, TextDelta) and event.text:
                    yield event.text
        if not calls or not offered:
            # After the last round a call (from a server that ignores an empty tool list) is not run:
            # its result would reach no one, and the rounds' bound is what stops a model that loops.
            return
        history.append(
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {
                        "id": call.id,
                        "type": "function",
                        "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
                    }
                    for call in calls
                ],
            }
        )
        for call in calls:
            result = await registry.call(call.name, call.arguments, "llm", records)
            if not result.ok:
                yield " " + result.text
                return
            history.append({"role": "tool", "tool_call_id": call.id, "name": call.name, "content": result.text})
