"""The Utterance on its own: how it ends, what it heard, and the answer started ahead that it owns."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest

from assistant.tools.registry import Registry, Tool, ToolResult
from assistant.turn.utterance import End, Source, Utterance

pytestmark = pytest.mark.quick


class StandInGuess:
    """A guess with no turn behind it: it records what the utterance did with it."""

    def __init__(self, text: str, work_s: float = 0.25) -> None:
        self.text = text
        self.work_s = work_s
        self.discarded = False
        self.adopted = False

    def usable(self, transcript: str) -> bool:
        return transcript == self.text

    async def adopt(self, result: Any, sink: Any, on_state: Any, released: float) -> None:
        self.adopted = True

    async def discard(self) -> float:
        await asyncio.sleep(0)
        self.discarded = True
        return self.work_s


def test_a_typed_utterance_is_whole_and_a_spoken_one_ends_with_its_audio() -> None:
    typed = Utterance.typed("what time is it", Source.ASK)
    assert typed.is_typed and typed.end == End.TYPED and typed.ended_at is None  # counted from its turn's start
    spoken = Utterance(Source.PUSH_TO_TALK)
    assert not spoken.is_typed and spoken.end is None
    audio = np.zeros(1600, dtype=np.float32)
    spoken.ended(End.RELEASE, audio, at=12.5)
    assert spoken.end == End.RELEASE and spoken.ended_at == 12.5 and spoken.audio is audio


def test_a_newer_guess_drops_the_older_and_the_end_takes_only_one_for_its_words() -> None:
    async def main() -> None:
        utterance = Utterance(Source.PUSH_TO_TALK)
        utterance.heard("set a timer")
        first = StandInGuess("set a timer")
        utterance.guessed(first)
        utterance.heard("set a timer for ten minutes")
        second = StandInGuess("set a timer for ten minutes")
        utterance.guessed(second)
        await utterance.settle()  # waits for the drop of the first; the standing guess is dropped too
        assert first.discarded and second.discarded
        assert utterance.partials == ["set a timer", "set a timer for ten minutes"] and len(utterance.pauses) == 2
        assert utterance.guesses == 2 and utterance.wasted_s == pytest.approx(0.5)

        utterance = Utterance(Source.PUSH_TO_TALK)
        kept = StandInGuess("what is the weather")
        utterance.guessed(kept)
        assert await utterance.take_guess("what is the weather in paris", can_play=True) is None
        assert kept.discarded and not utterance.guessed_ahead  # other words: dropped, not used

        utterance.guessed(kept := StandInGuess("what is the weather"))
        assert await utterance.take_guess("what is the weather", can_play=False) is None  # nowhere to play it
        assert kept.discarded

        utterance.guessed(kept := StandInGuess("what is the weather"))
        assert await utterance.take_guess("what is the weather", can_play=True) is kept
        assert utterance.guessed_ahead and not kept.discarded and utterance.guess is None

    asyncio.run(main())


def test_a_held_registry_waits_for_the_words_and_shares_the_tools() -> None:
    ran: list[str] = []

    async def act(arguments: dict[str, Any]) -> ToolResult:
        ran.append("act")
        return ToolResult("done")

    registry = Registry([Tool("act", "Do it.", {"type": "object", "properties": {}}, act, source="mcp:home")])

    async def main() -> None:
        confirmed = asyncio.Event()
        held = registry.held(confirmed.wait)
        call = asyncio.create_task(held.call("act", {}, "llm", []))
        await asyncio.sleep(0.05)
        assert ran == []  # waiting for the words
        confirmed.set()
        await call
        assert ran == ["act"]
        registry.remove_source("mcp:home")  # the server went away: the held view sees it too
        assert held.get("act") is None and len(held) == 0

    asyncio.run(main())
