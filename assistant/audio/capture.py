"""The microphone: an input stream at the device's own format, a pre-roll ring, and utterances as 16 kHz mono."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np

from assistant.audio.devices import Device, Scanner, portaudio
from assistant.audio.files import concat, resample, to_mono
from assistant.core.errors import AudioError
from assistant.core.speech import SAMPLE_RATE, Audio


class Capture:
    """One input device. `open` starts the stream; `start`/`take` bracket an utterance.

    With a pre-roll the stream stays open while idle, feeding a ring of the last `preroll_s`
    seconds, so the syllable spoken while the key goes down is kept and a press costs no
    stream start (tens of ms through PulseAudio, more on some USB mics). The price: the
    microphone is always "in use" (desktops show a recording indicator, the device never
    powers down) and the callback runs all the time. With preroll_s = 0 the stream only
    runs between press and release.

    The PortAudio callback thread and the caller share the buffers under a lock; the device
    dying shows up as PortAudio ending the stream on its own, which calls `on_lost` (from
    PortAudio's thread).
    """

    def __init__(
        self,
        scanner: Scanner,
        device: Device,
        preroll_s: float,
        max_utterance_s: float,
        on_lost: Callable[[str], None],
    ) -> None:
        self.scanner = scanner
        self.device = device
        self.preroll_s = max(0.0, preroll_s)
        self.max_utterance_s = max_utterance_s
        self.on_lost = on_lost
        self.rate = 0
        self._stream: Any = None
        self._closing = False
        self._lock = threading.Lock()
        self._ring: deque[Audio] = deque()
        self._ring_frames = 0
        self._chunks: list[Audio] | None = None  # not None between start() and take()
        self._frames = 0
        self._capped = False
        self._listeners: list[Callable[[Audio, int], None]] = []

    def add_listener(self, listener: Callable[[Audio, int], None]) -> None:
        """Also hand every block the device delivers (mono, at `rate`) to `listener`.

        It runs on PortAudio's real-time thread: it must only copy or queue, never block. This is how
        one input stream feeds more than the utterance (a wake-word detector, a transcriber that works
        while the user is still speaking) without opening the device twice.
        """
        self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[Audio, int], None]) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    @property
    def is_open(self) -> bool:
        return self._stream is not None

    @property
    def recording(self) -> bool:
        return self._chunks is not None

    @property
    def keeps_open(self) -> bool:
        return self.preroll_s > 0

    def open(self) -> None:
        """Open and start the stream (blocking: call it off the event loop); AudioError with PortAudio's reason."""
        if self._stream is not None:
            return
        sd = portaudio()
        rate, channels = self.scanner.pick_format(self.device, "input", self.device.rate)
        self.rate = rate  # before the first callback, which sizes the ring with it
        self._closing = False
        try:
            stream = self.scanner.open(
                lambda: sd.InputStream(
                    device=self.device.index,
                    samplerate=rate,
                    channels=channels,
                    dtype="float32",
                    callback=self._callback,
                    finished_callback=self._finished,
                )
            )
        except sd.PortAudioError as exc:
            raise AudioError(str(exc)) from None
        try:
            stream.start()
        except sd.PortAudioError as exc:
            self._closing = True
            self.scanner.close(stream)
            raise AudioError(str(exc)) from None
        self._stream = stream

    def close(self) -> None:
        """Close the stream; an utterance in progress keeps what it has for `take`."""
        stream, self._stream = self._stream, None
        if stream is not None:
            self._closing = True
            self.scanner.close(stream)
        with self._lock:
            self._ring.clear()
            self._ring_frames = 0

    def start(self, preroll_s: float | None = None) -> None:
        """Begin an utterance with the pre-roll (`preroll_s` of it, at most what the ring holds); the stream must be open."""
        preroll_frames = int(min(self.preroll_s, self.preroll_s if preroll_s is None else preroll_s) * self.rate)
        with self._lock:
            ring = concat(list(self._ring))
            self._ring.clear()
            self._ring_frames = 0
            head = ring[max(0, len(ring) - preroll_frames) :] if preroll_frames else ring[:0]
            head = head[: self._limit()]
            self._chunks = [head]
            self._frames = len(head)
            self._capped = False

    def take(self) -> tuple[Audio, int, bool]:
        """End the utterance: (mono samples at `rate`, rate, whether max_utterance_s cut it)."""
        with self._lock:
            chunks, self._chunks = self._chunks or [], None
            self._frames = 0
            return concat(chunks), self.rate, self._capped

    def so_far(self) -> tuple[Audio, int]:
        """A copy of the utterance captured so far (mono at `rate`), leaving it recording."""
        with self._lock:
            return concat(list(self._chunks or [])), self.rate

    def cancel(self) -> None:
        with self._lock:
            self._chunks = None
            self._frames = 0

    def _limit(self) -> int:
        return int(self.max_utterance_s * self.rate)

    def _callback(self, indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        # Input overflows (status.input_overflow) lose a few ms of audio; not worth a log line
        # from this real-time thread.
        mono = to_mono(indata)
        with self._lock:
            if self._chunks is not None:
                room = self._limit() - self._frames
                if room < frames:
                    self._capped = True
                if room > 0:
                    self._chunks.append(mono[:room])
                    self._frames += min(room, frames)
            elif self.preroll_s > 0:
                self._ring.append(mono)
                self._ring_frames += frames
                keep = int(self.preroll_s * self.rate)
                while self._ring and self._ring_frames - len(self._ring[0]) >= keep:
                    self._ring_frames -= len(self._ring.popleft())
        for listener in self._listeners:
            listener(mono, self.rate)

    def _finished(self) -> None:
        # PortAudio ends a stream by itself only when the device failed (unplugged, the sound
        # server went away); our own abort/close sets _closing first.
        if not self._closing:
            self.on_lost("its stream stopped by itself")


def to_16k(audio: Audio, rate: int, max_utterance_s: float) -> Audio:
    """Mono samples at `rate` as the 16 kHz a Transcriber takes, no longer than max_utterance_s."""
    return resample(audio, rate, SAMPLE_RATE)[: int(max_utterance_s * SAMPLE_RATE)]
