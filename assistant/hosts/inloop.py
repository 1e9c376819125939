"""An engine that runs in the daemon's event loop (a remote server's client), behind the Worker's interface.

A worker process earns its cost for a model in memory: unloading really frees VRAM, and a native crash
stays in the child. A client of a remote server has neither: it holds a socket, not weights. Run in the
loop it needs no process start, and closing its stream closes the socket at once, so a barge-in stops
the server's generation immediately instead of at the worker's next token.

An in-loop engine (registered with `in_loop=True`) has `device`, `async open()` (connect and check,
raising AssistantError), `async close()`, and the async form of its kind's method:
`chat(messages, max_tokens, tools)` and `synthesize(text)` as async iterators, `transcribe(audio)` as a
coroutine.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any

from assistant.core.errors import AssistantError, ModelError
from assistant.core.models import ModelFiles, ModelSpec
from assistant.core.speech import Transcript
from assistant.engines.loader import load_engine
from assistant.hosts.host import Op

log = logging.getLogger(__name__)

OPEN_TIMEOUT_S = 120.0


class InLoopModel:
    """Loaded when opened, unloaded when closed; requests run as coroutines of the caller's task."""

    pid: int | None = None  # no process of its own, so nothing for the GPU meter to count

    def __init__(self, spec: ModelSpec, files: ModelFiles, device: str) -> None:
        self.spec = spec
        self.files = files
        self.device = device
        self.load_seconds = 0.0
        self.sample_rate = 0
        self.exit_reason: str | None = None
        self._engine: Any = None

    @property
    def alive(self) -> bool:
        return self._engine is not None and self.exit_reason is None

    async def start(self, timeout: float = OPEN_TIMEOUT_S) -> None:
        started = time.perf_counter()
        # Any: an in-loop engine is the async form of its kind (chat as an async iterator, ...), see above.
        engine: Any = load_engine(self.spec, self.files, self.device)
        try:
            await asyncio.wait_for(engine.open(), timeout)
        except asyncio.TimeoutError:
            await engine.close()
            raise ModelError(f"{self.spec.id}: opening took longer than {timeout:.0f} s; gave up") from None
        except BaseException:
            await engine.close()
            raise
        self._engine = engine
        self.device = str(engine.device)
        self.sample_rate = int(getattr(engine, "sample_rate", 0))
        self.load_seconds = time.perf_counter() - started

    def _live(self) -> Any:
        if not self.alive:
            raise AssistantError(f"{self.spec.id} is not open ({self.exit_reason or 'not started'})", "model")
        return self._engine

    async def request(self, op: Op, **args: object) -> object:
        engine = self._live()
        if op == Op.TRANSCRIBE:
            return await engine.transcribe(args["audio"], args.get("prompt"))
        if op in (Op.PREFILL, Op.PROMPT_STATS):
            # No KV cache here to fill or count: a remote server keeps its own (the answer a worker gives
            # for prompt_stats on an engine without one).
            return None
        raise AssistantError(f"{self.spec.id}: unknown request {op!r}", code="bad_request")

    async def stream(self, op: Op, **args: object) -> AsyncGenerator[object, None]:
        """Yield items as the engine produces them; leaving early closes the engine's stream at once."""
        engine = self._live()
        if op == Op.CHAT:
            items = engine.chat(args["messages"], args.get("max_tokens"), args.get("tools", ()))
        elif op == Op.SYNTHESIZE:
            items = engine.synthesize(args["text"])
        elif op == Op.TRANSCRIBE_SEGMENTS:
            items = _whole(await engine.transcribe(args["audio"], args.get("prompt")))
        else:
            raise AssistantError(f"{self.spec.id}: unknown stream {op!r}", code="bad_request")
        async with aclosing(items) as events:
            async for item in events:
                yield item

    async def stop(self, timeout: float = 5.0) -> None:
        engine, self._engine = self._engine, None
        if self.exit_reason is None:
            self.exit_reason = "stopped"
        if engine is None:
            return
        try:
            await asyncio.wait_for(engine.close(), timeout)
        except Exception as exc:  # closing a dead connection must not stop the unload
            log.warning("%s: closing failed: %s", self.spec.id, exc)

    def kill(self) -> None:
        """Nothing to kill: its sockets close with the loop."""
        self.exit_reason = "stopped"


async def _whole(transcript: Transcript) -> AsyncGenerator[object, None]:
    """A remote engine's transcript, which comes whole: its segments, then itself."""
    for segment in transcript.segments:
        yield segment
    yield transcript
