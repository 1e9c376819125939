"""Speaking the reply: a sink that plays TTS chunks as they arrive and falls silent at once on barge-in."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np

from assistant.audio.devices import Device, Scanner, portaudio
from assistant.audio.files import to_mono
from assistant.core.errors import AudioError
from assistant.core.speech import Audio, AudioChunk

log = logging.getLogger(__name__)

# How often the sink looks whether the task feeding it was cancelled while it awaits something
# else (the TTS, say): the done-callback alone would wait for that task's cleanup to finish.
POLL_S = 0.02
# Device buffer. Barge-in does not wait for it (abort drops it), so it can be roomy enough that
# a Python callback on a busy machine does not underrun.
LATENCY_S = 0.1
PAD = -1  # the sentence index of the silence that finish() appends


class PlaybackSink:
    """One reply on one output device; implements the pipeline's AudioSink.

    play() queues and returns; a PortAudio callback hands the queue to the device. finish()
    waits until the stream drained. Cancelling the task that called play() or finish() aborts
    the stream and drops the queue, whatever that task awaits at the time. Sentence k counts
    as played once sentence k+1's first sample goes to the device, or when finish() returns.
    """

    def __init__(self, scanner: Scanner, device: Device, on_lost: Callable[[str], None]) -> None:
        """`on_lost(reason)` hears of a device failure; it is called on the event loop."""
        self.scanner = scanner
        self.device = device
        self.on_lost = on_lost
        self.rate = 0
        self.first_sample_time: float | None = None  # perf_counter() when reply audio first went to the device
        self.last_sample_time: float | None = None  # ... and last
        self.stopped_time: float | None = None  # perf_counter() when stop() had silenced the stream
        self._stream: Any = None
        self._sd: Any = None
        self._lock = threading.Lock()
        self._queue: deque[tuple[Audio, int]] = deque()
        self._offset = 0
        self._played = 0
        self._last_sentence = -1
        self._resamplers: dict[int, Any] = {}
        self._draining = False  # finish() was called (or its task ended): stop when the queue is empty
        self._drained = False  # the callback handed over the last sample after _draining
        self._stopping = False
        self._closed = False
        self._error: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._done: asyncio.Future[None] | None = None
        self._owners: set[asyncio.Task[Any]] = set()
        self._poll_handle: asyncio.TimerHandle | None = None
        self._opening: asyncio.Future[Any] | None = None  # prepare()'s stream, opening in a thread
        # Hear each block as it goes to the device (mono, at `rate`, on PortAudio's thread; queue only):
        # the wake word's echo gate compares it with the microphone.
        self.listeners: list[Callable[[Audio, int], None]] = []

    def played_sentences(self) -> int:
        return self._played

    def prepare(self, rate: int) -> None:
        """Start opening the stream now, in a thread, at the rate the first chunk will likely have.

        The device then plays silence until the first chunk, which no longer waits for the open
        (tens of ms through PulseAudio, more on some hardware). The calling task owns the sink as
        with play(): if it ends without playing anything, the stream closes.
        """
        if self._stream is not None or self._closed or self._opening is not None:
            return
        self._adopt()
        self._begin()
        self._opening = asyncio.ensure_future(asyncio.to_thread(self._open_stream, rate))
        self._opening.add_done_callback(self._opened)

    def _opened(self, opening: asyncio.Future[Any]) -> None:
        if opening.cancelled():
            return
        try:
            stream = opening.result()
        except Exception as exc:  # play() opens it again and reports the failure the usual way
            log.info("could not open the output stream ahead of the reply: %s", exc)
            return
        if self._closed or self._stopping:
            self.scanner.close(stream)  # stopped (barge-in) while it was opening
        else:
            self._stream = stream

    async def play(self, chunk: AudioChunk, sentence: int) -> None:
        self._check()
        if self._closed:
            raise AudioError("this reply has finished playing; a new reply needs a new sink")
        self._adopt()
        if self._opening is not None and not self._opening.done():
            await asyncio.gather(self._opening, return_exceptions=True)
            self._check()
        if self._stream is None:
            self._open(chunk.sample_rate)
        samples = self._convert(chunk.samples, chunk.sample_rate)
        with self._lock:
            if len(samples):
                self._queue.append((samples, sentence))
            self._last_sentence = max(self._last_sentence, sentence)
        try:
            await asyncio.sleep(0)
        except asyncio.CancelledError:
            self.stop()
            raise

    async def finish(self) -> None:
        self._check()
        self._adopt()
        if self._stream is None and not self._closed:
            return  # nothing was played
        self._drain()
        assert self._done is not None
        try:
            await self._done
        except asyncio.CancelledError:
            self.stop()
            raise
        self._check()

    def stop(self) -> None:
        """Silence now and drop what is queued (barge-in); idempotent."""
        if self._closed:
            return
        with self._lock:
            self._stopping = True
            self._queue.clear()
        self._close()
        self.stopped_time = time.perf_counter()

    # ------------------------------------------------------------------ internals

    def _check(self) -> None:
        if self._error is not None:
            raise AudioError(self._error)
        if self._stopping:
            raise AudioError("this reply's playback was stopped; a new reply needs a new sink")

    def _adopt(self) -> None:
        """Watch the calling task: its cancellation or failure stops playback."""
        task = asyncio.current_task()
        if task is None or task in self._owners:
            return
        self._loop = asyncio.get_running_loop()
        self._owners.add(task)
        task.add_done_callback(self._owner_done)
        if self._poll_handle is None:
            self._poll_handle = self._loop.call_later(POLL_S, self._poll)

    def _poll(self) -> None:
        self._poll_handle = None
        if self._closed or all(task.done() for task in self._owners):
            return  # the done-callbacks take it from here
        if any(task.cancelling() for task in self._owners if not task.done()):
            self.stop()
            return
        assert self._loop is not None
        self._poll_handle = self._loop.call_later(POLL_S, self._poll)

    def _owner_done(self, task: asyncio.Task[Any]) -> None:
        if self._closed:
            return
        if task.cancelled():
            self.stop()
        elif self._stream is None:
            self._close()  # nothing was ever played
        else:
            # The task ended without finish() (the synthesizer failed mid-reply, say): what was
            # handed over plays out, then the stream closes instead of idling on silence.
            # (Not task.exception(): reading it would hide the error from asyncio's own report.)
            self._drain()

    def _drain(self) -> None:
        """Let the queue run dry, then stop the stream; idempotent."""
        if self._draining:
            return
        tails = [rs.resample_chunk(np.zeros(0, dtype=np.float32), last=True) for rs in self._resamplers.values()]
        with self._lock:
            self._queue.extend((np.asarray(t, dtype=np.float32), self._last_sentence) for t in tails if len(t))
            # PortAudio's drain (CallbackStop) only empties its own buffer: behind it the ALSA
            # plugin (PulseAudio's, at least) still holds about one latency's worth, which closing
            # the stream throws away. Silence pushed after the reply carries its tail through.
            self._queue.append((np.zeros(int((self._stream_latency() + 0.05) * self.rate), dtype=np.float32), PAD))
            self._draining = True

    def _begin(self) -> None:
        self._loop = asyncio.get_running_loop()
        if self._done is None:
            self._done = self._loop.create_future()

    def _open(self, rate: int) -> None:
        sd = portaudio()
        self._begin()
        try:
            self._stream = self._open_stream(rate)
        except (AudioError, sd.PortAudioError) as exc:
            self._fail(f"cannot open it: {exc}")
            raise AudioError(f'cannot play on the output device "{self.device.name}": {exc}') from None

    def _open_stream(self, rate: int) -> Any:
        """Open and start a stream (blocking; from the loop or a thread); the caller keeps it."""
        sd = self._sd = portaudio()
        # Devices that refuse the synthesizer's rate (many hw: devices take only 44.1/48 kHz)
        # get the device's own rate, and _convert resamples.
        self.rate, channels = self.scanner.pick_format(self.device, "output", rate)
        stream = self.scanner.open(
            lambda: sd.OutputStream(
                device=self.device.index,
                samplerate=self.rate,
                channels=channels,
                dtype="float32",
                latency=LATENCY_S,
                callback=self._callback,
                finished_callback=self._finished,
            )
        )
        try:
            stream.start()
        except BaseException:
            self.scanner.close(stream)
            raise
        return stream

    def _stream_latency(self) -> float:
        latency = self._stream.latency if self._stream is not None else LATENCY_S
        return float(latency) if latency else LATENCY_S

    def _convert(self, samples: Audio, rate: int) -> Audio:
        mono = np.ascontiguousarray(to_mono(samples))
        if rate == self.rate:
            return mono
        # A stream resampler rather than files.resample per chunk: it carries filter state across
        # chunk edges, which would otherwise click.
        resampler = self._resamplers.get(rate)
        if resampler is None:
            import soxr

            resampler = self._resamplers[rate] = soxr.ResampleStream(rate, self.rate, 1, dtype="float32", quality="HQ")
        return np.asarray(resampler.resample_chunk(mono), dtype=np.float32)

    def _callback(self, outdata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        filled = 0
        with self._lock:
            if self._stopping:
                outdata.fill(0)
                raise self._sd.CallbackAbort
            heard = 0  # reply samples, not padding
            while filled < frames and self._queue:
                samples, sentence = self._queue[0]
                n = min(frames - filled, len(samples) - self._offset)
                if sentence != PAD:
                    self._played = max(self._played, sentence)
                    heard += n
                outdata[filled : filled + n] = samples[self._offset : self._offset + n, None]
                filled += n
                self._offset += n
                if self._offset == len(samples):
                    self._queue.popleft()
                    self._offset = 0
            outdata[filled:] = 0
            if heard:
                now = time.perf_counter()
                if self.first_sample_time is None:
                    self.first_sample_time = now
                self.last_sample_time = now
            if self.listeners:
                block = np.array(outdata[:, 0], dtype=np.float32)
                for listener in self.listeners:
                    listener(block, self.rate)
            if self._draining and not self._queue:
                self._drained = True
                raise self._sd.CallbackStop  # PortAudio plays out what it buffered, then calls _finished

    def _finished(self) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(self._on_finished)
            except RuntimeError:  # the loop closed in between
                pass

    def _on_finished(self) -> None:
        if self._closed:
            return
        if self._drained:
            self._played = max(self._played, self._last_sentence + 1)
            self._close()
        else:
            # PortAudio ended the stream by itself: the device went away or failed.
            self._fail("its stream stopped by itself mid-reply")

    def _fail(self, reason: str) -> None:
        self._error = f'the output device "{self.device.name}" failed: {reason}'
        self._close()
        self.on_lost(reason)

    def _close(self) -> None:
        self._closed = True
        if self._poll_handle is not None:
            self._poll_handle.cancel()
            self._poll_handle = None
        stream, self._stream = self._stream, None
        if stream is not None:
            self.scanner.close(stream)
        if self._done is not None and not self._done.done():
            self._done.set_result(None)
