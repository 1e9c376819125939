"""One Wyoming client connection: describe, transcribe, synthesize and streaming synthesis, through the arbiter.

A connection holds a lease on a model only while one of its requests runs, so Home Assistant's idle
connection never pins a model, and the desktop and any number of clients share the resident ones.

While audio streams in, the utterance so far is transcribed after each PARTIAL_EVERY_S of new audio (when
no pass runs), and the words two passes agree on go out as transcript-chunk events between
transcript-start and the final transcript (turn/live_words.py): a client that announced streaming
support in our info (supports_transcript_streaming) shows them as the user speaks; any other reads on to
the transcript, which carries the whole text.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass

from wyoming.asr import Transcribe, TranscriptChunk, TranscriptStart, TranscriptStop
from wyoming.asr import Transcript as WyTranscript
from wyoming.audio import AudioChunk as WyAudioChunk
from wyoming.audio import AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event, async_write_event
from wyoming.ping import Ping, Pong
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStopped

from assistant.audio.files import resample
from assistant.audio.pcm import WIDTHS, from_pcm, to_pcm16
from assistant.core.errors import AssistantError, AudioError
from assistant.core.speech import SAMPLE_RATE, AudioChunk
from assistant.hosts.proxies import Tts
from assistant.turn.hearing import hear
from assistant.turn.live_words import LiveWords
from assistant.turn.results import Models
from assistant.turn.sentences import SentenceSplitter, speakable
from assistant.turn.utterance import End, Source, Utterance
from assistant.vram.arbiter import Arbiter
from assistant.wyoming.events import BadEvent, read_event
from assistant.wyoming.info import build_info

log = logging.getLogger(__name__)

MAX_UTTERANCE_S = 120.0  # Home Assistant ends a command after seconds; this only bounds the buffer
MAX_UTTERANCE_BYTES = 32 * 1024 * 1024  # and in bytes, whatever rate and channels a client announces
SAMPLES_PER_CHUNK = 1024  # audio sent back in pieces this size, as wyoming-piper does
PARTIAL_EVERY_S = 1.0  # new audio between two passes while it streams in


@dataclass(frozen=True)
class Services:
    """What a connection uses: the arbiter for leases, and which ASR and TTS models are current."""

    arbiter: Arbiter
    models: Callable[[], Models]


class Connection:
    def __init__(self, services: Services, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.services = services
        self.reader = reader
        self.writer = writer
        self._format: AudioStart | None = None
        self._pcm = bytearray()
        self._language: str | None = None
        self._splitter: SentenceSplitter | None = None  # set while a streaming synthesis is open
        self._rejected = False  # this audio stream got an error: drop its chunks quietly until audio-stop
        self._words = LiveWords()  # the words sent as transcript chunks while the audio streams
        self._started = False  # transcript-start was sent for this stream
        self._pass: asyncio.Task[None] | None = None  # the pass over the audio so far, while it streams
        self._passed_at = 0  # bytes of audio when that pass started
        self._handlers: dict[str, Callable[[Event], Awaitable[None]]] = {
            "describe": self._describe,
            "ping": self._ping,
            "transcribe": self._transcribe,
            "audio-start": self._audio_start,
            "audio-chunk": self._audio_chunk,
            "audio-stop": self._audio_stop,
            "synthesize": self._synthesize,
            "synthesize-start": self._synthesize_start,
            "synthesize-chunk": self._synthesize_chunk,
            "synthesize-stop": self._synthesize_stop,
        }

    async def run(self) -> None:
        try:
            while True:
                try:
                    event = await read_event(self.reader)
                except BadEvent as exc:
                    # The stream is out of step: nothing after this can be trusted, so say why and close.
                    await self._error(f"malformed event: {exc}; closing the connection", "bad_event")
                    return
                if event is None:
                    return
                await self._handle(event)
        except (ConnectionError, OSError) as exc:
            log.debug("wyoming client went away: %s", exc)
        except Exception:  # a bug here must cost one connection, never the daemon
            log.exception("wyoming connection failed")
        finally:
            if self._pass is not None:
                self._pass.cancel()  # a client gone mid-stream: its pass gives the lease back now
            self.writer.close()

    async def refuse(self, text: str) -> None:
        await self._error(text, "busy")
        self.writer.close()

    async def _handle(self, event: Event) -> None:
        handler = self._handlers.get(event.type)
        if handler is None:
            log.debug("wyoming: ignoring a %s event", event.type)  # newer protocol events, other services
            return
        try:
            await handler(event)
            return
        except KeyError as exc:
            text, code = f"malformed {event.type} event: its data has no field {exc}", "bad_event"
        except (TypeError, ValueError, AttributeError) as exc:  # wrong types in the event's data
            text, code = f"malformed {event.type} event: {exc}", "bad_event"
        except AssistantError as exc:
            text, code = exc.message, exc.code
        self._reset()
        # One error per stream: the rest of a refused audio stream is dropped quietly until its audio-stop.
        self._rejected = event.type in ("audio-start", "audio-chunk")
        await self._error(text, code)

    def _reset(self) -> None:
        self._format = None
        self._pcm = bytearray()
        self._splitter = None
        if self._pass is not None:
            self._pass.cancel()  # a cancelled pass gives its lease back; its words are not wanted now
        self._words, self._started, self._pass, self._passed_at = LiveWords(), False, None, 0

    async def _write(self, event: Event) -> None:
        await async_write_event(event, self.writer)

    async def _error(self, text: str, code: str) -> None:
        log.info("wyoming client error: %s", text)
        try:
            await self._write(Error(text=text, code=code).event())
        except (ConnectionError, OSError):
            pass

    # ------------------------------------------------------------ info

    async def _describe(self, event: Event) -> None:
        models = self.services.models()
        catalog, models_dir = self.services.arbiter.catalog, self.services.arbiter.models_dir
        info = await asyncio.to_thread(build_info, catalog.get(models.asr), catalog.get(models.tts), models_dir)
        await self._write(info.event())

    async def _ping(self, event: Event) -> None:
        await self._write(Pong(text=Ping.from_event(event).text).event())

    # ------------------------------------------------------------ transcription

    async def _transcribe(self, event: Event) -> None:
        language = Transcribe.from_event(event).language
        self._language = language if isinstance(language, str) else None

    async def _audio_start(self, event: Event) -> None:
        start = AudioStart.from_event(event)
        self._reset()
        self._rejected = False
        if start.width not in WIDTHS or not 1 <= start.channels <= 8 or not 8000 <= start.rate <= 192_000:
            raise AudioError(
                f"audio of {start.rate} Hz, {start.width}-byte samples, {start.channels} channels is not supported; "
                "send 16 kHz 16-bit mono"
            )
        self._format = start

    async def _audio_chunk(self, event: Event) -> None:
        if self._rejected:
            return
        chunk = WyAudioChunk.from_event(event)
        fmt = self._format
        if fmt is None:
            raise AudioError("audio-chunk before audio-start; send transcribe, audio-start, audio-chunk…, audio-stop")
        if (chunk.rate, chunk.width, chunk.channels) != (fmt.rate, fmt.width, fmt.channels):
            raise AudioError(
                f"audio-chunk is {chunk.rate} Hz/{chunk.width} B/{chunk.channels} ch but audio-start said "
                f"{fmt.rate} Hz/{fmt.width} B/{fmt.channels} ch; keep one format per stream"
            )
        self._pcm += chunk.audio
        per_second = fmt.rate * fmt.width * fmt.channels
        if len(self._pcm) > min(MAX_UTTERANCE_S * per_second, MAX_UTTERANCE_BYTES):
            raise AudioError(f"more than {MAX_UTTERANCE_S:.0f} s of audio in one utterance; send audio-stop sooner")
        idle = self._pass is None or self._pass.done()
        if idle and len(self._pcm) - self._passed_at >= PARTIAL_EVERY_S * per_second:
            self._passed_at = len(self._pcm)
            self._pass = asyncio.get_running_loop().create_task(self._partial(bytes(self._pcm), fmt))

    async def _partial(self, pcm: bytes, fmt: AudioStart) -> None:
        """A pass over the audio so far; the words it agrees on with the last one go out as a chunk."""
        try:
            audio = await asyncio.to_thread(lambda: resample(from_pcm(pcm, fmt.width, fmt.channels), fmt.rate, SAMPLE_RATE))
            heard = await hear(self.services.arbiter, Utterance.spoken(audio, Source.WYOMING), self.services.models().asr)
            delta = self._words.partial(heard.text)
            if delta:
                await self._transcript_start(self._language)
                await self._write(TranscriptChunk(text=delta).event())
        except (AssistantError, ConnectionError, OSError) as exc:  # the final pass says what went wrong, if anything
            log.debug("wyoming: a partial transcription failed: %s", exc)

    async def _transcript_start(self, language: str | None) -> None:
        if not self._started:
            self._started = True
            await self._write(TranscriptStart(language=language).event())

    async def _audio_stop(self, event: Event) -> None:
        if self._pass is not None:
            await asyncio.gather(self._pass, return_exceptions=True)  # its chunk goes out before the rest
        fmt, pcm, words, started = self._format, bytes(self._pcm), self._words, self._started
        self._pass = None
        self._reset()
        if self._rejected:
            self._rejected = False
            return  # the client has had its error
        if fmt is None:
            raise AudioError("audio-stop without audio-start; send transcribe, audio-start, audio-chunk…, audio-stop")
        # Up to MAX_UTTERANCE_BYTES of audio to convert: off the loop, which serves the desktop too.
        audio = await asyncio.to_thread(lambda: resample(from_pcm(pcm, fmt.width, fmt.channels), fmt.rate, SAMPLE_RATE))
        utterance = Utterance.spoken(audio, Source.WYOMING, End.COMMIT)
        result = await hear(self.services.arbiter, utterance, self.services.models().asr)
        language = self._language or result.language or None
        # Streaming clients read transcript-start/chunk/stop; the others stop at the transcript.
        self._started = started
        await self._transcript_start(language)
        if rest := words.final(result.text):
            await self._write(TranscriptChunk(text=rest).event())
        await self._write(WyTranscript(text=result.text, language=language).event())
        await self._write(TranscriptStop().event())

    # ------------------------------------------------------------ synthesis

    async def _synthesize(self, event: Event) -> None:
        if self._splitter is not None:
            return  # inside a stream, Home Assistant repeats the whole text for servers that cannot stream
        text = speakable(Synthesize.from_event(event).text)
        if not text:
            raise AudioError("nothing to say: the text is empty")
        await self._speak(text)

    async def _synthesize_start(self, event: Event) -> None:
        SynthesizeStart.from_event(event)  # validates the voice, which is ours whatever it names
        self._reset()
        self._splitter = SentenceSplitter()

    async def _synthesize_chunk(self, event: Event) -> None:
        text = SynthesizeChunk.from_event(event).text
        if self._splitter is None:
            raise AudioError("synthesize-chunk outside a stream; send synthesize-start first")
        if not isinstance(text, str):
            raise TypeError("'text' must be a string")
        for sentence in self._splitter.feed(text):
            await self._speak_sentence(sentence)

    async def _synthesize_stop(self, event: Event) -> None:
        splitter, self._splitter = self._splitter, None
        if splitter is None:
            raise AudioError("synthesize-stop outside a stream; send synthesize-start first")
        for sentence in splitter.flush():
            await self._speak_sentence(sentence)
        await self._write(SynthesizeStopped().event())

    async def _speak_sentence(self, sentence: str) -> None:
        text = speakable(sentence)
        if text:
            await self._speak(text)

    async def _speak(self, text: str) -> None:
        """One audio-start, the audio as it is made, one audio-stop. The voice is leased for this text only."""
        rate = 0
        async with self.services.arbiter.use(self.services.models().tts) as host:
            voice = Tts(host)
            async with aclosing(voice.synthesize(text)) as chunks:
                async for chunk in chunks:
                    if not rate:
                        rate = chunk.sample_rate
                        await self._write(AudioStart(rate=rate, width=2, channels=1).event())
                    await self._send_audio(chunk, rate)
            if not rate:  # nothing audible in the text (punctuation only): an empty cycle, as promised
                rate = voice.sample_rate or SAMPLE_RATE
                await self._write(AudioStart(rate=rate, width=2, channels=1).event())
        await self._write(AudioStop().event())

    async def _send_audio(self, chunk: AudioChunk, rate: int) -> None:
        pcm = to_pcm16(resample(chunk.samples, chunk.sample_rate, rate))
        step = SAMPLES_PER_CHUNK * 2
        for offset in range(0, len(pcm), step):
            piece = WyAudioChunk(rate=rate, width=2, channels=1, audio=pcm[offset : offset + step])
            await self._write(piece.event())
