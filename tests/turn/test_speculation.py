"""Answering ahead on the real engines (SmolLM2, Piper) and a tool-calling stand-in: a guess leaves no trace until adopted."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import numpy as np
import pytest

from assistant.audio.sinks import CollectingSink
from assistant.config.settings import Config
from assistant.core.events import TurnState
from assistant.core.paths import Paths
from assistant.tools.registry import Tool, ToolResult
from assistant.turn.assistant import Assistant
from assistant.turn.pipeline import Models, TurnResult
from assistant.turn.speculation import Speculation
from assistant.vram.meter import SimulatedMeter

from ..daemon_process import SCRIPTED
from ..waiting import until

pytestmark = pytest.mark.latency



def stored(assistant: Assistant) -> list[tuple[str, str]]:
    """The conversation the next turn would see, past the system prompt: (role, text) pairs."""
    return [(m["role"], m["content"]) for m in assistant.conversation.messages("")[1:-1]]


def test_a_guess_buffers_its_first_sentence_and_a_discard_leaves_nothing(config: Config) -> None:
    async def main() -> None:
        assistant = Assistant.create(config, SimulatedMeter(16.0), persist=False)
        models = assistant.models
        try:
            for model in (models.llm, models.tts):
                await assistant.arbiter.ensure(model)
            guess = Speculation(assistant.pipeline, models, "Why is the sky blue?")
            await until(lambda: guess.gate.ready_at is not None, timeout=60, interval=0.01, what="the guess to reach its gate")  # it got as far as it may go
            assert guess.sink.held > 0  # the first sentence's audio, kept back
            assert guess.result.sentences and guess.result.full_reply  # the LLM wrote it
            assert stored(assistant) == []  # nothing stored yet
            wasted = await guess.discard()
            assert guess.task.cancelled()
            assert 0 < wasted < time.perf_counter() - guess.started
            assert stored(assistant) == []  # nor after

            # The same words again, adopted at the "release": the buffer plays first, then the rest.
            guess = Speculation(assistant.pipeline, models, "Why is the sky blue?")
            await until(lambda: guess.gate.ready_at is not None, timeout=60, interval=0.01, what="the guess to reach its gate")
            held = guess.sink.held
            assert guess.usable("Why is the sky blue?") and not guess.usable("Why is the sky green?")
            sink, states = CollectingSink(), []
            result = TurnResult(id="adopted", transcript="Why is the sky blue?")
            released = time.perf_counter()
            await guess.adopt(result, sink, states.append, released)
            assert result.id == "adopted" and result.reply and result.sentences
            assert len(sink.chunks) > held  # more than the first sentence
            assert states and states[0] == TurnState.SPEAKING  # the state held back during the guess, then on
            t = result.timings
            assert t.speculation_ahead_s is not None and t.speculation_ahead_s > 0
            assert t.llm_first_sentence_s is not None and t.llm_first_sentence_s < 0  # before the release
            assert stored(assistant) == [("user", "Why is the sky blue?"), ("assistant", result.reply)]
        finally:
            await assistant.close()

    asyncio.run(main())


def test_a_guess_never_runs_a_tool_until_its_words_are_confirmed(xdg: Paths) -> None:
    """The stand-in LLM asks for a tool at once: the guess stops there, and a discarded one never runs it."""
    xdg.user_catalog.write_text(SCRIPTED)
    script = {"turns": [{"match": "note", "rounds": [[{"tool": "take_note", "arguments": {}}], [{"text": "Done: {result}"}]]}]}
    (xdg.config_dir / "script.json").write_text(json.dumps(script))
    ran: list[str] = []

    async def take_note(arguments: dict[str, Any]) -> ToolResult:
        ran.append("noted")
        return ToolResult("the note is taken.")

    async def main() -> None:
        assistant = Assistant.create(Config.load(xdg), SimulatedMeter(16.0), persist=False)
        assistant.tools.add(Tool("take_note", "Take a note.", {"type": "object", "properties": {}}, take_note))
        models = Models(asr=assistant.models.asr, llm="scripted-tools", tts=assistant.models.tts)
        try:
            guess = Speculation(assistant.pipeline, models, "Take a note for me.")
            await until(lambda: guess.gate.ready_at is not None, timeout=60, interval=0.01, what="the guess to reach its gate")  # the call is waiting at the registry
            await asyncio.sleep(0.2)
            assert ran == [] and guess.result.tools == []
            await guess.discard()
            assert ran == [] and guess.result.tools == [] and stored(assistant) == []

            guess = Speculation(assistant.pipeline, models, "Take a note for me.")
            await until(lambda: guess.gate.ready_at is not None, timeout=60, interval=0.01, what="the guess to reach its gate")
            result = TurnResult(id="note", transcript="Take a note for me.")
            await guess.adopt(result, CollectingSink(), lambda state: None, time.perf_counter())
            assert ran == ["noted"]  # once confirmed, exactly once
            assert [call.name for call in result.tools] == ["take_note"]
            assert "the note is taken" in result.reply
        finally:
            await assistant.close()

    asyncio.run(main())


def test_a_barge_in_on_an_adopted_guess_keeps_what_was_heard(config: Config) -> None:
    async def main() -> None:
        assistant = Assistant.create(config, SimulatedMeter(16.0), persist=False)
        models = assistant.models
        try:
            for model in (models.llm, models.tts):
                await assistant.arbiter.ensure(model)
            guess = Speculation(assistant.pipeline, models, "Tell me something about the moon.")
            await until(lambda: guess.gate.ready_at is not None, timeout=60, interval=0.01, what="the guess to reach its gate")

            class Stalling(CollectingSink):
                """A device that has played the first sentence and then holds on: the press comes meanwhile."""

                async def finish(self) -> None:
                    await asyncio.sleep(120)

            sink = Stalling()
            result = TurnResult(id="barged", transcript="Tell me something about the moon.")
            turn = asyncio.create_task(guess.adopt(result, sink, lambda state: None, time.perf_counter()))
            await until(lambda: len(sink.chunks) > 0, timeout=60, interval=0.01, what="the first chunk in the sink")
            turn.cancel()
            with pytest.raises(asyncio.CancelledError):
                await turn
            assert guess.task.cancelled() and result.interrupted
            # The words were confirmed, so the turn is kept, with what was heard of it.
            assert stored(assistant)[0] == ("user", "Tell me something about the moon.")
            assert stored(assistant)[1:] == ([("assistant", result.reply)] if result.reply else [])
            assert np.concatenate([c.samples for c in sink.chunks]).size > 0
        finally:
            await assistant.close()

    asyncio.run(main())
