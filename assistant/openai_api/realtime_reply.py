"""One Realtime response's making: the conversation to the LLM, its sentences to the voice, as they come.

The LLM writes in a task of its own, under its lease; each finished sentence (turn/sentences.py, as the
desktop's turn and /v1/audio/speech split them) goes through a small queue to the voice, which speaks
it under its own lease while the LLM writes the next. So the first audio goes out after the first
sentence, not after the whole reply. Both leases and the request slot are held for this response
only, and given back when it ends or is cancelled (a barge-in, `response.cancel`, a client gone).

What comes out, in order: `Words` (a sentence, or a text delta when the reply is text only), then that
sentence's `Sound` (24 kHz 16-bit PCM, OpenAI's, in pieces of 100 ms at most), a `Call` for each function call the model makes,
and last the `Used` token counts.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable
from contextlib import AsyncExitStack, aclosing
from dataclasses import dataclass

from assistant.core.chat import Message, TextDelta, ToolCall
from assistant.hosts.proxies import Llm, PromptStats, Tts
from assistant.openai_api.chat import Usage, engine_counts, raw_usage
from assistant.openai_api.common import Services
from assistant.openai_api.errors import resolve
from assistant.openai_api.formats import SpeechFormat, chunk_bytes
from assistant.openai_api.realtime_config import Modality, SessionConfig
from assistant.turn.sentences import SentenceSplitter, speakable


SOUND_BYTES = 4800  # 100 ms of 24 kHz 16-bit audio: a delta's most, so a player gets it as a stream


@dataclass(frozen=True)
class Words:
    text: str


@dataclass(frozen=True)
class Sound:
    pcm: bytes  # 24 kHz mono 16-bit little-endian


@dataclass(frozen=True)
class Call:
    call: ToolCall


@dataclass(frozen=True)
class Used:
    usage: Usage


Part = Words | Sound | Call | Used
Reply = Callable[[SessionConfig, list[Message]], AsyncGenerator[Part, None]]


def replier(services: Services) -> Reply:
    """Responses made with the daemon's models: the session's LLM (or the current one) and voice."""
    arbiter = services.arbiter

    async def reply(config: SessionConfig, messages: list[Message]) -> AsyncGenerator[Part, None]:
        current = services.models()
        llm_id = resolve(services.catalog, config.llm, "llm", current.llm)
        # A voice of the catalog by its id; OpenAI's voice names (alloy, marin, …) mean the current one.
        voice_id = config.voice if config.voice in services.catalog.models else current.tts
        voice_id = resolve(services.catalog, voice_id, "tts", current.tts)
        spoken = config.modality is Modality.AUDIO
        out: asyncio.Queue[str | Call | Used | None] = asyncio.Queue()

        async def write() -> None:
            """The LLM's reply into `out`: sentences (or, text only, each delta), calls, then the counts."""
            splitter, text, calls = SentenceSplitter(), "", list[ToolCall]()
            stats: PromptStats | None = None
            try:
                async with arbiter.use(llm_id) as host:
                    llm = Llm(host)
                    async with aclosing(llm.chat(messages, config.max_output_tokens, config.tools)) as events:
                        async for event in events:
                            if isinstance(event, TextDelta):
                                text += event.text
                                for piece in splitter.feed(event.text) if spoken else [event.text]:
                                    out.put_nowait(piece)
                            else:
                                calls.append(event)
                                out.put_nowait(Call(event))
                    stats = await engine_counts(llm)
                for piece in splitter.flush() if spoken else []:
                    out.put_nowait(piece)
                out.put_nowait(Used(raw_usage(stats, messages, config.tools, text, calls)))
            finally:
                out.put_nowait(None)

        slot = await services.limits.slot()
        writer = asyncio.get_running_loop().create_task(write())
        try:
            async with AsyncExitStack() as voice:
                tts: Tts | None = None
                while (item := await out.get()) is not None:
                    if not isinstance(item, str):
                        yield item
                        continue
                    if not spoken:
                        yield Words(item)
                        continue
                    sentence = speakable(item)
                    if not sentence:
                        continue
                    if tts is None:  # the voice's lease from the first sentence to the end of the response
                        tts = Tts(await voice.enter_async_context(arbiter.use(voice_id)))
                    yield Words(sentence)
                    async with aclosing(tts.synthesize(sentence)) as audio:
                        async for chunk in audio:
                            pcm = chunk_bytes(chunk.samples, chunk.sample_rate, SpeechFormat.PCM)
                            for at in range(0, len(pcm), SOUND_BYTES):  # a voice may give a whole sentence
                                yield Sound(pcm[at : at + SOUND_BYTES])
            await writer  # its error (a model that failed) is the response's
        finally:
            if not writer.done():
                writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)
            slot.release()

    return reply

