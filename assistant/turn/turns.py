"""Turn-taking in the daemon: carries out the plans of the pure policy (turn/policy.py), one turn at a time.

Each entry point (a press, a release, a dictation key, `ask`, `say`, a ringing alarm) reads the floor
from the live facts (what speaks, what rings, whether the microphone works), asks `decide` for a
plan, and does its acts in order. What is not turn-taking lives beside it: where the voice goes
(reply_sink.py), the players a dictation pauses (media_pause.py), the history record (record.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from assistant.core.errors import AssistantError, AudioError
from assistant.core.events import Emit, StateChanged, TurnState
from assistant.turn.assistant import Assistant
from assistant.turn.dictation import Dictated, Dictation
from assistant.turn.history import TurnRecord
from assistant.turn.latency import timeline
from assistant.turn.media_pause import PausedMedia
from assistant.turn.policy import Act, Ask, Cancel, Dictate, DictateAction, Event, Floor, Pause, Plan, Press, Release
from assistant.turn.policy import Say, Settled, SpokeAgain, decide
from assistant.turn.record import record_turn
from assistant.turn.outcomes import Cancelled, DictationStarted, Pressed, Released, Said
from assistant.turn.reply_sink import reply_sink
from assistant.turn.results import TurnResult
from assistant.turn.utterance import End, Source, Utterance
from assistant.turn.while_held import WhileHeld

if TYPE_CHECKING:
    from assistant.audio.io import AudioIO

log = logging.getLogger(__name__)


class Turns:
    def __init__(
        self,
        assistant: Assistant,
        audio: AudioIO | None,
        emit: Emit,
        dismiss_alarm: Callable[[], bool] = lambda: False,
        overlap: bool = True,
        dictation: Dictation | None = None,
        alarm_ringing: Callable[[], bool] = lambda: False,
    ) -> None:
        self.assistant = assistant
        self.audio = audio  # AudioIO, or None when the daemon runs without sound devices
        self.emit = emit
        self.state = TurnState.IDLE  # written only by set_state: the rest hear of it as a StateChanged event
        self.last_turn: TurnRecord | None = None
        self.lock = asyncio.Lock()  # one turn at a time; also held while switching models
        # Everything that will speak (turns, `say`), queued or running: a press interrupts all of it.
        self._speaking: set[asyncio.Task[Any]] = set()
        self._closed = False
        # A ringing timer or reminder: whether one rings, and the press that stops it (that press does nothing else).
        self.dismiss_alarm = dismiss_alarm
        self.alarm_ringing = alarm_ringing
        self.dictation = dictation  # None: no dictation (an offline run)
        self._media = PausedMedia()  # the players a dictation paused, to resume at its end
        # Transcribe and prefill while the key is held (False: everything waits for the release, as a baseline).
        self.overlap = overlap
        self._listening: WhileHeld | None = None
        self._utterance: Utterance | None = None  # what the user is saying while listening
        self._presses = 0  # counts presses, so a press overtaken by a cancel and a newer press yields to it
        self._chores: set[asyncio.Task[None]] = set()  # loading the ASR at a press, keeping it after a turn

    @property
    def listening(self) -> bool:
        # A property, not a comparison in place: the state changes across awaits, which type narrowing misses.
        return self.state == TurnState.LISTENING

    def set_state(self, state: TurnState) -> None:
        if state != self.state:
            self.state = state
            self.emit(StateChanged(state))

    # ---------------------------------------------------------------- the policy

    def floor(self) -> Floor:
        """What the policy decides from: the state, and the live facts."""
        audio = self.audio
        return Floor(
            state=self.state,
            speaking=any(not task.done() for task in self._speaking),
            ringing=self.alarm_ringing(),
            mic_problem=(audio.input_problem if audio else "the daemon runs without audio") or None,
            can_dictate=self.dictation is not None,
            answer_ahead=self.assistant.config.settings.answer_ahead,
            resident=self.assistant.voice_resident(),
            guessing=self._utterance is not None and self._utterance.guess is not None,
        )

    def _plan(self, event: Event) -> Plan:
        """The plan for `event`; a refusal is raised here, after its acts (an error earcon)."""
        plan = decide(self.floor(), event)
        if plan.refusal is not None:
            if plan.does(Act.EARCON_ERROR):
                self._earcon("error")
            refusal = plan.refusal
            raise AudioError(refusal.message) if refusal.audio else AssistantError(refusal.message, code=refusal.code)
        return plan

    def _settle(self) -> None:
        """Back to idle after a turn, unless a barge-in already started listening (or dictating)."""
        self.set_state(decide(self.floor(), Settled()).floor.state)

    def _chore(self, coro: Coroutine[Any, Any, None]) -> None:
        """Background model work that no one waits for; held so it is not collected mid-way."""
        task = asyncio.get_running_loop().create_task(coro)
        self._chores.add(task)
        task.add_done_callback(self._chores.discard)

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._speaking.add(task)
        task.add_done_callback(self._speaking.discard)
        return task

    # ---------------------------------------------------------------- push-to-talk

    async def press(self, preroll_s: float | None = None, source: Source = Source.PUSH_TO_TALK) -> Pressed:
        """Start listening; `preroll_s` (the wake word's) overrides how much audio from before the press is kept."""
        plan = self._plan(Press(source))
        if plan.does(Act.DISMISS_ALARM):
            self.dismiss_alarm()
            await self.interrupt()  # and its announcement, if it is still speaking
            return Pressed(self.state, dismissed=True)
        if not plan.does(Act.START_CAPTURE):
            return Pressed(self.state)
        assert self.audio is not None  # the policy refused a press without a microphone
        # Barge-in: stop speaking, but start recording before waiting for the turn to wind down,
        # so the first words after the press are not lost.
        stopping = self._cancel_speaking() if plan.does(Act.INTERRUPT) else []
        self._presses += 1
        press = self._presses
        await self.audio.start_capture(preroll_s)
        self._earcon("start")
        utterance = self._utterance = Utterance(source, on_state=self.set_state)
        self.set_state(plan.floor.state)
        # Load the ASR while the user speaks, so it is ready when the key goes up.
        self._chore(self._warm_asr())
        await asyncio.gather(*stopping, return_exceptions=True)
        if self.overlap and self.listening and press == self._presses:
            # After the barge-in wound down, so the prefill sees the history with what was heard.
            self._stop_listening()
            self._listening = WhileHeld(
                self.assistant.pipeline,
                self.assistant.models,
                self.audio,
                utterance,
                self._on_pause,
                self._on_speech,
                self.assistant.config.settings.turn,
            )
            self._listening.start()
        return Pressed(self.state)

    def _on_pause(self, text: str, complete: bool | None) -> None:
        """The words so far, at a pause while the key is held, and whether the end-of-turn model heard them as
        complete (None: it did not judge): the policy says whether to answer them ahead."""
        utterance, listening = self._utterance, self._listening
        if utterance is None or listening is None:
            return
        utterance.heard(text)
        plan = decide(self.floor(), Pause(text, complete))
        if plan.does(Act.GUESS):
            listening.guess(text)
        elif plan.does(Act.SKIP_GUESS):
            utterance.unguessed += 1

    def _on_speech(self) -> None:
        """The user spoke again after a pause: a guess for the words before it no longer stands."""
        if self._utterance is not None and decide(self.floor(), SpokeAgain()).does(Act.DROP_GUESS):
            self._utterance.drop_guess()

    async def release(self, end: End = End.RELEASE, probability: float | None = None) -> Released:
        """Stop listening and answer: `end` says why (the key's release, hands-free's silence or the end-of-turn
        model's verdict); `probability` is that model's last judgement, when it judged."""
        plan = self._plan(Release(end))
        released = time.perf_counter()
        assert self.audio is not None  # listening needs a microphone: the policy refused a press without one
        listening, self._listening = self._listening, None
        if listening is not None:
            listening.stop()
        utterance, self._utterance = self._utterance, None
        if utterance is None:  # not expected: a press always makes one
            utterance = Utterance(Source.PUSH_TO_TALK, on_state=self.set_state)
        audio = await self.audio.stop_capture()
        utterance.ended(end, audio, released, probability)
        self._earcon("stop")
        self.set_state(plan.floor.state)
        turn_id = uuid.uuid4().hex[:12]
        self._spawn(self.run_turn(turn_id, utterance, listening=listening))
        return Released(self.state, turn_id, round(len(audio) / 16000, 2))

    # ---------------------------------------------------------------- dictation

    async def dictate_press(self) -> DictationStarted:
        """Start a dictation: the same microphone and pre-roll as a press, but the words will be typed."""
        plan = self._plan(Dictate(DictateAction.PRESS))
        if not plan.does(Act.START_CAPTURE):
            return DictationStarted(self.state)
        assert self.audio is not None and self.dictation is not None  # the policy refused otherwise
        await asyncio.gather(*self._cancel_speaking(), return_exceptions=True)  # no reply talks over it
        await self.audio.start_capture()
        self.dictation.begin(self.audio, self.assistant.models)
        self._earcon("start")
        self.set_state(plan.floor.state)
        paused = await self._media.pause() if self.dictation.settings.pause_media else 0
        return DictationStarted(self.state, paused)

    async def dictate_release(self) -> Dictated:
        """Stop, transcribe, shape and type; the result says what was typed and with which method."""
        plan = self._plan(Dictate(DictateAction.RELEASE))
        assert self.dictation is not None and self.audio is not None  # dictating needs both
        self.dictation.stop()
        audio = await self.audio.stop_capture()
        self._earcon("stop")
        self.set_state(plan.floor.state)  # transcribing and typing: a new press may start meanwhile
        await self._media.resume()
        try:
            result = await self.dictation.finish(audio, self.assistant.models)
        finally:
            self._settle()
        if result.nothing_heard:
            self._earcon("nothing")
        elif result.error:
            self._earcon("error")
        return result

    async def dictate_toggle(self) -> DictationStarted | Dictated:
        return await (self.dictate_release() if self.state == TurnState.DICTATING else self.dictate_press())

    async def dictate_cancel(self) -> Cancelled:
        plan = self._plan(Dictate(DictateAction.CANCEL))
        if not plan.does(Act.CANCEL_DICTATION):
            return Cancelled(False)
        assert self.dictation is not None and self.audio is not None
        self.dictation.cancel()
        self.audio.cancel_capture()
        self.set_state(plan.floor.state)
        await self._media.resume()
        return Cancelled(True)

    async def toggle(self) -> Pressed | Released:
        return await (self.release() if self.state == TurnState.LISTENING else self.press())

    async def cancel(self) -> Cancelled:
        was = self.state
        plan = self._plan(Cancel())
        if plan.does(Act.CANCEL_CAPTURE) and self.audio is not None:
            self.audio.cancel_capture()
            self._utterance = None
        self._stop_listening()
        await self.interrupt()
        self.set_state(plan.floor.state)
        return Cancelled(was != plan.floor.state)

    def _cancel_speaking(self) -> list[asyncio.Task[Any]]:
        tasks = [task for task in self._speaking if not task.done()]
        for task in tasks:
            task.cancel()
        return tasks

    async def interrupt(self) -> None:
        """Stop every turn in flight or queued (generation, synthesis, playback) and wait until they have."""
        await asyncio.gather(*self._cancel_speaking(), return_exceptions=True)

    def _stop_listening(self) -> None:
        """Drop the work done while the key is held (partial transcripts, the prefill) and its mic listener."""
        listening, self._listening = self._listening, None
        if listening is not None:
            listening.cancel()

    async def close(self) -> None:
        self._closed = True
        self._stop_listening()
        for chore in self._chores:
            chore.cancel()
        await asyncio.gather(self.interrupt(), *self._chores, return_exceptions=True)

    async def _warm_asr(self) -> None:
        try:
            await self.assistant.load_asr()
        except AssistantError as exc:
            log.warning("could not load the ASR at the press: %s", exc)

    def _earcon(self, name: str) -> None:
        if self.audio is not None:
            self.audio.earcon(name)

    # ---------------------------------------------------------------- turns

    async def ask(self, text: str, speak: bool = True) -> TurnRecord:
        self._plan(Ask(speak))
        turn_id = uuid.uuid4().hex[:12]
        task = self._spawn(self.run_turn(turn_id, Utterance.typed(text, Source.ASK, self.set_state), speak=speak))
        try:
            record: TurnRecord = await asyncio.shield(task)
        except asyncio.CancelledError:
            if not task.cancelled():
                raise  # our caller went away (shutdown); the turn was not cancelled
            raise AssistantError("the turn was cancelled before it started", code="cancelled") from None
        if record.error:
            raise AssistantError(record.error, code=record.error_code or "turn_failed")
        return record

    async def say(self, text: str) -> Said:
        """Speak words as they are (`assistant say`, and a ringing alarm's announcement), after any turn."""
        self._plan(Say())
        task = self._spawn(self._say(text))
        try:
            said: Said = await asyncio.shield(task)
        except asyncio.CancelledError:
            if not task.cancelled():
                raise
            return Said(spoken=True, interrupted=True, audio_path=None)
        return said

    async def _say(self, text: str) -> Said:
        sink, wav = reply_sink(self.audio, self.assistant.config.paths.replies_dir, f"say-{time.time_ns()}")
        async with self.lock:
            self.set_state(TurnState.SPEAKING)
            try:
                await self.assistant.pipeline.say(text, self.assistant.models.tts, sink)
            finally:
                self._settle()
        return Said(spoken=wav is None, interrupted=False, audio_path=str(wav.path) if wav else None)

    async def run_turn(
        self, turn_id: str, utterance: Utterance, speak: bool = True, listening: WhileHeld | None = None
    ) -> TurnRecord:
        started = time.time()
        result = TurnResult(id=turn_id)
        sink, wav = reply_sink(self.audio, self.assistant.config.paths.replies_dir, turn_id) if speak else (None, None)
        error: AssistantError | None = None
        async with self.lock:
            self.set_state(TurnState.THINKING)
            try:
                await self.assistant.pipeline.turn(utterance, self.assistant.models, sink, result)
                if result.nothing_heard:
                    self._earcon("nothing")
            except asyncio.CancelledError:
                result.interrupted = True
            except AssistantError as exc:
                error = exc
                self._earcon("error")
            except Exception as exc:  # a bug or an OS error must still end as a recorded, failed turn
                log.exception("turn %s failed", turn_id)
                error = AssistantError(f"internal error: {exc}".splitlines()[0], code="internal")
                self._earcon("error")
            finally:
                self._settle()
                await utterance.settle()
                if listening is not None:
                    listening.annotate(result.timings, self.assistant.config.settings.answer_ahead)
                if not utterance.is_typed and not result.nothing_heard:
                    log.info("%s", timeline(turn_id, result.timings.as_dict(), utterance.end, utterance.end_probability))
                record = self.last_turn = await record_turn(
                    self.assistant.history, self.emit, result, started, error, wav, utterance
                )
        if not self._closed:
            # Keep the ASR ready for the next press, if it fits without evicting anything.
            self._chore(self._keep_asr())
        return record

    async def _keep_asr(self) -> None:
        try:
            await self.assistant.load_asr(evict=False)
        except AssistantError as exc:
            log.info("ASR not kept resident: %s", exc)
