"""One Realtime transcription session: the input audio buffer, where each utterance starts and ends, and
its words while it is spoken and when it is done.

Audio arrives in appends (16-bit PCM at 24 or 16 kHz) and is kept as 16 kHz. With turn detection the
same voice detector as the wake word's end of speech (audio/vad.py, pymicro-vad) finds speech:
`server_vad` ends an utterance after `silence_duration_ms` of quiet; `semantic_vad` asks the end-of-turn
model (audio/smart_turn.py) at each 0.2 s pause, as hands-free turns do, up to the eagerness's longest
pause. Without turn detection the client commits.

While an utterance is spoken it is transcribed again every PARTIAL_EVERY_S of new audio (when the ASR
is free), and the words that two passes in a row agree on go out as deltas (turn/live_words.py). The
final pass of the whole utterance sends the rest, and `completed`
carries the whole transcript. Final passes run one at a time, in the order the utterances ended.

At each PAUSE_S pause (with either detection) the utterance so far is transcribed at once. If the
turn ends in that pause, with no speech since, that pass is the final one: what follows is quiet, so
a second pass over it would only add its time to the end of the turn. A conversation hears of the
pause's words (`Listener.paused`) and starts its answer ahead (realtime_guess.py); speech again
(`Listener.resumed`) drops both.

The session holds the ASR only while a pass runs (`transcribe` leases it), never between utterances.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import TypeVar

import numpy as np

from assistant.audio import smart_turn
from assistant.audio.vad import FRAME, FRAME_S, Endpointer, EndpointRules, Vad
from assistant.audio.wake_listener import Resampler
from assistant.core.errors import AssistantError
from assistant.core.speech import SAMPLE_RATE, Audio
from assistant.openai_api.errors import ApiError
from assistant.openai_api.realtime_config import Detection, SessionConfig
from assistant.openai_api.realtime_events import Append, Clear, ClientEvent, Commit, Update
from assistant.openai_api.realtime_events import error_event, new_id, server_event
from assistant.openai_api.realtime_items import UserMessage
from assistant.openai_api.realtime_input import InputItem, Listener

log = logging.getLogger(__name__)

PARTIAL_EVERY_S = 1.0  # new speech between two passes while the user speaks
MIN_COMMIT_S = 0.1  # OpenAI refuses a commit of less than 100 ms of audio
PAUSE_S = 0.2  # the pause at which the utterance so far is transcribed, and (semantic_vad) the end-of-turn
# model is asked, as hands-free turns do
THRESHOLD = 0.5  # ... and the probability of a finished turn that ends it
LEAD_S = 1.0  # quiet kept before speech when nobody speaks (the prefix padding comes from it)

T = TypeVar("T")
Transcribe = Callable[[Audio, SessionConfig], Awaitable[str]]
Send = Callable[[str], Awaitable[None]]


class TranscriptionSession:
    def __init__(self, config: SessionConfig, transcribe: Transcribe, send: Send, max_buffer_s: float,
                 listener: Listener | None = None) -> None:
        """`transcribe` runs the ASR (on a lease, in a request slot); `send` writes one server event."""
        self.config = config
        self.listener = listener
        self._transcribe = transcribe
        self._send = send
        self.max_buffer_s = max_buffer_s
        self._resampler = Resampler()
        self._vad: Vad | None = None
        self._endpointer: Endpointer | None = None
        self._lead: list[Audio] = []  # quiet before speech, trimmed to LEAD_S
        self._scored_s = 0.0
        self._item: InputItem | None = None  # the utterance being spoken (or, without detection, the buffer)
        self._position = 0  # 16 kHz samples received in this session
        self._previous: str | None = None  # the last committed item's id
        self._finals: asyncio.Queue[InputItem | None] = asyncio.Queue()
        self._worker = asyncio.get_running_loop().create_task(self._work())
        self._partial: asyncio.Task[str | None] | None = None  # one pass at a time while the user speaks
        self._tasks: set[asyncio.Task[object]] = set()  # passes and verdicts under way
        self._pauses = 0  # pauses signalled: a verdict asked at an earlier one is stale
        self._reset_detection()

    # ------------------------------------------------------------------ events

    async def take(self, event: ClientEvent) -> None:
        if isinstance(event, Update):
            if not event.config.detects_as(self.config):
                if self._item is not None and self._endpointer is not None:
                    await self._end_speech()  # what was said under the old rules is committed under them
                self.config = event.config
                self._reset_detection_keeping_vad()
            self.config = event.config
            await self._send(server_event("session.updated", session=self.config.wire()))
        elif isinstance(event, Append):
            await self._append(event.audio, event.event_id)
        elif isinstance(event, Commit):
            await self._commit(event.event_id)
        elif isinstance(event, Clear):
            self._item, self._lead = None, []
            self._reset_detection_keeping_vad()
            await self._send(server_event("input_audio_buffer.cleared"))

    async def close(self) -> None:
        """The client left: stop the passes (each gives back its lease) without sending anything."""
        tasks = [self._worker, *self._tasks]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # ------------------------------------------------------------------ audio in

    def _reset_detection(self) -> None:
        config = self.config
        if config.detection is Detection.NONE:
            self._vad, self._endpointer = None, None
            return
        self._vad = Vad()
        self._scored_s = 0.0  # audio the detector has scored (it needs 0.75 s before its first score)
        semantic = config.detection is Detection.SEMANTIC_VAD
        self._endpointer = Endpointer(EndpointRules(
            silence_s=config.longest_pause_s if semantic else config.silence_s,
            no_speech_s=float("inf"),
            max_s=float("inf"),  # the buffer's cap ends an utterance instead (_append)
            threshold=config.threshold,
            pause_s=PAUSE_S,
        ))

    async def _append(self, pcm: bytes, event_id: str | None) -> None:
        samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
        audio = self._resampler(samples, self.config.rate)
        if not len(audio):
            return
        if self._endpointer is None:  # the client commits: everything is the buffer
            item = self._item or InputItem(new_id("item"), self._ms(self._position))
            if (item.samples + len(audio)) / SAMPLE_RATE > self.max_buffer_s:
                await self._send(error_event(
                    f"the input audio buffer holds {self.max_buffer_s:g} s at most; commit or clear it before appending more",
                    "input_audio_buffer_full", event_id))
                return
            self._item = item
            self._keep(audio)
        else:
            await self._detect(audio)
        current = self._item
        if current is not None and self._endpointer is not None and current.samples / SAMPLE_RATE >= self.max_buffer_s:
            await self._end_speech()  # the cap: the utterance so far is committed
        elif current is not None and current.samples - current.partial_at >= PARTIAL_EVERY_S * SAMPLE_RATE:
            endpointer = self._endpointer
            if endpointer is None or endpointer.silence_s == 0.0:
                # Not in quiet: quiet may be the speech's end, and a pass begun now would hold the pause's
                # pass (PAUSE_S away) back by its own length; the pause's pass hears everything anyway.
                self._start_partial(current)

    async def _detect(self, audio: Audio) -> None:
        """Frame by frame through the voice detector: speech starts, pauses (semantic_vad) and ends."""
        assert self._vad is not None
        done = 0  # samples of `audio` already kept
        for index, score in enumerate(self._vad.feed(audio)):
            self._scored_s += FRAME_S if score >= 0 else 0.0
            endpointer = self._endpointer
            assert endpointer is not None
            was_speech, paused = endpointer.heard_speech, endpointer.silence_s >= PAUSE_S
            signal = endpointer.push(score)
            at = min(len(audio), (index + 1) * FRAME)
            if not was_speech and endpointer.heard_speech:
                self._keep(audio[done:at])
                done = at
                await self._speech_started(endpointer.speech_run_s)
            if paused and endpointer.silence_s == 0.0:
                await self._resumed()
            if signal == "pause":
                self._pauses += 1
                self._keep(audio[done:at])
                done = at
                self._settle(endpointer.silence_s)
                if self.config.detection is Detection.SEMANTIC_VAD:
                    self._judge()
            elif signal is not None:  # "end": no cap and no give-up are set, so nothing else comes
                self._keep(audio[done:at])
                done = at
                await self._end_speech()
        self._keep(audio[done:])

    def _keep(self, audio: Audio) -> None:
        self._position += len(audio)
        if self._item is not None:
            self._item.add(audio)
            return
        self._lead.append(audio)
        kept, total = [], 0
        for part in reversed(self._lead):  # only the last LEAD_S of quiet
            kept.append(part)
            total += len(part)
            if total >= LEAD_S * SAMPLE_RATE:
                break
        self._lead = kept[::-1]

    async def _speech_started(self, run_s: float) -> None:
        """Speech began `run_s` ago: the utterance starts there, less the prefix padding, from the quiet kept.
        Speech heard from the detector's first score may have begun while it warmed up (a client that
        sends a recording from its first word): then all the audio kept goes in (LEAD_S covers the warm-up)."""
        back_s = run_s + self.config.prefix_padding_s
        if self._scored_s <= run_s + FRAME_S:
            back_s = LEAD_S
        item = self._from_lead(round(back_s * SAMPLE_RATE))
        self._item = item
        await self._send(server_event("input_audio_buffer.speech_started", audio_start_ms=item.start_ms, item_id=item.id))
        if self.listener is not None:
            await self.listener.speech_started(run_s)

    def _from_lead(self, samples: int) -> InputItem:
        lead = np.concatenate(self._lead) if self._lead else np.zeros(0, dtype=np.float32)
        keep = min(len(lead), samples)
        item = InputItem(new_id("item"), self._ms(self._position - keep))
        item.add(lead[len(lead) - keep :])
        self._lead = []
        return item

    async def _end_speech(self) -> None:
        """Speech stopped (a silence, the model's verdict, or the cap): the utterance is committed."""
        item = self._item
        if item is None:
            return
        self._item = None
        await self._send(server_event("input_audio_buffer.speech_stopped", audio_end_ms=self._ms(self._position),
                                      item_id=item.id))
        self._reset_detection_keeping_vad()
        await self._committed(item, by_detection=True)

    def _reset_detection_keeping_vad(self) -> None:
        vad, scored_s = self._vad, self._scored_s
        self._reset_detection()
        if vad is not None and self._vad is not None:
            self._vad, self._scored_s = vad, scored_s  # warm: a new detector needs 0.75 s before its first score

    async def _commit(self, event_id: str | None) -> None:
        item = self._item
        if item is None and self._lead:  # with turn detection and no speech heard: what the buffer holds
            item = self._from_lead(sum(len(part) for part in self._lead))
        if item is None or item.samples < MIN_COMMIT_S * SAMPLE_RATE:
            await self._send(error_event(
                f"the input audio buffer holds less than {MIN_COMMIT_S * 1000:.0f} ms of audio; append more before "
                "committing", "input_audio_buffer_commit_empty", event_id))
            return
        self._item = None
        if self._endpointer is not None:
            self._reset_detection_keeping_vad()
        await self._committed(item, by_detection=False)

    async def _committed(self, item: InputItem, by_detection: bool) -> None:
        await self._send(server_event("input_audio_buffer.committed", item_id=item.id, previous_item_id=self._previous))
        await self._send(server_event(
            "conversation.item.added", previous_item_id=self._previous,
            item=UserMessage(item.id, None, spoken=True).wire(),
        ))
        self._previous = item.id
        self._finals.put_nowait(item)
        if self.listener is not None:
            self.listener.spoken(item.id)
            if by_detection:
                await self.listener.committed_by_detection()

    def _spawn(self, work: Coroutine[None, None, T]) -> asyncio.Task[T]:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _ms(self, samples: int) -> int:
        return round(samples * 1000 / SAMPLE_RATE)

    # ------------------------------------------------------------------ pauses

    def _settle(self, quiet_s: float) -> None:
        """A pause, `quiet_s` after the last speech: the utterance so far is transcribed now. A pass under
        way that began after the last speech already hears all of it, and is taken as the pause's; any
        other runs first (one pass at a time), then this one."""
        item = self._item
        if item is None:
            return
        before = self._partial
        running = before is not None and not before.done()
        covers = running and item.partial_at >= item.samples - round(quiet_s * SAMPLE_RATE)
        item.settling = self._partial = self._spawn(self._settling(item, before, covers))

    async def _settling(self, item: InputItem, before: asyncio.Task[str | None] | None, covers: bool) -> str | None:
        if before is not None:
            (earlier,) = await asyncio.gather(before, return_exceptions=True)
            if covers:
                text = earlier if isinstance(earlier, str) else None
                return await self._paused(item, text)
        item.partial_at = item.samples
        return await self._paused(item, await self._pass(item))

    async def _paused(self, item: InputItem, text: str | None) -> str | None:
        if text is not None and item.settling is asyncio.current_task() and self.listener is not None:
            await self.listener.paused(item.id, text)
        return text

    async def _resumed(self) -> None:
        item = self._item
        if item is not None and item.settling is not None:
            item.settling = None
            if self.listener is not None:
                await self.listener.resumed()

    # ------------------------------------------------------------------ semantic_vad

    def _judge(self) -> None:
        item = self._item
        if item is None:
            return
        self._spawn(self._verdict(item, self._pauses))

    async def _verdict(self, item: InputItem, pauses: int) -> None:
        audio = item.audio()

        def probability() -> float | None:
            model = smart_turn.shared()
            return None if model is None else model.complete(audio)

        p = await asyncio.to_thread(probability)
        if p is None:
            log.warning("semantic_vad without the end-of-turn model: utterances end after the longest pause")
            return
        endpointer = self._endpointer
        # Still the same pause: no speech since, and no later pause asked again.
        still = endpointer is not None and endpointer.silence_s >= PAUSE_S and self._pauses == pauses
        if p >= THRESHOLD and self._item is item and still:
            await self._end_speech()

    # ------------------------------------------------------------------ words out

    def _start_partial(self, item: InputItem) -> None:
        busy = self._partial is not None and not self._partial.done()
        if busy or not self._finals.empty():
            return  # the ASR is taken: an utterance's final pass goes first
        item.partial_at = item.samples
        self._partial = self._spawn(self._pass(item))

    async def _pass(self, item: InputItem) -> str | None:
        """A pass over the utterance so far: its agreed words go out; None when it failed."""
        try:
            text = (await self._transcribe(item.audio(), self.config)).strip()
        except (AssistantError, ApiError) as exc:  # ApiError: no request slot free (the queue is full)
            log.info("a partial transcription failed: %s", exc.message)
            return None
        await self._delta(item, item.words.partial(text))
        return text

    async def _delta(self, item: InputItem, delta: str | None) -> None:
        if delta:
            await self._send(server_event("conversation.item.input_audio_transcription.delta", item_id=item.id,
                                          content_index=0, delta=delta))

    async def _work(self) -> None:
        while (item := await self._finals.get()) is not None:
            if self._partial is not None:
                await asyncio.gather(self._partial, return_exceptions=True)  # its deltas go out before the rest
            audio = item.audio()
            try:
                # The turn ended in the pause its last pass heard: that pass's words are the transcript.
                settled = await item.settling if item.settling is not None else None
                text = settled if settled is not None else (await self._transcribe(audio, self.config)).strip()
            except (AssistantError, ApiError) as exc:
                code = exc.code if isinstance(exc, AssistantError) else exc.code or "server_error"
                await self._send(server_event(
                    "conversation.item.input_audio_transcription.failed", item_id=item.id, content_index=0,
                    error={"type": "transcription_error", "code": code, "message": exc.message, "param": None}))
                if self.listener is not None:
                    await self.listener.transcribed(item.id, None)
                continue
            await self._delta(item, item.words.final(text))
            await self._send(server_event(
                "conversation.item.input_audio_transcription.completed", item_id=item.id, content_index=0,
                transcript=text, usage={"type": "duration", "seconds": round(len(audio) / SAMPLE_RATE, 3)}))
            if self.listener is not None:
                await self.listener.transcribed(item.id, text)

