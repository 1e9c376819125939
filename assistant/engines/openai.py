"""ChatModel on any OpenAI-compatible chat-completions server (vLLM, llama-server, Ollama), streamed over SSE.

It runs in the daemon's event loop (see inloop.py): an HTTP client needs no process of its own, and
closing the stream closes the socket at once, so a barge-in stops the server's generation right away.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from contextlib import aclosing
from typing import Any

import httpx

from assistant.core.chat import ChatEvent, Message, TextDelta, ToolCall, ToolSpec
from assistant.core.errors import AssistantError, RemoteError
from assistant.core.models import ModelSpec

log = logging.getLogger(__name__)

DETAIL_CHARS = 200


class OpenAIChatModel:
    """options: max_tokens, temperature, timeout_s (to the first token), connect_timeout_s, read_timeout_s
    (between chunks), stream_tools (False: a request with tools is sent unstreamed, for servers that drop
    streamed tool calls)."""

    device = "remote"
    sample_rate = 0

    def __init__(self, spec: ModelSpec, options: Mapping[str, Any]) -> None:
        self.model_id = spec.id
        self.base_url = str(spec.endpoint["base_url"]).rstrip("/")
        self.model = str(spec.endpoint["model"])
        self.key_env: str | None = spec.endpoint.get("api_key_env")
        self.max_tokens = int(options["max_tokens"])
        self.temperature = float(options["temperature"])
        self.first_token_s = float(options["timeout_s"])
        self.connect_s = float(options["connect_timeout_s"])
        self.read_s = float(options["read_timeout_s"])
        self.stream_tools = bool(options["stream_tools"])
        self.server = f"the LLM server at {self.base_url}"
        self._client: httpx.AsyncClient | None = None

    # ---------------------------------------------------------------- lifecycle

    async def open(self) -> None:
        """Connect and check that the server serves the model: a wrong key or name fails here, not mid-turn."""
        # Our own timeouts bound each read (first token, then between chunks); httpx bounds the connect.
        timeout = httpx.Timeout(connect=self.connect_s, read=None, write=self.connect_s, pool=self.connect_s)
        self._client = httpx.AsyncClient(base_url=self.base_url + "/", headers=self._headers(), timeout=timeout)
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
            await self._client.aclose()
            self._client = None

    def _headers(self) -> dict[str, str]:
        if not self.key_env:
            return {}
        key = os.environ.get(self.key_env, "")
        if not key:
            raise RemoteError(
                f"{self.model_id}: api_key_env names {self.key_env}, which is not set in the daemon's environment; "
                f"set it there (for the service: an EnvironmentFile= in `systemctl --user edit assistant`)",
                code="remote_auth",
            )
        return {"Authorization": f"Bearer {key}"}

    async def served(self) -> list[str] | None:
        """The model names the server lists at /models, or None where it has no such list."""
        client = self._live()
        try:
            async with asyncio.timeout(self.first_token_s):
                response = await client.get("models")
        except TimeoutError:
            raise RemoteError(f"{self.server} did not answer within {self.first_token_s:g} s", "remote_timeout") from None
        except httpx.HTTPError as exc:
            raise self._transport_error(exc) from None
        if response.status_code == 404:
            return None  # not every server lists its models; the first chat will say whether the name is right
        if response.status_code != 200:
            raise self._status_error(response.status_code, response.content)
        try:
            return [str(m["id"]) for m in response.json()["data"]]
        except (ValueError, KeyError, TypeError):
            return None

    def _live(self) -> httpx.AsyncClient:
        if self._client is None:
            raise AssistantError(f"{self.model_id}: the connection to {self.base_url} is closed", code="remote_closed")
        return self._client

    # ---------------------------------------------------------------- chat

    async def chat(
        self, messages: Sequence[Message], max_tokens: int | None = None, tools: Sequence[ToolSpec] = ()
    ) -> AsyncIterator[ChatEvent]:
        """Yield text deltas as they arrive, then the tool calls; closing the iterator closes the connection."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [dict(m) for m in messages],
            "max_tokens": max_tokens or self.max_tokens,
            "temperature": self.temperature,
        }
        if tools:
            body["tools"] = [t.as_openai() for t in tools]
            if not self.stream_tools:
                for event in await self._complete(body):
                    yield event
                return
        yielded = False
        calls: dict[int, dict[str, str]] = {}
        finish = None
        # aclosing: when our consumer closes us (a barge-in), the inner stream and its socket close now, not at GC.
        async with aclosing(self._stream({**body, "stream": True})) as chunks:
            async for chunk in chunks:
                choices = chunk.get("choices") or []
                if not choices:
                    continue  # a usage chunk
                choice = choices[0]
                delta = choice.get("delta") or {}
                # `reasoning_content` (a thinking model behind vLLM's reasoning parser) is not for speaking.
                if delta.get("content"):
                    yielded = True
                    yield TextDelta(str(delta["content"]))
                for part in delta.get("tool_calls") or []:
                    _merge_call(calls, part)
                finish = choice.get("finish_reason") or finish
        if tools and not calls and finish == "tool_calls" and not yielded:
            # The server decided on a tool call but dropped it from the stream (Ollama's /v1 did): ask again, whole.
            log.info("%s: %s dropped a streamed tool call; asking again unstreamed", self.model_id, self.base_url)
            for event in await self._complete(body):
                yield event
            return
        for index in sorted(calls):
            yield _tool_call(calls[index], index)

    async def _stream(self, body: dict[str, Any]) -> AsyncGenerator[dict[str, Any], None]:
        """The JSON chunks of a streamed completion, each read bounded by the first-token or read timeout."""
        client = self._live()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.first_token_s
        first = True
        try:
            async with asyncio.timeout_at(deadline):
                response = await client.send(client.build_request("POST", "chat/completions", json=body), stream=True)
        except TimeoutError:
            raise self._timeout(first) from None
        except httpx.HTTPError as exc:
            raise self._transport_error(exc) from None
        lines = response.aiter_lines()
        try:
            if response.status_code != 200:
                raise self._status_error(response.status_code, await _body(response))
            data: list[str] = []
            while True:
                try:
                    async with asyncio.timeout_at(deadline if first else loop.time() + self.read_s):
                        line = await anext(lines, None)
                except TimeoutError:
                    raise self._timeout(first) from None
                except httpx.HTTPError as exc:
                    raise self._transport_error(exc, mid_reply=True) from None
                if line is None:
                    raise RemoteError(f"{self.server} ended the reply without finishing it", code="remote_closed")
                if line.startswith("data:"):
                    data.append(line[5:].removeprefix(" "))
                    continue
                if line or not data:
                    continue  # a comment (": ping"), an event name, or a blank line between events
                text, data = "\n".join(data), []
                if text.strip() == "[DONE]":
                    return
                chunk = self._decode(text)
                if first and _has_output(chunk):
                    first = False
                yield chunk
        finally:
            # On a barge-in this runs as the consumer closes us: the socket closes and the server stops.
            close_lines = getattr(lines, "aclose", None)  # typed as an iterator; it is an async generator
            if close_lines is not None:
                await close_lines()
            await response.aclose()

    async def _complete(self, body: dict[str, Any]) -> list[ChatEvent]:
        """One unstreamed completion (for tool calls a server drops from streams), within timeout_s."""
        client = self._live()
        try:
            async with asyncio.timeout(self.first_token_s):
                response = await client.post("chat/completions", json={**body, "stream": False})
        except TimeoutError:
            raise RemoteError(f"{self.server} did not reply within {self.first_token_s:g} s", "remote_timeout") from None
        except httpx.HTTPError as exc:
            raise self._transport_error(exc) from None
        if response.status_code != 200:
            raise self._status_error(response.status_code, response.content)
        message = (self._decode(response.text).get("choices") or [{}])[0].get("message") or {}
        events: list[ChatEvent] = []
        if message.get("content"):
            events.append(TextDelta(str(message["content"])))
        for index, call in enumerate(message.get("tool_calls") or []):
            function = call.get("function") or {}
            parts = {"id": call.get("id") or "", "name": function.get("name") or "", "arguments": function.get("arguments")}
            events.append(_tool_call(parts, index))
        return events

    def _decode(self, text: str) -> dict[str, Any]:
        try:
            chunk = json.loads(text)
        except ValueError:
            raise RemoteError(f"{self.server} sent something that is not JSON: {text[:80]!r}", "remote_error") from None
        if not isinstance(chunk, dict):
            raise RemoteError(f"{self.server} sent an unexpected reply: {text[:80]!r}", "remote_error")
        if chunk.get("error"):  # vLLM and llama-server report a failure mid-stream as an error chunk
            raise RemoteError(f"{self.server} failed mid-reply: {_detail_of(chunk)}", "remote_error")
        return chunk

    # ---------------------------------------------------------------- errors, one line naming the server

    def _timeout(self, first: bool) -> RemoteError:
        if first:
            return RemoteError(
                f"{self.server} sent no first token within {self.first_token_s:g} s; it may be busy or loading "
                f"the model (raise options.timeout_s of {self.model_id} if that is expected)",
                code="remote_timeout",
            )
        return RemoteError(f"{self.server} stopped sending for {self.read_s:g} s mid-reply", code="remote_timeout")

    def _transport_error(self, exc: httpx.HTTPError, mid_reply: bool = False) -> RemoteError:
        reason = _reason(exc)
        if isinstance(exc, httpx.ConnectTimeout):
            return RemoteError(f"{self.server} did not accept a connection within {self.connect_s:g} s", "remote_timeout")
        if isinstance(exc, httpx.ConnectError):
            return RemoteError(
                f"cannot reach {self.server} ({reason}); start the server, or fix base_url of {self.model_id} in models.toml",
                code="remote_unreachable",
            )
        if mid_reply or isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError)):
            return RemoteError(f"{self.server} closed the connection mid-reply ({reason})", code="remote_closed")
        return RemoteError(f"talking to {self.server} failed ({reason})", code="remote_error")

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


def _merge_call(calls: dict[int, dict[str, str]], part: Mapping[str, Any]) -> None:
    """Streamed tool calls come in pieces keyed by index: the id and name once, the arguments in fragments."""
    call = calls.setdefault(int(part.get("index") or 0), {"id": "", "name": "", "arguments": ""})
    function = part.get("function") or {}
    call["id"] = call["id"] or str(part.get("id") or "")
    call["name"] += str(function.get("name") or "")
    call["arguments"] += str(function.get("arguments") or "")


def _tool_call(parts: Mapping[str, Any], index: int) -> ToolCall:
    raw = parts.get("arguments")
    arguments: object = raw
    if isinstance(raw, str):
        try:
            arguments = json.loads(raw) if raw.strip() else {}
        except ValueError:
            arguments = None
    if not isinstance(arguments, dict):
        # The tool's own argument check then tells the model what is missing; the call is not dropped.
        log.warning("tool call %s: arguments are not a JSON object: %r", parts.get("name"), raw)
        arguments = {}
    return ToolCall(id=str(parts.get("id") or f"call_{index}"), name=str(parts.get("name") or ""), arguments=arguments)


def _has_output(chunk: Mapping[str, Any]) -> bool:
    choices = chunk.get("choices") or []
    delta = (choices[0].get("delta") or {}) if choices else {}
    return bool(delta.get("content") or delta.get("tool_calls") or delta.get("reasoning_content"))


async def _body(response: httpx.Response) -> bytes:
    try:
        return await response.aread()
    except httpx.HTTPError:
        return b""


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


def _reason(exc: BaseException) -> str:
    """The most telling line: httpx says "All connection attempts failed" over a ConnectionRefusedError."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, OSError) and cause.errno is not None:
            return os.strerror(cause.errno).lower()  # "connection refused", "no route to host"
        cause = cause.__cause__ or cause.__context__
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


async def probe(spec: ModelSpec, options: Mapping[str, Any]) -> str | None:
    """For `assistant models check`: None if the server answers and serves the model, else why not."""
    model = OpenAIChatModel(spec, options)
    try:
        await model.open()
    except AssistantError as exc:
        return exc.message
    finally:
        await model.close()
    return None
