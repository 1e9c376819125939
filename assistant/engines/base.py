"""The engine interfaces: what a transcriber, a chat model and a synthesizer do (the values they pass are in core)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Protocol, Union

from assistant.core.chat import ChatEvent, Message, ToolSpec
from assistant.core.speech import Audio, AudioChunk, Transcript


class Transcriber(Protocol):
    device: str

    def transcribe(self, audio: Audio, prompt: str | None = None) -> Transcript:
        """`prompt`: words the audio is likely to hold (names, terms), where the engine takes a hint."""
        ...


class ChatModel(Protocol):
    device: str

    def chat(
        self, messages: Sequence[Message], max_tokens: int | None = None, tools: Sequence[ToolSpec] = ()
    ) -> Iterator[ChatEvent]:
        """Yield text deltas and tool calls; the caller stops iterating to cancel.

        With no tools the stream is text only. A model that cannot call tools ignores them.
        """
        ...


class Synthesizer(Protocol):
    device: str
    sample_rate: int

    def synthesize(self, text: str) -> Iterator[AudioChunk]: ...


class AsyncChatModel(Protocol):
    """A chat model that runs in the daemon's loop (a remote server's client; see hosts/inloop.py)."""

    device: str

    async def open(self) -> None: ...
    async def close(self) -> None: ...

    def chat(
        self, messages: Sequence[Message], max_tokens: int | None = None, tools: Sequence[ToolSpec] = ()
    ) -> AsyncIterator[ChatEvent]: ...


# What an engine factory builds: one of the interfaces above.
Engine = Union[Transcriber, ChatModel, Synthesizer, AsyncChatModel]
