"""One typed proxy per model kind, over a host: `Asr.transcribe(audio) -> Transcript`, `Llm.chat(...)`,
`Tts.synthesize(text)`.

The host carries untyped messages across a process boundary; the proxy is where their types are
checked, so a worker that answers with the wrong thing is one clear error, not a cast that fails later.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing
from typing import TypeVar

from assistant.core.chat import ChatEvent, Message, TextDelta, ToolCall, ToolSpec
from assistant.core.errors import WorkerCrashed
from assistant.core.models import Kind
from assistant.core.speech import Audio, AudioChunk, Segment, Transcript
from assistant.hosts.host import ModelHost, Op

T = TypeVar("T")
PromptStats = dict[str, int]  # token counts of the last prompt: prompt, cached, evaluated


def _wrong(value: object, host: ModelHost, op: Op) -> WorkerCrashed:
    return WorkerCrashed(f"the {host.spec.id} worker answered {op} with a {type(value).__name__}")


def _expect(value: object, kind: type[T], host: ModelHost, op: Op) -> T:
    if not isinstance(value, kind):
        raise _wrong(value, host, op)
    return value


def _stats(value: object, host: ModelHost, op: Op) -> PromptStats | None:
    # Engines with no KV cache (a remote server, a scripted test engine) answer None.
    if value is None:
        return None
    stats = _expect(value, dict, host, op)
    return {str(k): int(v) for k, v in stats.items()}


class _Proxy:
    kind: Kind

    def __init__(self, host: ModelHost) -> None:
        if host.spec.kind != self.kind:
            raise TypeError(f"{host.spec.id} is a {host.spec.kind} model, not {self.kind}")
        self.host = host

    @property
    def spec_id(self) -> str:
        return self.host.spec.id


class Asr(_Proxy):
    kind: Kind = "asr"

    async def transcribe(self, audio: Audio, prompt: str | None = None) -> Transcript:
        reply = await self.host.request(Op.TRANSCRIBE, audio=audio, prompt=prompt)
        return _expect(reply, Transcript, self.host, Op.TRANSCRIBE)

    async def transcribe_segments(
        self, audio: Audio, prompt: str | None = None
    ) -> AsyncGenerator[Segment | Transcript, None]:
        """Each segment as the engine decodes it, then the whole Transcript (last)."""
        async with aclosing(self.host.stream(Op.TRANSCRIBE_SEGMENTS, audio=audio, prompt=prompt)) as items:
            async for item in items:
                if not isinstance(item, (Segment, Transcript)):
                    raise _wrong(item, self.host, Op.TRANSCRIBE_SEGMENTS)
                yield item


class Llm(_Proxy):
    kind: Kind = "llm"

    async def chat(
        self, messages: Sequence[Message], max_tokens: int | None = None, tools: Sequence[ToolSpec] = ()
    ) -> AsyncGenerator[ChatEvent, None]:
        """Text deltas and tool calls as the model writes them; closing the stream cancels the generation."""
        args: dict[str, object] = {"messages": list(messages), "tools": tuple(tools)}
        if max_tokens is not None:
            args["max_tokens"] = max_tokens
        async with aclosing(self.host.stream(Op.CHAT, **args)) as events:
            async for event in events:
                if not isinstance(event, (TextDelta, ToolCall)):
                    raise _wrong(event, self.host, Op.CHAT)
                yield event

    async def prefill(self, messages: Sequence[Message], tools: Sequence[ToolSpec] = ()) -> PromptStats | None:
        reply = await self.host.request(Op.PREFILL, messages=list(messages), tools=tuple(tools))
        return _stats(reply, self.host, Op.PREFILL)

    async def prompt_stats(self) -> PromptStats | None:
        return _stats(await self.host.request(Op.PROMPT_STATS), self.host, Op.PROMPT_STATS)


class Tts(_Proxy):
    kind: Kind = "tts"

    @property
    def sample_rate(self) -> int:
        return self.host.sample_rate

    async def synthesize(self, text: str) -> AsyncGenerator[AudioChunk, None]:
        """Audio as it is made; closing the stream cancels the synthesis."""
        async with aclosing(self.host.stream(Op.SYNTHESIZE, text=text)) as chunks:
            async for chunk in chunks:
                yield _expect(chunk, AudioChunk, self.host, Op.SYNTHESIZE)
