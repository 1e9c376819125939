"""Transcribing while the key is held: the utterance so far is transcribed at each pause, so at release only the tail is left.

Whisper's encoder always reads a 30 s window, so transcribing a short tail costs about as much as
transcribing the whole utterance: the saving comes from having the answer before the release. At
each pause the energy VAD finds (PAUSE_S of quiet after speech; ANSWER_PAUSE_S for a question), the
utterance so far is transcribed. At release, if nothing but quiet came after the last such snapshot, its transcript is
the final one (awaited if it is still running): the words are exactly what a whole-utterance
transcription would read, minus trailing silence, which the ASR's own VAD drops anyway. If the
user spoke again after it, the audio from the last committed point is transcribed.

Long utterances commit: once the uncommitted audio at a pause is longer than COMMIT_S, that
snapshot's text is kept for good and later transcriptions start after it, so the work at release
stays bounded by COMMIT_S plus the tail.

A transcription in the ASR worker cannot be interrupted, so at most one runs at a time (a pause
while one runs asks for one more after it), and none starts after the release.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import numpy as np

from assistant.core.speech import SAMPLE_RATE, Audio, Transcript

log = logging.getLogger(__name__)

PAUSE_S = 0.2  # quiet after speech that ends a phrase (gaps between words are shorter): dictation commits there
# A question's partial starts sooner: its transcript only feeds a guess at the reply, which the words that
# follow a false pause drop at once (turn/speculation.py), and the release does not wait for a longer one.
ANSWER_PAUSE_S = 0.1
COMMIT_S = 12.0  # uncommitted audio longer than this is committed at the next pause
MIN_SPEECH_RMS = 0.005  # about -46 dBFS: quieter than any voice close to a desktop mic
NOISE_FACTOR = 3.0  # speech is this much louder than the tracked noise floor


class EnergyVad:
    """Speech or quiet per block, against a noise floor that follows the room (min-tracking, slow to rise)."""

    def __init__(self) -> None:
        self.noise = MIN_SPEECH_RMS / NOISE_FACTOR

    def threshold(self) -> float:
        return max(MIN_SPEECH_RMS, NOISE_FACTOR * self.noise)

    def is_speech(self, block: Audio) -> bool:
        if not len(block):
            return False
        rms = float(np.sqrt(np.mean(np.square(block, dtype=np.float64))))
        speech = rms > self.threshold()
        # The floor drops at once to a quieter block and creeps up by 2 % a block otherwise, so a
        # long word does not become the floor but a fan switched on does, within seconds.
        self.noise = min(self.noise * 1.02, max(rms, 1e-5)) if not speech else self.noise * 1.002
        return speech

    def quiet(self, audio: Audio, frame_s: float = 0.03) -> bool:
        """Whether no frame of 16 kHz `audio` is speech (does not move the floor)."""
        frame = int(frame_s * SAMPLE_RATE)
        threshold = self.threshold()
        for start in range(0, len(audio), frame):
            part = audio[start : start + frame]
            if len(part) and float(np.sqrt(np.mean(np.square(part, dtype=np.float64)))) > threshold:
                return False
        return True


@dataclass
class StreamStats:
    partials: int = 0  # transcriptions run while the key was held
    tail_s: float = 0.0  # seconds of audio transcribed after the release (0: a partial was final)


@dataclass
class _Partial:
    start: int  # first 16 kHz sample transcribed (the committed point at the time)
    task: asyncio.Task[tuple[int, Transcript]]  # (one past the snapshot's last sample, its transcript)

    def result(self) -> tuple[int, Transcript] | None:
        """The finished partial's result; None while it runs or when it failed."""
        if not self.task.done() or self.task.cancelled() or self.task.exception() is not None:
            return None
        return self.task.result()


class StreamingTranscriber:
    """One utterance: fed blocks from the capture's listener hook, finished with the whole audio at release."""

    def __init__(
        self,
        transcribe: Callable[[Audio], Awaitable[Transcript]],
        so_far: Callable[[], Audio],
        pause_s: float = PAUSE_S,
        commit_s: float = COMMIT_S,
        on_commit: Callable[[str], None] | None = None,
        on_partial: Callable[[str], None] | None = None,
        on_speech: Callable[[], None] | None = None,
    ) -> None:
        """`transcribe` runs the resident ASR; `so_far` copies the utterance captured so far as 16 kHz (blocking).

        `commit_s` 0 commits every finished partial at once (live dictation), and `on_commit` hears each
        committed text, in order; `tail_text` is then what finish() added after the last commit.
        `on_partial` hears the whole utterance's text each time a partial ends with only quiet heard
        since its pause, and `on_speech` hears that the user spoke again after a pause (both on the loop,
        while the key is held): what a guess at the answer needs to start, and to be dropped.
        """
        self._transcribe = transcribe
        self._so_far = so_far
        self.pause_s = pause_s
        self.commit_s = commit_s
        self.stats = StreamStats()
        self._vad = EnergyVad()
        self._loop = asyncio.get_running_loop()
        self._lock = threading.Lock()  # the VAD state, shared with PortAudio's thread
        self._spoke = False  # speech since the last pause fired
        self._quiet_s = 0.0
        self._committed_text: list[str] = []
        self._committed_at = 0
        self._partial: _Partial | None = None
        self._again = False  # a pause came while a partial ran
        self._finished = False
        self._on_commit = on_commit
        self._on_partial = on_partial
        self._on_speech = on_speech
        self._paused = False  # a pause fired, and no speech came since
        self.tail_text = ""

    # ------------------------------------------------------------ PortAudio's thread

    def on_block(self, block: Audio, rate: int) -> None:
        """The capture listener: classify the block, and on a pause wake the loop. Never blocks."""
        if self._finished or not rate:
            return
        with self._lock:
            if self._vad.is_speech(block):
                self._spoke = True
                self._quiet_s = 0.0
                resumed, self._paused = self._paused, False
                if resumed and self._on_speech is not None:
                    self._call(self._on_speech)
                return
            self._quiet_s += len(block) / rate
            if not (self._spoke and self._quiet_s >= self.pause_s):
                return
            self._spoke = False
            self._paused = True
        self._call(self._on_pause)

    def _call(self, callback: Callable[[], None]) -> None:
        try:
            self._loop.call_soon_threadsafe(callback)
        except RuntimeError:
            pass  # the loop is closed: the daemon is going away

    # ------------------------------------------------------------ the event loop

    def _on_pause(self) -> None:
        if self._finished:
            return
        if self._partial is not None and not self._partial.task.done():
            self._again = True
            return
        self._start_partial()

    def _start_partial(self) -> None:
        self._again = False
        self._commit(self._partial)
        start = self._committed_at

        async def run() -> tuple[int, Transcript]:
            audio = await asyncio.to_thread(self._so_far)
            return len(audio), await self._transcribe(audio[start:])

        task = self._loop.create_task(run())
        task.add_done_callback(self._partial_done)
        self._partial = _Partial(start, task)
        self.stats.partials += 1

    def _partial_done(self, task: asyncio.Task[tuple[int, Transcript]]) -> None:
        if task.cancelled():
            return
        # Retrieved even after a cancel, or asyncio logs the failure with a traceback as never retrieved.
        error = task.exception()
        if self._finished:
            return
        if error is not None:
            log.info("a partial transcription failed: %s", error)
            return
        if self.commit_s <= 0:
            self._commit(self._partial)  # live: each phrase is final as soon as it is heard
        if self._again:
            self._start_partial()
        elif self._on_partial is not None and self._paused and self._partial is not None:
            done = self._partial.result()
            if done is not None and self._partial.start == self._committed_at:
                text = " ".join([*self._committed_text, done[1].text.strip()]).strip()
                if text:
                    self._on_partial(text)

    def _commit(self, partial: _Partial | None) -> None:
        text = self._keep(partial)
        if text and self._on_commit is not None:
            self._on_commit(text)

    def _keep(self, partial: _Partial | None) -> str | None:
        """Commit a finished partial whose uncommitted audio is long, so later ones start after it; its text."""
        done = partial.result() if partial is not None else None
        if partial is None or done is None or partial.start != self._committed_at:
            return None
        end, transcript = done
        if (end - partial.start) / SAMPLE_RATE > self.commit_s:
            text = transcript.text.strip()
            if text:
                self._committed_text.append(text)
            self._committed_at = end
            return text
        return None

    async def finish(self, audio: Audio) -> Transcript:
        """The transcript of the whole utterance (16 kHz `audio`, as captured), reusing what was done."""
        self._finished = True
        partial = self._partial
        final: Transcript | None = None
        if partial is not None:
            # It cannot be stopped in the worker: waiting for it costs no more than queueing behind it.
            await asyncio.gather(partial.task, return_exceptions=True)
            done = partial.result()
            if done is not None and partial.start == self._committed_at:
                end, transcript = done
                if end <= len(audio) and self._vad.quiet(audio[end:]):
                    final = transcript  # nothing but quiet since this snapshot
                else:
                    self._keep(partial)
        if final is None:
            rest = audio[self._committed_at :]
            self.stats.tail_s = len(rest) / SAMPLE_RATE
            if self.commit_s <= 0 and self._committed_text and self._vad.quiet(rest):
                final = Transcript(text="")  # live: all of it was committed, and only quiet followed
            else:
                final = await self._transcribe(rest)
        self.tail_text = final.text.strip()
        text = " ".join([*self._committed_text, final.text.strip()]).strip()
        return Transcript(
            text=text,
            segments=final.segments,
            language=final.language,
            audio_seconds=len(audio) / SAMPLE_RATE,
            speech_seconds=final.speech_seconds,
        )

    def cancel(self) -> None:
        """The utterance was dropped (`ptt cancel`): no more partials; a running one ends in the worker."""
        self._finished = True
