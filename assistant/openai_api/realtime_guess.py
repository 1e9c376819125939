"""Answering ahead in a Realtime conversation, as the desktop's turn does (turn/speculation.py).

When the user pauses, the input side has already transcribed what they said so far
(realtime_session.py). The reply to those words is made then, while turn detection still waits out
the silence (or the end-of-turn model weighs it), and kept here: nothing reaches the client. When the
turn ends in that pause, the response reads the same conversation and takes the reply already made
instead of starting one, so its first audio is ready sooner by the wait for the end of the turn and
the final transcription. When the user speaks on, or the conversation changed meanwhile, the guess is
dropped, and its leases with it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass, field

from assistant.core.chat import Message
from assistant.openai_api.realtime_config import SessionConfig
from assistant.openai_api.realtime_reply import Part, Reply

log = logging.getLogger(__name__)


@dataclass
class Guess:
    """The reply to `messages` under `config`, made ahead; its parts wait in `parts` until it is taken."""

    config: SessionConfig
    messages: list[Message]
    parts: asyncio.Queue[Part | BaseException | None] = field(default_factory=asyncio.Queue)
    task: asyncio.Task[None] | None = None

    @classmethod
    def start(cls, reply: Reply, config: SessionConfig, messages: list[Message]) -> Guess:
        guess = cls(config, messages)
        guess.task = asyncio.get_running_loop().create_task(guess._make(reply))
        return guess

    async def _make(self, reply: Reply) -> None:
        try:
            async with aclosing(reply(self.config, self.messages)) as parts:
                async for part in parts:
                    self.parts.put_nowait(part)
        except Exception as exc:  # the response that takes it fails as its own reply would have
            self.parts.put_nowait(exc)
        finally:
            self.parts.put_nowait(None)

    def answers(self, config: SessionConfig, messages: list[Message]) -> bool:
        """Whether this is the reply a response to `messages` under `config` would make now."""
        return config == self.config and messages == self.messages

    async def stream(self) -> AsyncGenerator[Part, None]:
        """The parts made so far, then the rest as they come; the guess's error, if it failed, raised."""
        try:
            while (part := await self.parts.get()) is not None:
                if isinstance(part, BaseException):
                    raise part
                yield part
        finally:
            await self.drop()  # taken and closed early (a barge-in): the making stops too

    async def drop(self) -> None:
        task = self.task
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
