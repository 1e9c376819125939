"""ChatModel on any OpenAI-compatible chat-completions server (vLLM, llama-server, Ollama), through the official
`openai` SDK (AsyncOpenAI, streamed chunks as the SDK's typed ChatCompletionChunk).

It runs in the daemon's event loop (see inloop.py): an HTTP client needs no process of its own, and
closing the stream closes the socket at once, so a barge-in stops the server's generation right away.
The SDK's own timeouts and retries are off: a reply is bounded by our deadlines (to the first token, then
between chunks), and a retry is the caller's to decide, since a turn the user is waiting on must fail fast.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any, cast

import openai
from openai import AsyncOpenAI, Omit, omit
from openai.types.chat import ChatCompletionChunk, ChatCompletionMessageParam, ChatCompletionToolParam
from openai.types.chat.chat_completion_chunk import ChoiceDeltaToolCall

from assistant.core.chat import ChatEvent, Message, TextDelta, ToolCall, ToolSpec
from assistant.core.errors import AssistantError, RemoteError
from assistant.core.models import ModelSpec
from assistant.engines.options import OpenAIEndpoint, OpenAIOptions

log = logging.getLogger(__name__)

DETAIL_CHARS = 200
NO_KEY = "unused"  # AsyncOpenAI insists on a key; with none configured its header is omitted per request


class OpenAIChatModel:
    """options: max_tokens, temperature, timeout_s (to the first token), connect_timeout_s, read_timeout_s
    (between chunks), stream_tools (False: a request with tools is sent unstreamed, for servers that drop
    streamed tool calls)."""

    device = "remote"
    sample_rate = 0

    def __init__(self, spec: ModelSpec, options: OpenAIOptions) -> None:
        self.model_id = spec.id
        endpoint = spec.endpoint
        if not isinstance(endpoint, OpenAIEndpoint):
            raise TypeError(f"model {spec.id}: endpoint is {type(endpoint).__name__}, not OpenAIEndpoint")
        self.base_url = endpoint.base_url.rstrip("/")
        self.model = endpoint.model
        self.key_env = endpoint.api_key_env
        self.max_tokens = options.max_tokens
        self.temperature = options.temperature
        self.first_token_s = options.timeout_s
        self.connect_s = options.connect_timeout_s
        self.read_s = options.read_timeout_s
        self.stream_tools = options.stream_tools
        self.server = f"the LLM server at {self.base_url}"
        self._client: AsyncOpenAI | None = None
        # The SDK fills the organization and project headers from OPENAI_ORG_ID and OPENAI_PROJECT_ID, meant for
        # api.openai.com: never send them to this server.
        self._headers: dict[str, str | Omit] = {"OpenAI-Organization": omit, "OpenAI-Project": omit}

    # ---------------------------------------------------------------- lifecycle

    async def open(self) -> None:
        """Connect and check that the server serves the model: a wrong key or name fails here, not mid-turn."""
        key = self._key()
        if key is None:
            self._headers["Authorization"] = omit  # no key: no header at all, as a keyless server expects
        # Our own deadlines bound each read (first token, then between chunks); the SDK bounds the connect.
        timeout = openai.Timeout(connect=self.connect_s, read=None, write=self.connect_s, pool=self.connect_s)
        # An explicit key and base_url: the SDK would otherwise take OPENAI_API_KEY and OPENAI_BASE_URL.
        self._client = AsyncOpenAI(api_key=key or NO_KEY, base_url=self.base_url, timeout=timeout, max_retries=0)
        try:
            served = await self.served()
        except BaseException:
            await self.close()
            raise
        if served is not None and self.model not in served:
            await self.close()
            raise RemoteError(
                f"{self.server} does not serve the model {self.model!r}; it serves {', '.join(served) or 'nothing'}: "
                f"set `model` of {self.model_id} in models.toml to one of them",
                code="remote_model",
            )

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    def _key(self) -> str | None:
        if not self.key_env:
            return None
        key = os.environ.get(self.key_env, "")
        if not key:
            raise RemoteError(
                f"{self.model_id}: api_key_env names {self.key_env}, which is not set in the daemon's environment; "
                f"set it there (for the service: an EnvironmentFile= in `systemctl --user edit assistant`)",
                code="remote_auth",
            )
        return key

    async def served(self) -> list[str] | None:
        """The model names the server lists at /models, or None where it has no such list."""
        client = self._live()
        try:
            async with asyncio.timeout(self.first_token_s):
                page = await client.models.list(extra_headers=self._headers)
        except TimeoutError:
            raise RemoteError(f"{self.server} did not answer within {self.first_token_s:g} s", "remote_timeout") from None
        except openai.NotFoundError:
            return None  # not every server lists its models; the first chat will say whether the name is right
        except openai.APIError as exc:
            raise self._api_error(exc) from None
        try:
            return [str(m.id) for m in page.data]
        except (AttributeError, TypeError):  # a 200 whose body is not OpenAI's model list
            return None

    def _live(self) -> AsyncOpenAI:
        if self._client is None:
            raise AssistantError(f"{self.model_id}: the connection to {self.base_url} is closed", code="remote_closed")
        return self._client

    # ---------------------------------------------------------------- chat

    async def chat(
        self, messages: Sequence[Message], max_tokens: int | None = None, tools: Sequence[ToolSpec] = ()
    ) -> AsyncIterator[ChatEvent]:
        """Yield text deltas as they arrive, then the tool calls; closing the iterator closes the connection."""
        # Our Message is OpenAI's shape, narrowed to text content; the SDK spells it per role (and leaves out the
        # `name` of a tool message, which servers read all the same).
        request = _Request(
            messages=cast("list[ChatCompletionMessageParam]", [dict(m) for m in messages]),
            tools=[t.as_openai() for t in tools],
            max_tokens=max_tokens or self.max_tokens,
        )
        if tools and not self.stream_tools:
            for event in await self._complete(request):
                yield event
            return
        yielded = False
        calls: dict[int, _PartialCall] = {}
        finish = None
        # aclosing: when our consumer closes us (a barge-in), the inner stream and its socket close now, not at GC.
        async with aclosing(self._stream(request)) as chunks:
            async for chunk in chunks:
                if not chunk.choices:
                    continue  # a usage chunk
                choice = chunk.choices[0]
                # `reasoning_content` (a thinking model behind vLLM's reasoning parser) is not for speaking.
                if choice.delta.content:
                    yielded = True
                    yield TextDelta(choice.delta.content)
                for part in choice.delta.tool_calls or []:
                    # The SDK builds chunks without validating them: a server's missing index is a missing attribute.
                    index = int(getattr(part, "index", None) or 0)
                    calls[index] = calls.get(index, _PartialCall()).merged(part)
                finish = choice.finish_reason or finish
        if tools and not calls and finish == "tool_calls" and not yielded:
            # The server decided on a tool call but dropped it from the stream (Ollama's /v1 did): ask again, whole.
            log.info("%s: %s dropped a streamed tool call; asking again unstreamed", self.model_id, self.base_url)
            for event in await self._complete(request):
                yield event
            return
        for index in sorted(calls):
            partial = calls[index]
            yield _tool_call(partial.id, partial.name, partial.arguments, index)

    async def _stream(self, request: _Request) -> AsyncGenerator[ChatCompletionChunk, None]:
        """The chunks of a streamed completion, each read bounded by the first-token or read timeout."""
        client = self._live()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.first_token_s
        first = True
        try:
            async with asyncio.timeout_at(deadline):
                stream = await client.chat.completions.create(
                    model=self.model, messages=request.messages, max_tokens=request.max_tokens,
                    temperature=self.temperature, tools=request.tools or omit, stream=True, extra_headers=self._headers,
                )
        except TimeoutError:
            raise self._timeout(first) from None
        except openai.APIError as exc:
            raise self._api_error(exc) from None
        try:
            finished = False
            while True:
                try:
                    async with asyncio.timeout_at(deadline if first else loop.time() + self.read_s):
                        chunk = await anext(stream, None)
                except TimeoutError:
                    raise self._timeout(first) from None
                except openai.APIError as exc:
                    raise self._api_error(exc, mid_reply=True) from None
                except ValueError as exc:  # the SDK's json.loads of an event's data
                    text = getattr(exc, "doc", "")[:80]
                    raise RemoteError(f"{self.server} sent something that is not JSON: {text!r}", "remote_error") from None
                if chunk is None:
                    break
                if not isinstance(chunk, ChatCompletionChunk):  # the SDK passes a non-object event through as is
                    raise RemoteError(f"{self.server} sent an unexpected reply: {str(chunk)[:80]!r}", "remote_error")
                if first and _has_output(chunk):
                    first = False
                finished = finished or any(c.finish_reason for c in chunk.choices or [])
                yield chunk
            # The SDK ends its iteration alike at [DONE] and at a connection closed between events; a reply no
            # choice finished is one the server cut short.
            if not finished:
                raise RemoteError(f"{self.server} ended the reply without finishing it", code="remote_closed")
        finally:
            # On a barge-in this runs as the consumer closes us: the socket closes and the server stops.
            await stream.close()

    async def _complete(self, request: _Request) -> list[ChatEvent]:
        """One unstreamed completion (for tool calls a server drops from streams), within timeout_s."""
        client = self._live()
        try:
            async with asyncio.timeout(self.first_token_s):
                completion = await client.chat.completions.create(
                    model=self.model, messages=request.messages, max_tokens=request.max_tokens,
                    temperature=self.temperature, tools=request.tools or omit, stream=False, extra_headers=self._headers,
                )
        except TimeoutError:
            raise RemoteError(f"{self.server} did not reply within {self.first_token_s:g} s", "remote_timeout") from None
        except openai.APIError as exc:
            raise self._api_error(exc) from None
        except ValueError:
            raise RemoteError(f"{self.server} sent a reply that is not JSON", "remote_error") from None
        if not completion.choices:
            raise RemoteError(f"{self.server} sent a reply with no choices", "remote_error")
        message = completion.choices[0].message
        events: list[ChatEvent] = []
        if message.content:
            events.append(TextDelta(message.content))
        for index, call in enumerate(message.tool_calls or []):
            function = getattr(call, "function", None)  # a "custom" (free-form) tool call has none
            name = str(getattr(function, "name", "") or "")
            events.append(_tool_call(str(call.id or ""), name, getattr(function, "arguments", None), index))
        return events

    # ---------------------------------------------------------------- errors, one line naming the server

    def _timeout(self, first: bool) -> RemoteError:
        if first:
            return RemoteError(
                f"{self.server} sent no first token within {self.first_token_s:g} s; it may be busy or loading "
                f"the model (raise options.timeout_s of {self.model_id} if that is expected)",
                code="remote_timeout",
            )
        return RemoteError(f"{self.server} stopped sending for {self.read_s:g} s mid-reply", code="remote_timeout")

    def _api_error(self, exc: openai.APIError, mid_reply: bool = False) -> RemoteError:
        """The SDK's errors as one line: its own messages name neither the URL nor the key, nor do ours."""
        if isinstance(exc, openai.APIStatusError):
            return self._status_error(exc.status_code, exc.response.content)
        if isinstance(exc, openai.APITimeoutError):  # only the connect, write and pool phases have SDK timeouts
            return RemoteError(f"{self.server} did not accept a connection within {self.connect_s:g} s", "remote_timeout")
        reason = _reason(exc)
        if isinstance(exc, openai.APIConnectionError):
            if mid_reply:
                return RemoteError(f"{self.server} closed the connection mid-reply ({reason})", code="remote_closed")
            if _caused_by(exc, "ConnectError"):
                return RemoteError(
                    f"cannot reach {self.server} ({reason}); start the server, or fix base_url of {self.model_id} in "
                    f"models.toml",
                    code="remote_unreachable",
                )
            if _caused_by(exc, "RemoteProtocolError", "ReadError"):
                return RemoteError(f"{self.server} closed the connection mid-reply ({reason})", code="remote_closed")
            return RemoteError(f"talking to {self.server} failed ({reason})", code="remote_error")
        if mid_reply:
            # vLLM and llama-server report a failure mid-stream as an `error` event; the SDK raises it as an
            # APIError whose body is that error object (or Ollama's bare string).
            detail = _detail_of({"error": exc.body or exc.message})
            return RemoteError(f"{self.server} failed mid-reply: {detail}", code="remote_error")
        return RemoteError(f"{self.server} sent an unexpected reply ({exc.message})", code="remote_error")

    def _status_error(self, status: int, content: bytes) -> RemoteError:
        detail = _detail(content)
        said = f"HTTP {status}" + (f": {detail}" if detail else "")
        if status in (401, 403):
            if self.key_env:
                fix = f"set {self.key_env} to a key the server accepts"
            else:
                fix = f"set api_key_env of {self.model_id} in models.toml to the name of a variable holding its key"
            return RemoteError(f"{self.server} refused the request ({said}); {fix}", code="remote_auth")
        if status == 404:
            return RemoteError(
                f"{self.server} does not serve the model {self.model!r} ({said}); check `model` and base_url "
                f"(it usually ends in /v1) with `assistant models check`",
                code="remote_model",
            )
        if status >= 500:
            return RemoteError(f"{self.server} failed ({said}); see the server's log", code="remote_error")
        return RemoteError(f"{self.server} rejected the request ({said})", code="remote_error")


@dataclass(frozen=True)
class _Request:
    """What one chat sends, kept for the unstreamed retry when a server drops a streamed tool call."""

    messages: list[ChatCompletionMessageParam]
    tools: list[ChatCompletionToolParam]
    max_tokens: int


@dataclass(frozen=True)
class _PartialCall:
    """A streamed tool call so far: its pieces come keyed by index, the id and name once, the arguments in fragments.

    Not the SDK's ChatCompletionStreamState: it re-dumps the whole message at every chunk (quadratic in the
    reply) and asserts on shapes OpenAI-compatible servers do send, such as a fragment with no index."""

    id: str = ""
    name: str = ""
    arguments: str = ""

    def merged(self, part: ChoiceDeltaToolCall) -> _PartialCall:
        # The SDK builds chunks without validating them: a server's missing field is a missing attribute.
        function = getattr(part, "function", None)
        return _PartialCall(
            id=self.id or str(getattr(part, "id", None) or ""),
            name=self.name + str(getattr(function, "name", None) or ""),
            arguments=self.arguments + str(getattr(function, "arguments", None) or ""),
        )


def _tool_call(call_id: str, name: str, raw: object, index: int) -> ToolCall:
    """The call with its arguments read: a JSON string (some servers send an object), an empty one as {}."""
    arguments = raw
    if isinstance(raw, str):
        try:
            arguments = json.loads(raw) if raw.strip() else {}
        except ValueError:
            arguments = None
    if not isinstance(arguments, dict):
        # The tool's own argument check then tells the model what is missing; the call is not dropped.
        log.warning("tool call %s: arguments are not a JSON object: %r", name, raw)
        arguments = {}
    return ToolCall(id=call_id or f"call_{index}", name=name, arguments=arguments)


def _has_output(chunk: ChatCompletionChunk) -> bool:
    if not chunk.choices:
        return False
    delta = chunk.choices[0].delta
    # reasoning_content is no field of the SDK's delta; it keeps what the server sent as an extra.
    return bool(delta.content or delta.tool_calls or (delta.model_extra or {}).get("reasoning_content"))


def _detail(content: bytes) -> str:
    try:
        data = json.loads(content)
    except ValueError:
        text = content.decode("utf-8", "replace").strip()
        return (text.splitlines() or [""])[0][:DETAIL_CHARS]
    return _detail_of(data) if isinstance(data, dict) else str(data)[:DETAIL_CHARS]


def _detail_of(data: Mapping[str, Any]) -> str:
    """The message in OpenAI's {"error": {"message"}}, Ollama's {"error": "..."} or FastAPI's {"detail": ...}."""
    error = data.get("error", data.get("detail", ""))
    if isinstance(error, dict):
        error = error.get("message", error)
    text = str(error).strip()
    return (text.splitlines() or [""])[0][:DETAIL_CHARS]


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    cause: BaseException | None = exc
    while cause is not None and cause not in seen:
        seen.append(cause)
        cause = cause.__cause__ or cause.__context__
    return seen


def _caused_by(exc: BaseException, *names: str) -> bool:
    """Whether the SDK's error wraps the HTTP client's error of one of these names. By name: the SDK runs on
    httpx2 where its releases before ran on httpx, and the classes are each library's own."""
    return any(k.__name__ in names for e in _chain(exc) for k in type(e).__mro__)


def _reason(exc: BaseException) -> str:
    """The most telling line: the SDK says "Connection error." over httpx's error over a ConnectionRefusedError."""
    chain = _chain(exc)
    for cause in chain:
        if isinstance(cause, OSError) and cause.errno is not None:
            return os.strerror(cause.errno).lower()  # "connection refused", "no route to host"
    cause = chain[1] if len(chain) > 1 else exc
    text = str(cause).strip() or type(cause).__name__
    return text.splitlines()[0]


async def probe(spec: ModelSpec, options: OpenAIOptions) -> str | None:
    """For `assistant models check`: None if the server answers and serves the model, else why not."""
    model = OpenAIChatModel(spec, options)
    try:
        await model.open()
    except AssistantError as exc:
        return exc.message
    finally:
        await model.close()
    return None
