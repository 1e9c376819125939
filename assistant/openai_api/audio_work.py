"""A request's audio work, done in worker threads: decoding and resampling an upload, encoding a whole reply.

The API shares the daemon's event loop with the hotkey, the tray, the control socket and Wyoming.
Decoding a 25 MB upload (an MP3 of half an hour) and resampling it to 16 kHz takes seconds of CPU; on
the loop, every other client waited that long (scripts/bench_loop.py). libsndfile and soxr let go
of the GIL while they work, so in a thread the loop goes on answering meanwhile.
"""

from __future__ import annotations

import asyncio

from assistant.audio.files import concat, decode_audio, resample
from assistant.core.speech import SAMPLE_RATE, Audio
from assistant.openai_api.formats import SpeechFormat, encode_whole
from assistant.openai_api.server import Counts

# Uploads decoded at once; more wait their turn. Each holds its samples (up to ~100 MB as float32) while
# it works: on the loop they were one at a time, and a burst of uploads must not take every core now.
DECODES_AT_ONCE = 2


class Decoder:
    """Uploads to 16 kHz mono, off the loop, a few at a time; `counts.decoding` says how many work now."""

    def __init__(self, counts: Counts, at_once: int = DECODES_AT_ONCE) -> None:
        self.counts = counts
        self._slots = asyncio.Semaphore(at_once)

    async def speech(self, data: bytes) -> Audio:
        """The upload as the ASR takes it; an AudioError when it is not audio this server reads.

        A request that times out meanwhile leaves its thread to finish on its own (a thread cannot be
        stopped); it holds no slot of the request limits, only its memory, until then.
        """
        async with self._slots:
            self.counts.decoding += 1
            try:
                return await asyncio.to_thread(_to_speech, data)
            finally:
                self.counts.decoding -= 1


def _to_speech(data: bytes) -> Audio:
    samples, rate = decode_audio(data)
    return resample(samples, rate, SAMPLE_RATE)


async def encode(parts: list[Audio], rate: int, fmt: SpeechFormat) -> bytes:
    """A whole reply as one file of `fmt` (MP3, Opus, FLAC): minutes of speech take a while to encode."""
    return await asyncio.to_thread(lambda: encode_whole(concat(parts), rate, fmt))
