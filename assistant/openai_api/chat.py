"""/v1/chat/completions: a raw LLM of the catalog (passed through, client tools and all), or the assistant.

`model = "assistant"` runs the desktop's turn (assistant_model.py); any other name is a catalog LLM,
or OpenAI's name for the current one, and answers from its weights alone.

`usage` counts tokens. A llama.cpp model reports them: the prompt's tokens (those its KV cache held
included) and the tokens it sampled. Where the engine reports none (a remote server, a scripted one)
and where no model wrote the reply (a local intent's answer), the counts are estimates: a token for
every 3 characters (turn/history.py's estimate_tokens, which over-counts English on purpose).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any, Literal

from openai.types import CompletionUsage
from openai.types.chat import ChatCompletion, ChatCompletionChunk, ChatCompletionMessage
from openai.types.chat import chat_completion, chat_completion_chunk, chat_completion_message_function_tool_call
from openai.types.chat.chat_completion_chunk import ChoiceDelta, ChoiceDeltaToolCall, ChoiceDeltaToolCallFunction
from openai.types.chat.chat_completion_message_function_tool_call import ChatCompletionMessageFunctionToolCall
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from assistant.core.chat import Message, Role, TextDelta, ToolCall, ToolSpec
from assistant.core.errors import AssistantError
from assistant.hosts.proxies import Llm, PromptStats
from assistant.openai_api.assistant_model import ASSISTANT, Answered, AssistantModel, asked
from assistant.openai_api.common import Services, leased, read_json, stream
from assistant.openai_api.errors import bad_request, resolve
from assistant.openai_api.server import Handler
from assistant.turn.history import estimate_tokens


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int

    def as_openai(self) -> CompletionUsage:
        return CompletionUsage(prompt_tokens=self.prompt_tokens, completion_tokens=self.completion_tokens,
                               total_tokens=self.prompt_tokens + self.completion_tokens)


def raw_usage(stats: PromptStats | None, messages: Sequence[Message], tools: Sequence[ToolSpec], text: str,
              calls: Sequence[ToolCall]) -> Usage:
    """The engine's counts where it gave them, or estimates from the text in and out."""
    if stats and "prompt_tokens" in stats and "completion_tokens" in stats:
        return Usage(stats["prompt_tokens"], stats["completion_tokens"])
    offered = json.dumps([spec.as_openai() for spec in tools]) if tools else ""
    prompt = sum(estimate_tokens(m["content"]) for m in messages)
    prompt += estimate_tokens(offered) if offered else 0
    written = text + "".join(json.dumps(call.arguments) + call.name for call in calls)
    return Usage(prompt, estimate_tokens(written) if written else 0)


def turn_usage(answered: Answered) -> Usage:
    result, timings = answered.result, answered.result.timings
    if result.llm and timings.prompt_evaluated is not None and timings.completion_tokens is not None:
        # The LLM's own counts (of its last round, when it called a tool first).
        return Usage(int(timings.prompt_evaluated + (timings.prompt_reused or 0)), int(timings.completion_tokens))
    if not result.llm:  # a local intent or a refusal: no model read a prompt; the words in and out
        return Usage(estimate_tokens(result.transcript), estimate_tokens(result.reply) if result.reply else 0)
    return Usage(answered.prompt_estimate, estimate_tokens(result.full_reply) if result.full_reply else 0)


async def engine_counts(llm: Llm) -> PromptStats | None:
    """The engine's token counts of the completion it just made (None: it keeps none).

    Asked right after the stream, under the same lease; a request of another client that the worker
    ran in between would be counted instead, which only a count taken with the reply itself avoids.
    """
    try:
        return await llm.prompt_stats()
    except AssistantError:
        return None


def chat_route(services: Services) -> Handler:
    arbiter, models = services.arbiter, services.models

    async def chat(request: Request) -> Response:
        body = await read_json(request)
        name = str(body.get("model") or "")
        messages = _messages(body.get("messages"))
        created, reply_id = int(time.time()), f"chatcmpl-{uuid.uuid4().hex[:24]}"
        stream_options = body.get("stream_options")
        include_usage = isinstance(stream_options, dict) and bool(stream_options.get("include_usage"))
        if name == ASSISTANT and services.assistant is not None:
            return await _assistant(services, services.assistant, messages, bool(body.get("stream")), include_usage,
                                    created, reply_id)
        model = resolve(services.catalog, name, "llm", models().llm)
        tools = _tools(body.get("tools"))
        max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
        if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens < 1):
            raise bad_request("max_tokens must be a positive whole number")
        stats: list[PromptStats | None] = []

        async def events() -> AsyncIterator[TextDelta | ToolCall]:
            async with arbiter.use(model) as host:
                llm = Llm(host)
                async with aclosing(llm.chat(messages, max_tokens, tools)) as reply:
                    async for event in reply:
                        yield event
                stats.append(await engine_counts(llm))

        def chunk(delta: ChoiceDelta, finish: _Finish | None = None) -> dict[str, str]:
            return _data(_chunk(reply_id, created, model, delta, finish))

        if body.get("stream"):
            async def sse() -> AsyncIterator[Any]:
                yield chunk(ChoiceDelta(role="assistant", content=""))
                text, calls = "", list[ToolCall]()
                async for event in events():
                    if isinstance(event, TextDelta):
                        text += event.text
                        yield chunk(ChoiceDelta(content=event.text))
                    else:
                        yield chunk(ChoiceDelta(tool_calls=[_delta_call(event, len(calls))]))
                        calls.append(event)
                yield chunk(ChoiceDelta(), "tool_calls" if calls else "stop")
                if include_usage:
                    usage = raw_usage(stats[-1] if stats else None, messages, tools, text, calls)
                    yield _data(_usage_chunk(reply_id, created, model, usage))
                yield {"data": "[DONE]"}

            return await stream(services, sse(), sse=True)

        async def collect() -> tuple[str, list[ToolCall]]:
            text, calls = "", []
            async for event in events():
                if isinstance(event, TextDelta):
                    text += event.text
                else:
                    calls.append(event)
            return text, calls

        text, calls = await leased(services, collect)
        message = ChatCompletionMessage(role="assistant", content=text or None)
        if calls:
            message.tool_calls = [_message_call(call) for call in calls]
        usage = raw_usage(stats[-1] if stats else None, messages, tools, text, calls)
        return _json(_completion(reply_id, created, model, message, "tool_calls" if calls else "stop", usage))

    return chat


async def _assistant(services: Services, assistant: AssistantModel, messages: list[Message], streamed: bool,
                     include_usage: bool, created: int, reply_id: str) -> Response:
    """The assistant model's reply. A client's `tools` and `max_tokens` are not used: the assistant runs
    its own tools, and its replies are as long as its settings make them, as on the desktop."""
    question = asked(messages)
    if question is None:
        raise bad_request("the assistant model needs a user message with words in it", "invalid_messages")
    if not streamed:
        answered: Answered = await leased(services, lambda: assistant.turn(question))
        message = ChatCompletionMessage(role="assistant", content=answered.result.reply)
        return _json(_completion(reply_id, created, ASSISTANT, message, "stop", turn_usage(answered)))

    def event(delta: ChoiceDelta, finish: _Finish | None = None) -> dict[str, str]:
        return _data(_chunk(reply_id, created, ASSISTANT, delta, finish))

    async def sse() -> AsyncIterator[Any]:
        # Sentence by sentence, as the LLM writes them (a local intent's answer comes whole, at the end).
        sentences: asyncio.Queue[str | None] = asyncio.Queue()

        async def run() -> Answered:
            try:
                return await assistant.turn(question, sentences.put_nowait)
            finally:
                sentences.put_nowait(None)

        task = asyncio.get_running_loop().create_task(run())
        sent = 0
        try:
            yield event(ChoiceDelta(role="assistant", content=""))
            while (sentence := await sentences.get()) is not None:
                yield event(ChoiceDelta(content=(" " if sent else "") + sentence))  # joined, they are the reply
                sent += 1
            answered = await task  # its AssistantError ends the stream with OpenAI's error event
            for sentence in answered.result.sentences[sent:]:
                yield event(ChoiceDelta(content=(" " if sent else "") + sentence))
                sent += 1
            yield event(ChoiceDelta(), "stop")
            if include_usage:
                yield _data(_usage_chunk(reply_id, created, ASSISTANT, turn_usage(answered)))
            yield {"data": "[DONE]"}
        finally:
            if not task.done():  # the client left: the turn stops as a barge-in stops it
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    return await stream(services, sse(), sse=True)


# ---------------------------------------------------------------- replies, as the SDK's own models

_Finish = Literal["stop", "tool_calls"]


def _wire(reply: BaseModel) -> dict[str, Any]:
    """Only the fields we set: the SDK's optional ones (logprobs, refusal, service_tier) stay out, as OpenAI
    leaves them out; a field set to None (a finish_reason still to come) stays in as null."""
    return reply.model_dump(mode="json", exclude_unset=True)


def _json(reply: BaseModel) -> JSONResponse:
    return JSONResponse(_wire(reply))


def _data(reply: BaseModel) -> dict[str, str]:
    """A server-sent event carrying `reply`."""
    return {"data": json.dumps(_wire(reply))}


def _completion(reply_id: str, created: int, model: str, message: ChatCompletionMessage, finish: _Finish,
                usage: Usage) -> ChatCompletion:
    choice = chat_completion.Choice(index=0, message=message, finish_reason=finish)
    return ChatCompletion(id=reply_id, object="chat.completion", created=created, model=model, choices=[choice],
                          usage=usage.as_openai())


def _chunk(reply_id: str, created: int, model: str, delta: ChoiceDelta, finish: _Finish | None = None) -> ChatCompletionChunk:
    choice = chat_completion_chunk.Choice(index=0, delta=delta, finish_reason=finish)
    return ChatCompletionChunk(id=reply_id, object="chat.completion.chunk", created=created, model=model,
                               choices=[choice])


def _usage_chunk(reply_id: str, created: int, model: str, usage: Usage) -> ChatCompletionChunk:
    """The last chunk when the client asked for stream_options.include_usage: no choices, the usage."""
    return ChatCompletionChunk(id=reply_id, object="chat.completion.chunk", created=created, model=model, choices=[],
                               usage=usage.as_openai())


def _delta_call(call: ToolCall, index: int) -> ChoiceDeltaToolCall:
    function = ChoiceDeltaToolCallFunction(name=call.name, arguments=json.dumps(call.arguments))
    return ChoiceDeltaToolCall(index=index, id=call.id, type="function", function=function)


def _message_call(call: ToolCall) -> ChatCompletionMessageFunctionToolCall:
    function = chat_completion_message_function_tool_call.Function(name=call.name, arguments=json.dumps(call.arguments))
    return ChatCompletionMessageFunctionToolCall(id=call.id, type="function", function=function)


# ---------------------------------------------------------------- requests


# A developer message is OpenAI's newer name for a system message.
_ROLES: dict[str, Role] = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant",
                           "tool": "tool"}


def _messages(value: object) -> list[Message]:
    if not isinstance(value, list) or not value:
        raise bad_request("'messages' must be a non-empty list of {role, content}", "invalid_messages")
    out: list[Message] = []
    for i, message in enumerate(value):
        role = _ROLES.get(message["role"]) if isinstance(message, dict) and isinstance(message.get("role"), str) else None
        if not isinstance(message, dict) or role is None:
            raise bad_request(f"messages[{i}] needs a role: system, user, assistant or tool", "invalid_messages")
        content = message.get("content") or ""
        if isinstance(content, list):  # content parts: the text ones are kept
            content = "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
        if not isinstance(content, str):
            raise bad_request(f"messages[{i}].content must be text", "invalid_messages")
        entry: Message = {"role": role, "content": content}
        # Passed on as the client wrote them: the engines read what they know of these.
        if "tool_calls" in message:
            entry["tool_calls"] = message["tool_calls"]
        if "tool_call_id" in message:
            entry["tool_call_id"] = message["tool_call_id"]
        if "name" in message:
            entry["name"] = message["name"]
        out.append(entry)
    return out


def _tools(value: object) -> list[ToolSpec]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise bad_request("'tools' must be a list of functions", "invalid_tools")
    specs = []
    for i, tool in enumerate(value):
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise bad_request(f"tools[{i}] must be {{type: function, function: {{name, parameters}}}}", "invalid_tools")
        specs.append(ToolSpec(function["name"], str(function.get("description", "")),
                              dict(function.get("parameters") or {"type": "object", "properties": {}})))
    return specs

