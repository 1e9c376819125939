"""The LLM route's pure parts: reading tool calls from a stream, the grammar, the honesty guard, [[mcp]] config."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from assistant.config.settings import load_settings
from assistant.core.chat import TextDelta, ToolCall, ToolSpec
from assistant.core.errors import ConfigError, ModelError
from assistant.engines.options import ScriptedOptions
from assistant.engines.scripted import ScriptedChatModel
from assistant.engines.tool_format import (
    grammar_messages,
    grammar_text,
    parse_grammar_output,
    parse_hermes,
    template_format,
)
from assistant.tools.capabilities import refusal
from assistant.tools.registry import Registry, Tool, ToolResult

TOOLS = [
    ToolSpec("clock", "The time.", {"type": "object", "properties": {"city": {"type": "string"}}}),
    ToolSpec("add", "Add.", {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}),
]


def _pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


@pytest.mark.parametrize("size", [1, 3, 7, 100])
def test_hermes_calls_are_cut_out_of_the_text_however_the_stream_is_split(size: int) -> None:
    text = 'Let me look. <tool_call>\n{"name": "clock", "arguments": {"city": "Tokyo"}}\n</tool_call> Done <b>.'
    events = list(parse_hermes(_pieces(text, size), TOOLS))
    calls = [e for e in events if isinstance(e, ToolCall)]
    spoken = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert [(c.name, c.arguments) for c in calls] == [("clock", {"city": "Tokyo"})]
    assert spoken == "Let me look.  Done <b>."


def test_hermes_text_streams_before_the_reply_ends() -> None:
    stream = iter(["Hello", " there", ", friend"])
    first = next(parse_hermes(stream, TOOLS))
    assert first == TextDelta("Hello")  # not held back: it cannot start a call


def test_hermes_unknown_tool_or_bad_json_is_not_spoken_nor_called() -> None:
    text = '<tool_call>{"name": "rm_rf", "arguments": {}}</tool_call><tool_call>{oops</tool_call>ok'
    assert list(parse_hermes(_pieces(text, 4), TOOLS)) == [TextDelta("ok")]


def test_grammar_output_call_or_text() -> None:
    call = list(parse_grammar_output(_pieces('{"tool": "add", "arguments": {"a": 2}}', 3), TOOLS))
    assert len(call) == 1 and isinstance(call[0], ToolCall) and call[0].arguments == {"a": 2}
    text = list(parse_grammar_output(["It", " is", " noon."], TOOLS))
    assert text == [TextDelta("It"), TextDelta(" is"), TextDelta(" noon.")]


def test_grammar_names_every_tool_and_allows_a_plain_answer() -> None:
    grammar = grammar_text(TOOLS)
    assert grammar.startswith("root ::= call | answer")
    assert '"\\"clock\\""' in grammar and '"\\"add\\""' in grammar
    assert "answer ::= [^{" in grammar


def test_grammar_messages_carry_tools_calls_and_results_as_text() -> None:
    messages = grammar_messages(
        [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "time?"},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [{"id": "1", "type": "function", "function": {"name": "clock", "arguments": "{}"}}],
            },
            {"role": "tool", "tool_call_id": "1", "name": "clock", "content": "It is 10:06 PM."},
        ],
        TOOLS,
    )
    assert messages[0]["content"].startswith("Be brief.") and "- clock: The time." in messages[0]["content"]
    assert json.loads(messages[2]["content"]) == {"tool": "clock", "arguments": {}}
    assert messages[3] == {"role": "user", "content": "The clock tool says: It is 10:06 PM."}


def test_template_format_from_the_gguf_template() -> None:
    assert template_format("{% if tools %}<tool_call>{{ tools | tojson }}</tool_call>{% endif %}") == "template"
    assert template_format("{% for message in messages %}<|im_start|>{% endfor %}") == "grammar"


def _registry(source: str | None) -> Registry:
    async def run(args: dict[str, object]) -> ToolResult:
        return ToolResult("ok")

    return Registry([Tool("x", "x", {"type": "object"}, run, source)] if source else [])


@pytest.mark.parametrize(
    "request_text",
    [
        "turn off the lights in the kitchen",
        "Turn the kitchen lights off",
        "switch on the lamp",
        "set the thermostat to twenty degrees",
        "unlock the front door",
        "send an email to my boss",
        "add lunch with Sam to my calendar",
    ],
)
def test_guard_refuses_what_no_tool_serves(request_text: str) -> None:
    reply = refusal(request_text, _registry("builtin"))
    assert reply is not None and reply.startswith("I can't") and "[[mcp]]" in reply
    assert refusal(request_text, _registry("mcp:home")) is None  # a tool server may serve it: the LLM decides
    # ...unless the LLM cannot call tools at all: then it would only pretend
    reply = refusal(request_text, _registry("mcp:home"), "smollm2-135m", calls_tools=False)
    assert reply is not None and reply.startswith("I can't") and "smollm2-135m, which cannot call tools" in reply
    assert "assistant llm use qwen3-4b" in reply and len(reply.split(". ")) == 1  # one sentence


def test_a_model_without_tools_is_told_the_local_phrasing_where_home_assistant_is_connected() -> None:
    async def run(args: dict[str, object]) -> ToolResult:
        return ToolResult("ok")

    home = Registry([Tool("home__HassTurnOff", "x", {"type": "object"}, run, "mcp:home", remote="HassTurnOff")])
    reply = refusal("dim the lights in the living room", home, "smollm2-135m", calls_tools=False)
    assert reply is not None and '"turn off the lights in the kitchen"' in reply
    other = refusal("dim the lights in the living room", _registry("mcp:files"), "smollm2-135m", calls_tools=False)
    assert other is not None and "like" not in other  # no Home Assistant tools: no phrasing that would work
    assert refusal("what is the capital of France", home, "smollm2-135m", calls_tools=False) is None


@pytest.mark.parametrize(
    ("request_text", "cannot"),
    [
        ("what's the weather", "check the weather"),
        ("will it rain tomorrow?", "check the weather"),
        ("how cold is it outside", "check the weather"),
        ("what are the latest news headlines", "read the news"),
        ("what is the price of bitcoin", "look up live prices"),
        ("how is the stock market doing today", "look up live prices"),
        ("who won the game last night", "look up scores"),
        ("what's the score", "look up scores"),
        ("how is the traffic on my commute", "check the traffic"),
        ("what's happening in the world", "look up current events"),
    ],
)
def test_guard_refuses_live_information_no_tool_serves(request_text: str, cannot: str) -> None:
    reply = refusal(request_text, _registry("builtin"))
    assert reply is not None and reply.startswith(f"I can't {cannot}") and "[[mcp]]" in reply
    assert "call tools" in reply  # the other half of what would help: a model that uses the tool
    assert refusal(request_text, _registry("mcp:weather")) is None


@pytest.mark.parametrize(
    "request_text",
    [
        "what's the weather like on Mars?",  # a climate, not a forecast: the README's own example
        "who won the world cup in 1998",
        "what is a score in music",
        "tell me about the history of the stock market",
        "what time is it right now?",
    ],
)
def test_guard_lets_general_knowledge_through(request_text: str) -> None:
    assert refusal(request_text, _registry("builtin")) is None


@pytest.mark.parametrize(
    "request_text",
    [
        "what time is it in Tokyo",
        "set a timer for ten minutes",
        "what is twelve times seven",
        "recommend some TV shows on Netflix",
        "why do lights flicker",
        "write a short text about cats",
        "how do I stop my dog from chewing everything",
    ],
)
def test_guard_lets_other_requests_through(request_text: str) -> None:
    assert refusal(request_text, _registry(None)) is None


def _settings(tmp_path: Path, text: str) -> object:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return load_settings(path)


def test_mcp_servers_parse(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path,
        '[[mcp]]\nname = "files"\ncommand = "npx"\nargs = ["-y", "server"]\n'
        '[[mcp]]\nname = "home"\nurl = "http://127.0.0.1:8123/mcp_server/sse"\ntoken_env = "HASS_TOKEN"\n',
    )
    servers = settings.mcp  # type: ignore[attr-defined]
    assert [(s.name, s.command, s.args, s.url) for s in servers] == [
        ("files", "npx", ("-y", "server"), None),
        ("home", None, (), "http://127.0.0.1:8123/mcp_server/sse"),
    ]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ('[[mcp]]\ncommand = "x"\n', "field 'name'"),
        ('[[mcp]]\nname = "a b"\ncommand = "x"\n', "field 'name'"),
        ('[[mcp]]\nname = "a"\n', "either 'command'"),
        ('[[mcp]]\nname = "a"\ncommand = "x"\nurl = "http://h"\n', "either 'command'"),
        ('[[mcp]]\nname = "a"\nurl = "ftp://h"\n', "field 'url'"),
        ('[[mcp]]\nname = "a"\ncommand = "x"\nargs = "y"\n', "field 'args'"),
        ('[[mcp]]\nname = "a"\ncommand = "x"\nport = 1\n', "unknown field 'port'"),
        ('[[mcp]]\nname = "a"\ncommand = "x"\n[[mcp]]\nname = "a"\ncommand = "y"\n', "duplicate name"),
        ('mcp = "x"\n', "array of tables"),
    ],
)
def test_bad_mcp_entries_get_one_line_naming_file_and_field(tmp_path: Path, body: str, says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _settings(tmp_path, body)
    assert str(tmp_path / "config.toml") in caught.value.message and says in caught.value.message
    assert "\n" not in caught.value.message


def test_scripted_engine_replays_rounds_and_quotes_the_tool_result(tmp_path: Path) -> None:
    script = tmp_path / "script.json"
    script.write_text(
        json.dumps(
            {"turns": [{"match": "add", "rounds": [[{"tool": "add", "arguments": {"a": 1}}], [{"text": "Got {result}."}]]}]}
        )
    )
    model = ScriptedChatModel(script, ScriptedOptions(chunk_chars=2))
    first = list(model.chat([{"role": "user", "content": "Please ADD"}], tools=TOOLS))
    assert len(first) == 1 and isinstance(first[0], ToolCall) and first[0].name == "add"
    history = [
        {"role": "user", "content": "Please ADD"},
        {"role": "tool", "tool_call_id": first[0].id, "name": "add", "content": "42"},
    ]
    second = list(model.chat(history, tools=TOOLS))  # type: ignore[arg-type]
    assert "".join(e.text for e in second if isinstance(e, TextDelta)) == "Got 42."
    assert len(second) > 1  # streamed in pieces, as a model would
    unoffered = list(model.chat([{"role": "user", "content": "add"}]))
    assert not any(isinstance(e, ToolCall) for e in unoffered)


@pytest.mark.parametrize("text", ["{oops", '["a list"]', '{"turns": [{"match": "x"}]}', '{"turns": [{"rounds": [[{"text": 5}]]}]}'])
def test_a_script_that_is_not_one_fails_in_one_line(tmp_path: Path, text: str) -> None:
    script = tmp_path / "script.json"
    script.write_text(text)
    with pytest.raises(ModelError) as caught:
        ScriptedChatModel(script, ScriptedOptions(), "scripted")
    assert caught.value.message.startswith(f"scripted: {script}: a script is an object with a 'turns' list (")
    assert "\n" not in caught.value.message


class LoopingServerLease:
    """A stand-in for a remote LLM server that ignores the tool list and calls a tool every round."""

    spec = SimpleNamespace(id="looping-server", kind="llm")  # what the Llm proxy checks of its host

    def __init__(self) -> None:
        self.offered: list[list[str]] = []

    async def stream(self, op: str, messages: list[Any], tools: list[ToolSpec]) -> AsyncIterator[Any]:
        self.offered.append([t.name for t in tools])
        yield ToolCall(f"call_{len(self.offered)}", "count", {})


def test_no_tool_runs_after_the_last_round_of_tool_calls() -> None:
    from assistant.hosts.proxies import Llm
    from assistant.tools.llm_route import MAX_TOOL_ROUNDS, converse
    from assistant.tools.registry import ToolCallRecord

    runs: list[int] = []

    async def count(arguments: dict[str, Any]) -> ToolResult:
        runs.append(1)
        return ToolResult(f"Counted {len(runs)}.")

    registry = Registry([Tool("count", "Count.", {"type": "object", "properties": {}}, count)])
    lease = LoopingServerLease()
    records: list[ToolCallRecord] = []

    async def main() -> str:
        llm = Llm(lease)  # type: ignore[arg-type]  # a stand-in host
        return "".join([d async for d in converse(llm, [{"role": "user", "content": "count"}], registry, records)])

    asyncio.run(main())
    assert lease.offered[-1] == [] and len(lease.offered) == MAX_TOOL_ROUNDS + 1
    assert len(runs) == len(records) == MAX_TOOL_ROUNDS  # the call made when no tool was offered is not run


@pytest.mark.quick
def test_a_tool_run_in_a_guess_waits_for_its_words_and_a_dropped_guess_never_runs_it() -> None:
    ran: list[dict[str, Any]] = []

    async def act(arguments: dict[str, Any]) -> ToolResult:
        ran.append(arguments)
        return ToolResult("done")

    registry = Registry([Tool("act", "Do something.", {"type": "object", "properties": {}}, act)])

    async def main() -> None:
        for confirm in (False, True):
            confirmed = asyncio.Event()
            records: list[Any] = []

            async def guess() -> None:
                held = registry.held(confirmed.wait)  # what a guess's turn hands every route
                await held.call("act", {"confirm": confirm}, "intent", records)

            task = asyncio.create_task(guess())
            await asyncio.sleep(0.05)
            assert ran == [] and records == []  # waiting at the door, whatever the route
            if confirm:
                confirmed.set()
                await task
                assert ran == [{"confirm": True}] and len(records) == 1
            else:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                assert ran == [] and records == []
        await registry.call("act", {"plain": True}, "llm", [])  # a turn that is no guess does not wait
        assert ran[-1] == {"plain": True}

    asyncio.run(main())
