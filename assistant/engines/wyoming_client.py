"""Transcriber and Synthesizer on a remote Wyoming server (wyoming-faster-whisper, wyoming-piper, our own daemon).

The engine lives in a worker like every other, and the worker's calls are synchronous: each engine owns a
private event loop and steps the `wyoming` package's async client through it. One connection per request,
as Home Assistant does it, so a server restart between requests costs nothing.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

from wyoming.asr import Transcribe
from wyoming.asr import Transcript as WyTranscript
from wyoming.audio import AudioChunk as WyAudioChunk
from wyoming.audio import AudioStart, AudioStop
from wyoming.client import AsyncClient
from wyoming.error import Error
from wyoming.event import Event
from wyoming.info import Describe, Info
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop, SynthesizeVoice

from assistant.audio.pcm import from_pcm, to_pcm16
from assistant.core.errors import AssistantError, ModelError
from assistant.core.speech import SAMPLE_RATE, Audio, AudioChunk, Transcript
from assistant.engines.options import WyomingOptions

CONNECT_TIMEOUT_S = 5.0
SAMPLES_PER_CHUNK = 1024  # what wyoming-satellite and Home Assistant send
T = TypeVar("T")


class _Remote:
    """One Wyoming server: connect, send, read, with every failure as one line that names the server."""

    device = "remote"

    def __init__(self, uri: str, options: WyomingOptions, model_id: str, service: str) -> None:
        self.uri = uri
        self.model_id = model_id
        self.timeout = options.timeout_s
        self.language = options.language
        self._loop = asyncio.new_event_loop()
        try:
            # Ask once at load: a server that is down or serves the wrong thing fails here, not mid-turn.
            self.info = self._run(self._describe())
            offered = [name for name in ("asr", "tts") if getattr(self.info, name)]
            if service not in offered:
                raise ModelError(
                    f"{model_id}: the Wyoming server {uri} offers no {service} service "
                    f"(it offers {', '.join(offered) or 'nothing'}); point 'uri' at a server that offers {service}",
                    code="remote",
                )
        except BaseException:
            self._loop.close()  # no engine comes of it: its loop (and the loop's selector) must not leak
            raise

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self._loop.run_until_complete(coro)

    def _fail(self, what: str, code: str = "remote_down") -> ModelError:
        return ModelError(f"{self.model_id}: the Wyoming server {self.uri} {what}", code=code)

    async def _connect(self) -> AsyncClient:
        client = AsyncClient.from_uri(self.uri, connect_timeout=CONNECT_TIMEOUT_S, read_timeout=self.timeout)
        try:
            await client.connect()
        except asyncio.TimeoutError:
            raise self._fail(f"did not answer in {CONNECT_TIMEOUT_S:.0f} s; check that it runs and 'uri' in models.toml") from None
        except OSError as exc:
            # asyncio words it "Connect call failed (addr)"; the errno says what happened.
            reason = os.strerror(exc.errno) if exc.errno else str(exc) or type(exc).__name__
            raise self._fail(f"cannot be reached ({reason}); start it or fix 'uri' in models.toml") from None
        return client

    async def _write(self, client: AsyncClient, event: Event) -> None:
        try:
            await client.write_event(event)
        except (OSError, RuntimeError):
            raise self._fail("closed the connection mid-request; check its log") from None

    async def _read(self, client: AsyncClient) -> Event:
        try:
            event = await client.read_event()
        except asyncio.TimeoutError:
            raise self._fail(f"sent nothing for {self.timeout:.0f} s; it may be overloaded", "remote_timeout") from None
        except (OSError, EOFError):
            event = None
        if event is None:
            raise self._fail("closed the connection mid-request; check its log")
        if Error.is_type(event.type):
            error = Error.from_event(event)
            raise self._fail(f"answered with an error: {error.text}".splitlines()[0], "remote")
        return event

    async def _describe(self) -> Info:
        client = await self._connect()
        try:
            await self._write(client, Describe().event())
            while True:
                event = await self._read(client)
                if Info.is_type(event.type):
                    return Info.from_event(event)
        finally:
            await _disconnect(client)


class WyomingTranscriber(_Remote):
    def __init__(self, uri: str, options: WyomingOptions, model_id: str = "asr") -> None:
        super().__init__(uri, options, model_id, "asr")

    def transcribe(self, audio: Audio, prompt: str | None = None) -> Transcript:
        # Wyoming's transcribe event has no prompt: a remote server gets the audio alone.
        return self._run(self._transcribe(audio))

    async def _transcribe(self, audio: Audio) -> Transcript:
        duration = len(audio) / SAMPLE_RATE
        pcm = to_pcm16(audio)
        step = SAMPLES_PER_CHUNK * 2
        client = await self._connect()
        try:
            await self._write(client, Transcribe(language=self.language).event())
            await self._write(client, AudioStart(rate=SAMPLE_RATE, width=2, channels=1).event())
            for offset in range(0, len(pcm), step):
                chunk = WyAudioChunk(rate=SAMPLE_RATE, width=2, channels=1, audio=pcm[offset : offset + step])
                await self._write(client, chunk.event())
            await self._write(client, AudioStop().event())
            while True:
                event = await self._read(client)
                if WyTranscript.is_type(event.type):
                    result = WyTranscript.from_event(event)
                    return Transcript(
                        text=result.text.strip(),
                        language=result.language or self.language or "",
                        audio_seconds=duration,
                        speech_seconds=duration,
                    )
        finally:
            await _disconnect(client)


class WyomingSynthesizer(_Remote):
    # The rate comes with each chunk; a remote voice's rate is not known before it speaks.
    sample_rate = 0

    def __init__(self, uri: str, options: WyomingOptions, model_id: str = "tts") -> None:
        super().__init__(uri, options, model_id, "tts")
        voice, speaker = options.voice, options.speaker
        self.voice = SynthesizeVoice(name=voice, speaker=speaker) if voice else None
        # Streaming synthesis gives audio sentence by sentence for a long text, where the server offers it.
        self.streaming = any(program.supports_synthesize_streaming for program in self.info.tts)

    def synthesize(self, text: str) -> Iterator[AudioChunk]:
        if not text.strip():
            return
        client = self._run(self._connect())
        try:
            self._run(self._request(client, text))
            end = "synthesize-stopped" if self.streaming else AudioStop().event().type
            first = True
            while True:
                event = self._run(self._read(client))
                if WyAudioChunk.is_type(event.type):
                    chunk = WyAudioChunk.from_event(event)
                    try:
                        samples = from_pcm(chunk.audio, chunk.width, chunk.channels)
                    except AssistantError as exc:
                        raise self._fail(f"sent audio we cannot read: {exc.message}", "remote") from None
                    yield AudioChunk(samples=samples, sample_rate=chunk.rate, text=text if first else "")
                    first = False
                elif event.type == end:
                    return
        finally:
            # Also when the caller stops early (a barge-in): closing the connection ends the server's work.
            self._run(_disconnect(client))

    async def _request(self, client: AsyncClient, text: str) -> None:
        if not self.streaming:
            await self._write(client, Synthesize(text=text, voice=self.voice).event())
            return
        await self._write(client, SynthesizeStart(voice=self.voice).event())
        await self._write(client, SynthesizeChunk(text=text).event())
        # Home Assistant sends the whole text too, for servers that ignore the stream; do as it does.
        await self._write(client, Synthesize(text=text, voice=self.voice).event())
        await self._write(client, SynthesizeStop().event())


async def _disconnect(client: AsyncClient) -> None:
    try:
        await client.disconnect()
    except (OSError, RuntimeError):
        pass  # already gone
