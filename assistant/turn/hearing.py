"""Hearing an utterance that is only transcribed, never answered: Wyoming's speech-to-text, the API's
transcription route, `assistant transcribe`. The source makes the same `Utterance` a turn's source makes,
so the audio, how it ended and the final words sit where a turn's do, and an end-of-turn decision or a
streaming client later has one object to work on."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing

from assistant.core.speech import Segment, Transcript
from assistant.hosts.proxies import Asr
from assistant.turn.utterance import Utterance
from assistant.vram.arbiter import Arbiter


async def hear(arbiter: Arbiter, utterance: Utterance, asr: str, prompt: str | None = None) -> Transcript:
    """The transcript of a spoken utterance that has ended, on a lease of `asr`; `prompt` is a vocabulary
    hint. The words become the utterance's transcript."""
    if utterance.audio is None:
        raise ValueError("only a spoken utterance can be heard; a typed one has its words already")
    async with arbiter.use(asr) as host:
        transcript = await Asr(host).transcribe(utterance.audio, prompt)
    utterance.transcript = transcript.text
    return transcript


async def hear_segments(
    arbiter: Arbiter, utterance: Utterance, asr: str, prompt: str | None = None
) -> AsyncGenerator[Segment | Transcript, None]:
    """As `hear`, with each segment as the ASR decodes it, then the Transcript (last); the lease is held until
    the stream ends or is closed."""
    if utterance.audio is None:
        raise ValueError("only a spoken utterance can be heard; a typed one has its words already")
    async with arbiter.use(asr) as host, aclosing(Asr(host).transcribe_segments(utterance.audio, prompt)) as items:
        async for item in items:
            if isinstance(item, Transcript):
                utterance.transcript = item.text
            yield item
