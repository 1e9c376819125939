"""Hands-free: the wake word presses, the end of speech releases, and a reply may leave a follow-up window open."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from assistant.api.protocol import method
from assistant.audio import smart_turn
from assistant.audio.echo import LOOKAHEAD_S, PlaybackGate, echo_cancelled_source
from assistant.audio.settings import TurnSettings
from assistant.audio.smart_turn import SmartTurn
from assistant.audio.vad import EndpointRules, Outcome
from assistant.audio.wake import Detection, WakeDetector, phrase
from assistant.audio.wake_listener import ByMeaning, Verdict, WakeListener
from assistant.config.settings import WakeSettings
from assistant.core.errors import AssistantError, AudioError
from assistant.core.events import DaemonEvent, Emit, StateChanged, TurnFinished, TurnState, WakeChanged, WakeStatus, WakeWordHeard
from assistant.core.records import TurnRecord
from assistant.turn.utterance import End, Source

if TYPE_CHECKING:
    from assistant.audio.io import AudioIO
    from assistant.turn.turns import Turns

log = logging.getLogger(__name__)

# The detector fires 0.1-0.25 s after the word ends (it averages its last five outputs, 30 ms
# apart). A wake press keeps this much audio from before the detection, so the capture starts
# close to the word's end: a question said without a pause keeps its first syllable, and the
# tail of the wake word itself mostly stays out (scripts/bench_wake.py measures both sides).
WAKE_PREROLL_S = 0.15
# The capture stream's ring while the wake word is on: the pre-roll, plus however long the press
# took to come (the echo gate's look-ahead, a busy loop), which the press also takes back.
RING_S = 0.6


class HandsFree:
    """A trigger beside the hotkeys: it drives the same press/release/cancel as a held key.

    While on, the capture stream stays open and a WakeListener thread hears every block: the wake
    word calls `press` (keeping WAKE_PREROLL_S from before the detection), then the end of the turn
    calls `release`: by meaning ([turn] end = "model"), when the end-of-turn model judges the words
    complete at a pause of `pause_s`, or after `max_silence_s` of quiet whatever it says; by silence,
    after [wake] `silence_s`. Nobody speaking within `no_speech_s` calls `cancel` (with the "nothing"
    earcon). A key press meanwhile takes over: its release ends the turn.

    Args:
        audio: the daemon's AudioIO (input listeners, holding the input open, playback listeners, earcons).
        turns: the daemon's Turns (press, release, cancel, state).
    """

    def __init__(
        self,
        settings: WakeSettings,
        audio: AudioIO,
        turns: Turns,
        max_utterance_s: float,
        emit: Emit,
        turn: TurnSettings | None = None,
    ) -> None:
        self.settings = settings
        self.turn = turn if turn is not None else TurnSettings()
        self.audio = audio
        self.turns = turns
        self.emit = emit
        self.max_utterance_s = max_utterance_s
        self.rules = self._rules(None)
        self.end_model: SmartTurn | None = None  # loaded at the first turn on, when [turn] end = "model"
        self.end_problem: str | None = None  # why turns end by silence although the model was asked for
        self._verdicts: list[Verdict] = []  # the end-of-turn model's, in the utterance being heard
        self.enabled = False
        self.echo: str | None = None  # while on: "gate", "cancel" (the sound server's canceller alone) or "cancel+gate"
        self.wakeups = 0
        self.own_voice = 0  # detections held back as the assistant's own voice
        self._listening: WakeListener | None = None
        self._gate: PlaybackGate | None = None
        self._owned = False  # the current "listening" state was started by us, so the VAD may end it
        self._changing = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._woke_at: float | None = None  # when the block with the last wake word arrived
        self.wake_to_capture_ms: float | None = None  # from that block's arrival to the capture running

    def _rules(self, model: SmartTurn | None) -> EndpointRules:
        if model is None:
            return EndpointRules(silence_s=self.settings.silence_s, no_speech_s=self.settings.no_speech_s, max_s=self.max_utterance_s)
        return EndpointRules(
            silence_s=self.turn.max_silence_s,
            no_speech_s=self.settings.no_speech_s,
            max_s=self.max_utterance_s,
            pause_s=self.turn.pause_s,
        )

    def _meaning(self) -> ByMeaning | None:
        return ByMeaning(self.end_model, self.turn.threshold) if self.end_model is not None else None

    async def _load_end_model(self) -> None:
        """The end-of-turn model, once; without it (or with [turn] end = "silence") turns end by silence."""
        if self.turn.end != "model" or self.end_model is not None:
            return
        self.end_model = await asyncio.to_thread(smart_turn.shared)
        self.end_problem = None if self.end_model is not None else smart_turn.missing_reason()
        self.rules = self._rules(self.end_model)

    def status(self) -> WakeStatus:
        listening = self._listening
        return WakeStatus(
            enabled=self.enabled,
            word=self.settings.word,
            phrase=phrase(self.settings.word),
            threshold=listening.detector.threshold if listening else self.settings.threshold or None,
            echo=self.echo,
            follow_up_s=self.settings.follow_up_s,
            wakeups=self.wakeups,
            own_voice_ignored=self.own_voice,
            wake_to_capture_ms=self.wake_to_capture_ms,
            cpu_s=round(listening.busy_s + (self._gate.busy_s() if self._gate else 0.0), 3) if listening else 0.0,
            # Until the first turn on loads the model, the configured way stands.
            end="model" if self.end_model is not None or (self.turn.end == "model" and self.end_problem is None) else "silence",
            end_problem=self.end_problem,
        )

    async def start(self) -> None:
        """At daemon start: turn on when the config says so; a problem is logged, never raised."""
        if self.settings.enabled:
            try:
                await self.set(True)
            except AssistantError as exc:
                log.warning("wake word not started: %s", exc.message)

    async def set(self, on: bool) -> WakeStatus:
        async with self._changing:
            if on and not self.enabled:
                await self._turn_on()
            elif not on and self.enabled:
                await self._turn_off()
        self.emit(WakeChanged(self.status()))
        return self.status()

    async def close(self) -> None:
        async with self._changing:
            if self.enabled:
                await self._turn_off()

    async def _turn_on(self) -> None:
        if self.audio is None or self.audio.input_problem:
            problem = self.audio.input_problem if self.audio is not None else "the daemon runs without audio"
            raise AudioError(f"cannot listen for the wake word: {problem}")
        word, threshold = self.settings.word, self.settings.threshold
        try:
            detector = await asyncio.to_thread(WakeDetector, word, threshold)
        except (ImportError, OSError, ValueError) as exc:
            raise AssistantError(f"cannot load the wake word model {word!r}: {exc}; reinstall pymicro-wakeword", "wake") from None
        await self._load_end_model()
        loop = asyncio.get_running_loop()

        def on_wake(detection: Detection, arrived: float) -> None:
            loop.call_soon_threadsafe(self._on_wake, detection, arrived)

        def on_end(outcome: Outcome) -> None:
            loop.call_soon_threadsafe(self._on_end, outcome)

        def on_verdict(verdict: Verdict) -> None:
            loop.call_soon_threadsafe(self._verdicts.append, verdict)

        self._listening = WakeListener(detector, on_wake, on_end, on_verdict=on_verdict)
        self.echo = self.settings.echo
        if self.echo == "auto":
            # The canceller where there is one, and the gate always: in our measurements WebRTC's
            # canceller, fresh or after a pause, still let the assistant's own "okay nabu" through
            # now and then, and the gate costs one more detector only while something plays.
            self.echo = "cancel+gate" if await asyncio.to_thread(echo_cancelled_source) else "gate"
        if "gate" in self.echo:
            self._gate = await asyncio.to_thread(PlaybackGate, word, threshold)
            self.audio.add_output_listener(self._gate.listener)
        self.audio.add_input_listener(self._listening.listener)
        try:
            await self.audio.hold_input(True, RING_S)
        except AssistantError:
            await self._turn_off()
            raise
        self.enabled = True
        log.info("listening for %r (threshold %.2f, echo: %s)", phrase(word), detector.threshold, self.echo)

    async def _turn_off(self) -> None:
        self.enabled = False
        self.echo = None
        listening, gate = self._listening, self._gate
        self._listening = self._gate = None
        if listening is not None:
            self.audio.remove_input_listener(listening.listener)
        if gate is not None:
            self.audio.remove_output_listener(gate.listener)
        if self._owned and self.turns.state == TurnState.LISTENING:
            await self.turns.cancel()
        self._owned = False
        await self.audio.hold_input(False)
        for part in (listening, gate):
            if part is not None:
                await asyncio.to_thread(part.close)
        if listening is not None:
            listening.detector.close()
        log.info("wake word off")

    # ------------------------------------------------------------------ events (on the loop)

    def on_event(self, event: DaemonEvent) -> None:
        """The daemon's events: a key release ends our utterance too; a finished reply may open a follow-up."""
        if not self.enabled:
            return
        if isinstance(event, StateChanged) and event.state == TurnState.LISTENING and self._woke_at is not None:
            self.wake_to_capture_ms = round((time.monotonic() - self._woke_at) * 1000, 1)
            self._woke_at = None
            log.info("capturing %.0f ms after the wake word's block arrived", self.wake_to_capture_ms)
        elif isinstance(event, StateChanged) and event.state != TurnState.LISTENING and self._owned:
            self._owned = False
            if self._listening is not None:
                self._listening.wake()
        elif isinstance(event, TurnFinished) and self.settings.follow_up_s > 0 and _answered_by_voice(event.record):
            self._spawn(self._follow_up())

    def _on_wake(self, detection: Detection, arrived: float) -> None:
        if not self.enabled:
            return
        self._spawn(self._wake(detection, arrived))

    async def _wake(self, detection: Detection, arrived: float) -> None:
        gate = self._gate
        if gate is not None and gate.played_recently(arrived):
            await asyncio.sleep(LOOKAHEAD_S)  # let the reference detector catch up with the mic
            if gate.own_voice(arrived):
                self.own_voice += 1
                log.info("wake word in the assistant's own voice ignored (p=%.2f)", detection.probability)
                return
        if not self.enabled or self.turns.state == TurnState.LISTENING:
            return  # a held key (or an earlier wake) is already listening
        self.wakeups += 1
        self._woke_at = arrived
        log.info("wake word heard (p=%.2f)", detection.probability)
        self.emit(WakeWordHeard(self.settings.word, round(detection.probability, 3)))
        await self._listen(self.rules, arrived)

    async def _follow_up(self) -> None:
        if self.turns.state != TurnState.IDLE:
            return
        await self._listen(replace(self.rules, no_speech_s=self.settings.follow_up_s))

    async def _listen(self, rules: EndpointRules, woke: float | None = None) -> None:
        """Press, and let the VAD release; `woke` is when the wake word's block arrived (None: a follow-up)."""
        listening = self._listening
        if listening is None:
            return
        self._verdicts = []
        listening.endpoint(rules, self._meaning())  # first, so the VAD hears from the first block after the press
        # The capture starts WAKE_PREROLL_S before the block that held the wake word, however late
        # the press comes: the ring holds what was said meanwhile.
        preroll_s = 0.0 if woke is None else min(RING_S, WAKE_PREROLL_S + time.monotonic() - woke)
        try:
            await self.turns.press(preroll_s=preroll_s, source=Source.WAKE)
        except AssistantError as exc:
            listening.wake()
            log.warning("wake word: %s", exc.message)
            return
        self._owned = True

    def _on_end(self, outcome: Outcome) -> None:
        if not self._owned or self.turns.state != TurnState.LISTENING:
            self._owned = False
            return
        self._owned = False
        self._spawn(self._end(outcome))

    async def _end(self, outcome: Outcome) -> None:
        verdicts, self._verdicts = self._verdicts, []
        try:
            if outcome == "no_speech":
                await self.turns.cancel()
                self.audio.earcon("nothing")
                return
            end = {"model": End.MODEL, "max": End.CAP}.get(outcome, End.SILENCE)
            last = verdicts[-1] if verdicts else None
            if last is not None:
                log.info(
                    "turn ended by %s (the end-of-turn model: p=%.2f at %.2f s, %d pause(s) judged, %.0f ms a call)",
                    end.value, last.probability, last.at_s, len(verdicts), sum(v.ms for v in verdicts) / len(verdicts),
                )
            else:
                log.info("turn ended by %s", end.value)
            await self.turns.release(end, last.probability if last is not None else None)
        except AssistantError as exc:
            log.warning("end of speech: %s", exc.message)

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _answered_by_voice(turn: TurnRecord) -> bool:
    return bool(turn.source == "voice" and turn.reply and not turn.interrupted and not turn.error)


class WakeMethods:
    """The control socket's wake.* methods; `get` is the daemon's wake word trigger (None without audio)."""

    def __init__(self, get: Callable[[], HandsFree | None]) -> None:
        self.get = get

    def _handsfree(self) -> HandsFree:
        found = self.get()
        if found is None:
            raise AssistantError("the daemon runs without audio (--no-audio), so there is no wake word", "no_audio")
        return found

    @method("wake.on")
    async def on(self) -> WakeStatus:
        return await self._handsfree().set(True)

    @method("wake.off")
    async def off(self) -> WakeStatus:
        return await self._handsfree().set(False)

    @method("wake.status")
    async def status(self) -> WakeStatus:
        return self._handsfree().status()
