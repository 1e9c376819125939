"""What hosts a loaded model: the operations a model serves, and the interface both hosts share.

A host is a `Worker` (a child process, worker.py) or an `InLoopModel` (a remote server's client in the
daemon's loop, inloop.py). Callers do not speak to a host directly: they wrap it in the typed proxy of
its kind (proxies.py), which names the operation and checks what comes back.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from enum import StrEnum
from typing import Protocol

from assistant.core.models import ModelSpec


class Op(StrEnum):
    """The operations a host carries to its engine (the one place their names are spelled)."""

    TRANSCRIBE = "transcribe"  # asr: audio → Transcript
    TRANSCRIBE_SEGMENTS = "transcribe_segments"  # asr: audio → a stream of Segment as decoded, then the Transcript
    CHAT = "chat"  # llm: messages → a stream of TextDelta | ToolCall
    PREFILL = "prefill"  # llm: evaluate the prompt into the KV cache → prompt stats, or None
    PROMPT_STATS = "prompt_stats"  # llm: the last prompt's token counts, or None
    SYNTHESIZE = "synthesize"  # tts: text → a stream of AudioChunk


class ModelHost(Protocol):
    """What the arbiter and the proxies use of a loaded model."""

    @property
    def spec(self) -> ModelSpec: ...
    @property
    def device(self) -> str: ...
    @property
    def pid(self) -> int | None: ...
    @property
    def alive(self) -> bool: ...
    @property
    def load_seconds(self) -> float: ...
    @property
    def sample_rate(self) -> int: ...
    @property
    def exit_reason(self) -> str | None: ...

    async def start(self, timeout: float = ...) -> None: ...
    async def request(self, op: Op, **args: object) -> object: ...
    def stream(self, op: Op, **args: object) -> AsyncGenerator[object, None]: ...
    async def stop(self, timeout: float = ...) -> None: ...
    def kill(self) -> None: ...
