"""The openai engine against llama-cpp-python's own OpenAI-compatible server on the embedded GGUF, on loopback.

Tool-call shapes, a 500 and a silent server come from ScriptedOpenAIServer, a stand-in for what the real
server cannot be made to do on demand.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import aclosing
from pathlib import Path
from typing import Any

import pytest

from assistant.config.catalog import parse_catalog_file
from assistant.core.chat import ChatEvent, TextDelta, ToolCall, ToolSpec
from assistant.core.errors import RemoteError
from assistant.core.models import ModelSpec
from assistant.engines.openai import OpenAIChatModel, probe
from assistant.engines.options import OpenAIOptions
from assistant.engines.registry import options_of

from ..llm_server import ALIAS, LlamaServer, ScriptedOpenAIServer, chunk, free_port, openai_model

pytestmark = pytest.mark.remote

QUESTION = [{"role": "user", "content": "Why is the sky blue?"}]
STORY = [{"role": "user", "content": "Tell me a very long story about a brave knight, a dragon and a castle."}]
KEY_ENV = "ASSISTANT_TEST_LLM_KEY"
CLOCK = ToolSpec("get_time", "The current time in a city", {"type": "object", "properties": {"city": {"type": "string"}}})


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    srv = LlamaServer(tmp_path_factory.mktemp("llama")).start()
    yield srv
    srv.stop()


def spec_for(tmp_path: Path, base_url: str, **kw: Any) -> ModelSpec:
    path = tmp_path / f"models-{len(list(tmp_path.iterdir()))}.toml"
    path.write_text(openai_model("remote", base_url, **kw))
    return parse_catalog_file(path)[0][0]


async def opened(spec: ModelSpec) -> OpenAIChatModel:
    model = OpenAIChatModel(spec, options_of(spec, OpenAIOptions))
    await model.open()
    return model


async def collect(events: AsyncIterator[ChatEvent]) -> list[ChatEvent]:
    return [e async for e in events]


def text_of(events: list[ChatEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def test_streams_a_reply(server: LlamaServer, tmp_path: Path) -> None:
    async def main() -> list[ChatEvent]:
        model = await opened(spec_for(tmp_path, server.base_url, max_tokens=24, temperature=0))
        try:
            return await collect(model.chat(QUESTION))
        finally:
            await model.close()

    events = asyncio.run(main())
    assert len(events) > 1 and all(isinstance(e, TextDelta) for e in events)  # streamed: many deltas
    assert text_of(events).strip()
    assert '"POST /v1/chat/completions HTTP/1.1" 200' in server.text()


def test_closing_the_stream_disconnects_at_once(server: LlamaServer, tmp_path: Path) -> None:
    """A barge-in closes our iterator; the server sees the client go and stops generating."""
    after = len(server.text())

    async def main() -> str:
        model = await opened(spec_for(tmp_path, server.base_url, max_tokens=1500))
        try:
            async with aclosing(model.chat(STORY)) as events:
                async for _ in events:
                    break  # the first token: the server is mid-reply
            server.wait_for("Disconnected from client", timeout=30, after=after)
            # The server is free again: the next request is answered.
            return text_of(await collect(model.chat(QUESTION, max_tokens=8)))
        finally:
            await model.close()

    assert asyncio.run(main()).strip()


def test_killed_mid_stream_is_a_clear_error_and_the_next_request_works(tmp_path: Path) -> None:
    srv = LlamaServer(tmp_path).start()

    async def main() -> tuple[RemoteError, str]:
        model = await opened(spec_for(tmp_path, srv.base_url, max_tokens=1500))
        try:
            with pytest.raises(RemoteError) as info:
                async for _ in model.chat(STORY):
                    srv.kill()
            srv.start()  # back on the same address
            return info.value, text_of(await collect(model.chat(QUESTION, max_tokens=8)))
        finally:
            await model.close()

    try:
        error, reply = asyncio.run(main())
    finally:
        srv.stop()
    assert error.code == "remote_closed", error.message
    assert error.message.startswith(f"the LLM server at {srv.base_url} closed the connection mid-reply")
    assert "\n" not in error.message
    assert reply.strip()


def test_api_key_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    srv = LlamaServer(tmp_path, api_key="right-key").start()
    spec = spec_for(tmp_path, srv.base_url, key_env=KEY_ENV, max_tokens=8)
    try:
        monkeypatch.delenv(KEY_ENV, raising=False)
        with pytest.raises(RemoteError) as unset:
            asyncio.run(opened(spec))
        monkeypatch.setenv(KEY_ENV, "wrong-key")
        with pytest.raises(RemoteError) as wrong:
            asyncio.run(opened(spec))
        without = spec_for(tmp_path, srv.base_url)
        with pytest.raises(RemoteError) as missing:
            asyncio.run(opened(without))
        monkeypatch.setenv(KEY_ENV, "right-key")

        async def right() -> str:
            model = await opened(spec)
            try:
                return text_of(await collect(model.chat(QUESTION)))
            finally:
                await model.close()

        reply = asyncio.run(right())
    finally:
        srv.stop()
    assert unset.value.code == "remote_auth" and f"api_key_env names {KEY_ENV}, which is not set" in unset.value.message
    assert wrong.value.code == "remote_auth"
    assert wrong.value.message == (
        f"the LLM server at {srv.base_url} refused the request (HTTP 401: Invalid API key); "
        f"set {KEY_ENV} to a key the server accepts"
    )
    assert missing.value.code == "remote_auth" and "set api_key_env of remote in models.toml" in missing.value.message
    assert reply.strip()
    assert "right-key" not in json.dumps(spec.to_dict())  # the key itself is never in the spec


def test_unknown_model(server: LlamaServer, tmp_path: Path) -> None:
    spec = spec_for(tmp_path, server.base_url, model="no-such-model")
    with pytest.raises(RemoteError) as info:
        asyncio.run(opened(spec))
    assert info.value.code == "remote_model"
    assert info.value.message == (
        f"the LLM server at {server.base_url} does not serve the model 'no-such-model'; it serves {ALIAS}: "
        "set `model` of remote in models.toml to one of them"
    )
    assert asyncio.run(probe(spec, options_of(spec, OpenAIOptions))) == info.value.message
    assert asyncio.run(probe(spec_for(tmp_path, server.base_url), options_of(spec, OpenAIOptions))) is None


def test_server_down(tmp_path: Path) -> None:
    base_url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(RemoteError) as info:
        asyncio.run(opened(spec_for(tmp_path, base_url)))
    assert info.value.code == "remote_unreachable"
    assert info.value.message.startswith(f"cannot reach the LLM server at {base_url} (connection refused)")
    assert info.value.message.endswith("start the server, or fix base_url of remote in models.toml")
    assert "\n" not in info.value.message


# ---------------------------------------------------------------- the scripted stand-in


def run_scripted(server: ScriptedOpenAIServer, tmp_path: Path, tools: tuple[ToolSpec, ...] = (), **opts: Any) -> list[ChatEvent]:
    async def main() -> list[ChatEvent]:
        model = await opened(spec_for(tmp_path, server.base_url, model="scripted", **opts))
        try:
            return await collect(model.chat(QUESTION, tools=tools))
        finally:
            await model.close()

    try:
        return asyncio.run(main())
    finally:
        server.close()


def test_streamed_tool_calls_are_assembled(tmp_path: Path) -> None:
    # The fragments as vLLM and llama-server stream them: id and name once, the arguments in pieces.
    stream = [
        chunk({"role": "assistant", "content": "Let me look."}),
        chunk({"tool_calls": [{"index": 0, "id": "call_a", "type": "function", "function": {"name": "get_time", "arguments": ""}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"ci'}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": 'ty": "Paris"}'}}]}),
        chunk({"tool_calls": [{"index": 1, "id": "call_b", "function": {"name": "get_time", "arguments": '{"city": "Oslo"}'}}]}),
        chunk({}, finish="tool_calls"),
        "[DONE]",
    ]
    server = ScriptedOpenAIServer(lambda body: (200, stream))
    events = run_scripted(server, tmp_path, (CLOCK,))
    assert events == [
        TextDelta("Let me look."),
        ToolCall("call_a", "get_time", {"city": "Paris"}),
        ToolCall("call_b", "get_time", {"city": "Oslo"}),
    ]
    assert server.requests[0]["tools"] == [CLOCK.as_openai()] and server.requests[0]["stream"] is True


def test_a_dropped_streamed_tool_call_is_asked_again_unstreamed(tmp_path: Path) -> None:
    whole = {"choices": [{"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant", "content": None,
             "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "get_time", "arguments": '{"city": "Rome"}'}}]}}]}

    def script(body: dict[str, Any]) -> tuple[int, Any]:
        # Like Ollama's /v1 did: the stream says "tool_calls" but carries none.
        return (200, [chunk({"role": "assistant"}), chunk({}, finish="tool_calls"), "[DONE]"]) if body["stream"] else (200, whole)

    server = ScriptedOpenAIServer(script)
    assert run_scripted(server, tmp_path, (CLOCK,)) == [ToolCall("c1", "get_time", {"city": "Rome"})]
    assert [r["stream"] for r in server.requests] == [True, False]


def test_stream_tools_off_sends_tool_requests_unstreamed(tmp_path: Path) -> None:
    whole = {"choices": [{"message": {"role": "assistant", "content": "It is noon."}}]}
    server = ScriptedOpenAIServer(lambda body: (200, whole))
    assert run_scripted(server, tmp_path, (CLOCK,), stream_tools=False) == [TextDelta("It is noon.")]
    assert [r["stream"] for r in server.requests] == [False]


def test_server_failure_is_one_line_naming_the_server(tmp_path: Path) -> None:
    server = ScriptedOpenAIServer(lambda body: (500, {"error": {"message": "CUDA error: out of memory\nat line 3"}}))
    with pytest.raises(RemoteError) as info:
        run_scripted(server, tmp_path)
    assert info.value.message == (
        f"the LLM server at {server.base_url} failed (HTTP 500: CUDA error: out of memory); see the server's log"
    )


def test_error_chunk_mid_stream(tmp_path: Path) -> None:
    server = ScriptedOpenAIServer(lambda body: (200, [chunk({"content": "Hel"}), json.dumps({"error": {"message": "KV cache full"}})]))
    with pytest.raises(RemoteError, match=r"failed mid-reply: KV cache full$"):
        run_scripted(server, tmp_path)


def test_first_token_timeout(tmp_path: Path) -> None:
    server = ScriptedOpenAIServer(lambda body: (200, [chunk({"content": "late"}), "[DONE]"]), delay_s=3)
    with pytest.raises(RemoteError) as info:
        run_scripted(server, tmp_path, timeout_s=0.5)
    assert info.value.code == "remote_timeout"
    assert info.value.message.startswith(f"the LLM server at {server.base_url} sent no first token within 0.5 s")


def test_read_timeout_mid_reply(tmp_path: Path) -> None:
    server = ScriptedOpenAIServer(lambda body: (200, [chunk({"content": "Once"}), chunk({"content": " upon"}), "[DONE]"]), pause_s=3)
    with pytest.raises(RemoteError) as info:
        run_scripted(server, tmp_path, read_timeout_s=0.5)
    assert info.value.code == "remote_timeout"
    assert info.value.message == f"the LLM server at {server.base_url} stopped sending for 0.5 s mid-reply"


def test_tool_call_deltas_split_across_many_chunks(tmp_path: Path) -> None:
    # Two calls whose fragments interleave, each argument a character a chunk, the name itself in two pieces.
    first, second = '{"city": "Paris"}', '{"city": "Oslo"}'
    stream = [
        chunk({"tool_calls": [{"index": 0, "id": "call_a", "type": "function", "function": {"name": "get_", "arguments": ""}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"name": "time"}}]}),
        chunk({"tool_calls": [{"index": 1, "id": "call_b", "type": "function", "function": {"name": "get_time"}}]}),
    ]
    for i in range(max(len(first), len(second))):
        stream += [chunk({"tool_calls": [{"index": n, "function": {"arguments": text[i]}}]})
                   for n, text in enumerate((first, second)) if i < len(text)]
    stream += [chunk({}, finish="tool_calls"), "[DONE]"]
    server = ScriptedOpenAIServer(lambda body: (200, stream))
    assert run_scripted(server, tmp_path, (CLOCK,)) == [
        ToolCall("call_a", "get_time", {"city": "Paris"}),
        ToolCall("call_b", "get_time", {"city": "Oslo"}),
    ]


@pytest.mark.parametrize(
    ("last", "code", "said"),
    [
        (json.dumps({"error": "model runner stopped\ntraceback"}), "remote_error", "failed mid-reply: model runner stopped"),
        ("{not json", "remote_error", "sent something that is not JSON: '{not json'"),
        (None, "remote_closed", "ended the reply without finishing it"),  # the connection closes between events
    ],
    ids=["ollama-error-string", "not-json", "cut-short"],
)
def test_a_bad_stream_is_one_line(tmp_path: Path, last: str | None, code: str, said: str) -> None:
    server = ScriptedOpenAIServer(lambda body: (200, [chunk({"content": "Hel"}), *([last] if last else [])]))
    with pytest.raises(RemoteError) as info:
        run_scripted(server, tmp_path)
    assert info.value.code == code
    assert info.value.message == f"the LLM server at {server.base_url} {said}"


def test_the_openai_environment_never_reaches_the_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK reads OPENAI_API_KEY, OPENAI_BASE_URL, OPENAI_ORG_ID and OPENAI_PROJECT_ID, all meant for
    api.openai.com: a keyless server gets no Authorization at all, a keyed one its own key only."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-the-users-openai-key")
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{free_port()}/v1")
    monkeypatch.setenv("OPENAI_ORG_ID", "org-the-users")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj-the-users")
    monkeypatch.setenv(KEY_ENV, "local-key")
    reply = [chunk({"content": "Hi."}, finish="stop"), "[DONE]"]
    keyless = ScriptedOpenAIServer(lambda body: (200, reply))
    keyed = ScriptedOpenAIServer(lambda body: (200, reply))
    assert run_scripted(keyless, tmp_path) == [TextDelta("Hi.")]
    assert run_scripted(keyed, tmp_path, key_env=KEY_ENV) == [TextDelta("Hi.")]
    assert len(keyless.headers) == len(keyed.headers) == 2  # GET /models at open, then the chat
    for headers in keyless.headers + keyed.headers:
        assert not {"openai-organization", "openai-project"} & headers.keys(), headers
    assert all("authorization" not in h for h in keyless.headers), keyless.headers
    assert all(h["authorization"] == "Bearer local-key" for h in keyed.headers), keyed.headers
