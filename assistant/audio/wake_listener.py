"""A thread that hears the capture stream: 16 kHz for the wake word, then the VAD until the utterance ends."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from assistant.audio.smart_turn import WINDOW_S, SmartTurn
from assistant.audio.vad import FRAME, Endpointer, EndpointRules, Outcome, Vad
from assistant.audio.wake import RATE, Detection, WakeDetector
from assistant.core.speech import Audio

log = logging.getLogger(__name__)

VAD_PRIME_S = 0.8  # pymicro-vad scores nothing until it has seen this much audio
# Right after the wake word its tail is still in the stream: speech in this window does not
# start the utterance (it would end it at the first pause, before the question).
GRACE_S = 0.3

OnWake = Callable[[Detection, float], None]  # the detection, time.monotonic() its block arrived
OnEnd = Callable[[Outcome], None]
OnVerdict = Callable[["Verdict"], None]


@dataclass(frozen=True)
class Verdict:
    """The end-of-turn model's judgement at one pause."""

    probability: float  # that the turn is complete
    complete: bool  # at or over the threshold: the utterance ends here
    at_s: float  # seconds into the utterance
    ms: float  # the model's time for this call (features and inference)


@dataclass(frozen=True)
class ByMeaning:
    """End the utterance by the end-of-turn model: at each pause (EndpointRules.pause_s), a probability
    at or over `threshold` ends it."""

    model: SmartTurn
    threshold: float = 0.5


class Resampler:
    """Blocks at the device's rate → 16 kHz, carrying filter state across blocks (no clicks at the seams)."""

    def __init__(self) -> None:
        self._rate = 0
        self._stream: Any = None

    def __call__(self, audio: Audio, rate: int) -> Audio:
        if rate == RATE:
            return np.asarray(audio, dtype=np.float32)
        if rate != self._rate:
            import soxr

            self._rate = rate
            self._stream = soxr.ResampleStream(rate, RATE, 1, dtype="float32", quality="HQ")
        return np.asarray(self._stream.resample_chunk(np.ascontiguousarray(audio, dtype=np.float32)), dtype=np.float32)


class WakeListener:
    """Feeds a WakeDetector from `listener` (hand it to Capture.add_listener), or, after `endpoint`, the VAD.

    The listener runs on PortAudio's thread and only queues; the models run on this object's
    own thread. Its callbacks run on that thread too: wrap them with loop.call_soon_threadsafe.
    Mode changes go through the same queue as the audio, so every block before a change is
    judged by the old mode and every block after it by the new one.
    """

    def __init__(
        self, detector: WakeDetector, on_wake: OnWake, on_end: OnEnd, name: str = "wake", on_verdict: OnVerdict | None = None
    ) -> None:
        self.detector = detector
        self.on_wake = on_wake
        self.on_end = on_end
        self.on_verdict = on_verdict
        self.busy_s = 0.0  # thread CPU time spent on audio, for the benchmark and `wake status`
        self._queue: queue.SimpleQueue[tuple[str, Any, Any]] = queue.SimpleQueue()
        self._resample = Resampler()
        self._endpointer: Endpointer | None = None
        self._vad: Vad | None = None
        self._grace = 0
        self._meaning: ByMeaning | None = None
        # The utterance's last WINDOW_S seconds (after the grace), for the end-of-turn model.
        self._heard: deque[Audio] = deque()
        self._heard_len = 0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def listener(self, audio: Audio, rate: int) -> None:
        self._queue.put(("audio", (audio, rate), time.monotonic()))

    def endpoint(self, rules: EndpointRules, meaning: ByMeaning | None = None) -> None:
        """From now on, judge the audio for the end of an utterance instead of the wake word: by the rules'
        silence, or with `meaning` by the end-of-turn model at each of the rules' pauses."""
        self._queue.put(("endpoint", (rules, meaning), None))

    def wake(self) -> None:
        """Back to listening for the wake word (after the utterance, or when it was cut short)."""
        self._queue.put(("wake", None, None))

    def close(self) -> None:
        self._queue.put(("stop", None, None))
        self._thread.join(2)

    def _run(self) -> None:
        while True:
            kind, value, arrived = self._queue.get()
            if kind == "stop":
                return
            started = time.thread_time()
            try:
                if kind == "audio":
                    self._audio(self._resample(*value), arrived)
                elif kind == "endpoint":
                    self._start_endpoint(*value)
                elif kind == "wake":
                    self._endpointer = None
            except Exception:  # a failing model must not silence the thread for good
                log.exception("the wake word thread failed on a block")
            self.busy_s += time.thread_time() - started

    def _start_endpoint(self, rules: EndpointRules, meaning: ByMeaning | None) -> None:
        if self._vad is None:
            self._vad = Vad()
        self._vad.reset()
        # Prime with silence, not with the audio just heard: that is the wake word itself.
        self._vad.feed(np.zeros(int(VAD_PRIME_S * RATE), dtype=np.float32))
        self._endpointer = Endpointer(rules)
        self._grace = int(GRACE_S * RATE / FRAME)
        self._meaning = meaning if rules.pause_s is not None else None
        self._heard.clear()
        self._heard_len = 0

    def _audio(self, audio: Audio, arrived: float) -> None:
        endpointer = self._endpointer
        if endpointer is None:
            for detection in self.detector.feed(audio):
                self.on_wake(detection, arrived)
            return
        assert self._vad is not None
        if self._meaning is not None:
            self._keep(audio)
        for probability in self._vad.feed(audio):
            if self._grace > 0:
                self._grace -= 1
                probability = 0.0
            signal = endpointer.push(probability)
            if signal == "pause":
                if self._complete(endpointer.elapsed_s):
                    signal = "model"
                else:
                    continue
            if signal is not None:
                self._endpointer = None
                self.on_end(signal)
                return

    def _keep(self, audio: Audio) -> None:
        """Hold the utterance's last WINDOW_S seconds: all the model reads. The wake word's tail, in the
        grace, is left out; the block that ends the grace is kept whole (a few ms of it at most)."""
        if self._grace > 0 and self._grace * FRAME >= len(audio):
            return
        self._heard.append(np.asarray(audio, dtype=np.float32))
        self._heard_len += len(audio)
        while self._heard_len - len(self._heard[0]) >= WINDOW_S * RATE:
            self._heard_len -= len(self._heard.popleft())

    def _complete(self, at_s: float) -> bool:
        """The end-of-turn model's verdict on what was heard so far (the blocks up to this one)."""
        meaning = self._meaning
        if meaning is None or not self._heard:
            return False
        started = time.perf_counter()
        probability = meaning.model.complete(np.concatenate(list(self._heard)))
        verdict = Verdict(probability, probability >= meaning.threshold, at_s, (time.perf_counter() - started) * 1000)
        if self.on_verdict is not None:
            self.on_verdict(verdict)
        return verdict.complete
