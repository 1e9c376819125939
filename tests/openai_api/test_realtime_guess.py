"""An answer made ahead (realtime_guess.py): taken only for the same conversation and settings, streamed
whole when taken late or early, its error the response's, and its making stopped when it is dropped."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

import pytest

from assistant.core.chat import Message
from assistant.openai_api.realtime_config import Modality, SessionConfig
from assistant.openai_api.realtime_guess import Guess
from assistant.openai_api.realtime_reply import Part, Sound, Words

pytestmark = pytest.mark.quick

ASKED: list[Message] = [{"role": "user", "content": "what time is it"}]


class Maker:
    """A reply that says `sentences` one by one, each released by `go`; then fails, if told to."""

    def __init__(self, sentences: list[str], fail: Exception | None = None) -> None:
        self.sentences, self.fail = sentences, fail
        self.go = asyncio.Event()
        self.closed = False

    async def __call__(self, config: SessionConfig, messages: list[Message]) -> AsyncGenerator[Part, None]:
        try:
            for sentence in self.sentences:
                await self.go.wait()
                yield Words(sentence)
                yield Sound(b"\0\0" * 240)
            if self.fail is not None:
                raise self.fail
        finally:
            self.closed = True


def test_a_guess_answers_only_the_same_conversation_under_the_same_settings() -> None:
    async def run() -> None:
        config = SessionConfig(intent="realtime")
        guess = Guess.start(Maker(["It is noon."]), config, list(ASKED))
        assert guess.answers(config, list(ASKED))
        assert not guess.answers(config, [*ASKED, {"role": "user", "content": "and the date"}])
        assert not guess.answers(SessionConfig(intent="realtime", modality=Modality.TEXT), list(ASKED))
        await guess.drop()

    asyncio.run(run())


def test_a_taken_guess_streams_what_was_made_before_and_after_it_was_taken() -> None:
    async def run() -> list[Part]:
        maker = Maker(["It is noon.", "Have a nice lunch."])
        guess = Guess.start(maker, SessionConfig(intent="realtime"), list(ASKED))
        maker.go.set()
        await asyncio.sleep(0.01)  # made ahead, before anyone takes it
        return [part async for part in guess.stream()]

    parts = asyncio.run(run())
    assert [p.text for p in parts if isinstance(p, Words)] == ["It is noon.", "Have a nice lunch."]
    assert sum(isinstance(p, Sound) for p in parts) == 2


def test_a_guess_that_failed_fails_the_response_that_takes_it() -> None:
    async def run() -> list[str]:
        maker = Maker(["It is noon."], fail=RuntimeError("the voice's worker went away"))
        maker.go.set()
        guess = Guess.start(maker, SessionConfig(intent="realtime"), list(ASKED))
        said: list[str] = []
        with pytest.raises(RuntimeError, match="worker went away"):
            async for part in guess.stream():
                said += [part.text] if isinstance(part, Words) else []
        return said

    assert asyncio.run(run()) == ["It is noon."]  # what was made before the error still went out


def test_a_dropped_guess_stops_making_its_reply() -> None:
    async def run() -> Maker:
        maker = Maker(["It is noon."])  # never released: the reply is still being made
        guess = Guess.start(maker, SessionConfig(intent="realtime"), list(ASKED))
        await asyncio.sleep(0.01)
        await guess.drop()
        return maker

    maker = asyncio.run(run())
    assert maker.closed  # the reply's generator was closed: its leases (held in it) are given back
