"""Turn-taking in the daemon: push-to-talk states, one turn at a time, barge-in, and the turn log."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.audio.sinks import WavSink
from assistant.core.errors import AssistantError, AudioError
from assistant.core.events import Emit, StateChanged, TurnFinished, TurnState
from assistant.core.speech import Audio
from assistant.tools.media import pause_playing, resume
from assistant.turn.assistant import Assistant
from assistant.turn.dictation import Dictation
from assistant.turn.history import TurnRecord
from assistant.turn.latency import timeline
from assistant.turn.pipeline import AudioSink, TurnResult
from assistant.turn.while_held import WhileHeld

if TYPE_CHECKING:
    from assistant.audio.io import AudioIO

log = logging.getLogger(__name__)

# Replies written as WAV files (no output device) are kept this many at most, the newest.
KEEP_REPLIES = 50


def prune_replies(directory: Path, keep: int) -> None:
    """Remove all but the `keep` newest reply WAVs (a few dozen files: listing them is cheap)."""
    try:
        wavs = sorted(directory.glob("*.wav"), key=lambda p: p.stat().st_mtime)
    except OSError:
        return  # a file removed while listing: prune at the next reply
    for old in wavs[: max(0, len(wavs) - keep)]:
        old.unlink(missing_ok=True)

class Turns:
    def __init__(
        self,
        assistant: Assistant,
        audio: AudioIO | None,
        emit: Emit,
        dismiss_alarm: Callable[[], bool] = lambda: False,
        overlap: bool = True,
        dictation: Dictation | None = None,
    ) -> None:
        self.assistant = assistant
        self.audio = audio  # AudioIO, or None when the daemon runs without sound devices
        self.emit = emit
        self.state = TurnState.IDLE  # written only by set_state: the rest hear of it as a StateChanged event
        self.last_turn: dict[str, Any] | None = None
        self.lock = asyncio.Lock()  # one turn at a time; also held while switching models
        # Everything that will speak (turns, `say`), queued or running: a press interrupts all of it.
        self._speaking: set[asyncio.Task[Any]] = set()
        self._closed = False
        # Stops a ringing timer or reminder, True if one rang (that press does nothing else).
        self.dismiss_alarm = dismiss_alarm
        self.dictation = dictation  # None: no dictation (an offline run)
        self._paused_media: list[str] = []  # the players a dictation paused, to resume at its end
        # Transcribe and prefill while the key is held (False: everything waits for the release, as a baseline).
        self.overlap = overlap
        self._listening: WhileHeld | None = None
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

    def _settle(self) -> None:
        """Back to idle after a turn, unless a barge-in already started listening (or dictating)."""
        if self.state not in (TurnState.LISTENING, TurnState.DICTATING):
            self.set_state(TurnState.IDLE)

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

    async def press(self, preroll_s: float | None = None) -> dict[str, Any]:
        """Start listening; `preroll_s` (the wake word's) overrides how much audio from before the press is kept."""
        if self.state == TurnState.LISTENING:
            return {"state": self.state}
        if self.state == TurnState.DICTATING:
            raise AssistantError("dictating; let go of the dictation key first", code="busy")
        if self.dismiss_alarm():
            await self.interrupt()  # and its announcement, if it is still speaking
            return {"state": self.state, "dismissed": True}
        if self.audio is None or self.audio.input_problem:
            problem = self.audio.input_problem if self.audio else "the daemon runs without audio"
            self._earcon("error")
            raise AudioError(f"cannot listen: {problem}")
        # Barge-in: stop speaking, but start recording before waiting for the turn to wind down,
        # so the first words after the press are not lost.
        stopping = self._cancel_speaking()
        self._presses += 1
        press = self._presses
        await self.audio.start_capture(preroll_s)
        self._earcon("start")
        self.set_state(TurnState.LISTENING)
        # Load the ASR while the user speaks, so it is ready when the key goes up.
        self._chore(self._warm_asr())
        await asyncio.gather(*stopping, return_exceptions=True)
        if self.overlap and self.listening and press == self._presses:
            # After the barge-in wound down, so the prefill sees the history with what was heard.
            self._stop_listening()
            self._listening = WhileHeld(
                self.assistant.pipeline, self.assistant.models, self.audio, self.assistant.config.settings.answer_ahead
            )
            self._listening.start()
        return {"state": self.state}

    async def release(self) -> dict[str, Any]:
        if self.state != TurnState.LISTENING:
            raise AssistantError("not listening; press first (`assistant ptt press`)", code="not_listening")
        released = time.perf_counter()
        assert self.audio is not None  # listening needs a microphone: press() refused without one
        listening, self._listening = self._listening, None
        if listening is not None:
            listening.stop()
        audio = await self.audio.stop_capture()
        self._earcon("stop")
        self.set_state(TurnState.THINKING)
        turn_id = uuid.uuid4().hex[:12]
        self._spawn(self.run_turn(turn_id, audio=audio, listening=listening, released=released))
        return {"state": self.state, "turn": turn_id, "audio_seconds": round(len(audio) / 16000, 2)}

    # ---------------------------------------------------------------- dictation

    async def dictate_press(self) -> dict[str, Any]:
        """Start a dictation: the same microphone and pre-roll as a press, but the words will be typed."""
        if self.dictation is None:
            raise AssistantError("dictation is not available in this daemon", code="no_dictation")
        if self.state == TurnState.DICTATING:
            return {"state": self.state}
        if self.state == TurnState.LISTENING:
            raise AssistantError("listening for a question; let go of the push-to-talk key first", code="busy")
        if self.audio is None or self.audio.input_problem:
            problem = self.audio.input_problem if self.audio else "the daemon runs without audio"
            self._earcon("error")
            raise AudioError(f"cannot dictate: {problem}")
        await asyncio.gather(*self._cancel_speaking(), return_exceptions=True)  # no reply talks over it
        await self.audio.start_capture()
        self.dictation.begin(self.audio, self.assistant.models)
        self._earcon("start")
        self.set_state(TurnState.DICTATING)
        if self.dictation.settings.pause_media:
            self._paused_media = await asyncio.to_thread(pause_playing)
        return {"state": self.state, "paused_media": len(self._paused_media)}

    async def _resume_media(self) -> None:
        paused, self._paused_media = self._paused_media, []
        await asyncio.to_thread(resume, paused)

    async def dictate_release(self) -> dict[str, Any]:
        """Stop, transcribe, shape and type; the result says what was typed and with which method."""
        if self.state != TurnState.DICTATING or self.dictation is None or self.audio is None:
            raise AssistantError("not dictating; press first (`assistant dictate press`)", code="not_dictating")
        self.dictation.stop()
        audio = await self.audio.stop_capture()
        self._earcon("stop")
        self.set_state(TurnState.THINKING)  # transcribing and typing: a new press may start meanwhile
        await self._resume_media()
        try:
            result = await self.dictation.finish(audio, self.assistant.models)
        finally:
            self._settle()
        if result.nothing_heard:
            self._earcon("nothing")
        elif result.error:
            self._earcon("error")
        return result.to_dict()

    async def dictate_toggle(self) -> dict[str, Any]:
        return await (self.dictate_release() if self.state == TurnState.DICTATING else self.dictate_press())

    async def dictate_cancel(self) -> dict[str, Any]:
        if self.state != TurnState.DICTATING or self.audio is None or self.dictation is None:
            return {"cancelled": False}
        self.dictation.cancel()
        self.audio.cancel_capture()
        self.set_state(TurnState.IDLE)
        await self._resume_media()
        return {"cancelled": True}

    async def toggle(self) -> dict[str, Any]:
        return await (self.release() if self.state == TurnState.LISTENING else self.press())

    async def cancel(self) -> dict[str, Any]:
        was = self.state
        if self.state == TurnState.LISTENING and self.audio is not None:
            self.audio.cancel_capture()
        self._stop_listening()
        await self.interrupt()
        self.set_state(TurnState.IDLE)
        return {"cancelled": was != TurnState.IDLE}

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
            await self.assistant.arbiter.ensure(self.assistant.models.asr)
        except AssistantError as exc:
            log.warning("could not load the ASR at the press: %s", exc)

    def _earcon(self, name: str) -> None:
        if self.audio is not None:
            self.audio.earcon(name)

    # ---------------------------------------------------------------- turns

    async def ask(self, text: str, speak: bool = True) -> dict[str, Any]:
        turn_id = uuid.uuid4().hex[:12]
        task = self._spawn(self.run_turn(turn_id, text=text, speak=speak))
        try:
            record: dict[str, Any] = await asyncio.shield(task)
        except asyncio.CancelledError:
            if not task.cancelled():
                raise  # our caller went away (shutdown); the turn was not cancelled
            raise AssistantError("the turn was cancelled before it started", code="cancelled") from None
        if record.get("error"):
            raise AssistantError(record["error"], code=record.get("error_code") or "turn_failed")
        return record

    async def say(self, text: str) -> dict[str, Any]:
        task = self._spawn(self._say(text))
        try:
            result: dict[str, Any] = await asyncio.shield(task)
        except asyncio.CancelledError:
            if not task.cancelled():
                raise
            return {"spoken": True, "interrupted": True, "audio_path": None}
        return result

    async def _say(self, text: str) -> dict[str, Any]:
        sink, wav = self._sink(f"say-{time.time_ns()}", speak=True)
        async with self.lock:
            self.set_state(TurnState.SPEAKING)
            try:
                await self.assistant.pipeline.say(text, self.assistant.models.tts, sink)
            finally:
                self._settle()
        return {"spoken": wav is None, "interrupted": False, "audio_path": str(wav.path) if wav else None}

    async def run_turn(
        self,
        turn_id: str,
        audio: Audio | None = None,
        text: str | None = None,
        speak: bool = True,
        listening: WhileHeld | None = None,
        released: float | None = None,
    ) -> dict[str, Any]:
        started = time.time()
        result = TurnResult(id=turn_id)
        sink, wav = self._sink(turn_id, speak) if speak else (None, None)
        error: AssistantError | None = None
        async with self.lock:
            self.set_state(TurnState.THINKING)
            try:
                await self.assistant.pipeline.turn(
                    self.assistant.models,
                    sink,
                    audio=audio,
                    text=text,
                    on_state=self.set_state,
                    result=result,
                    started=released,
                    transcribe=listening.finish if listening is not None else None,
                    ahead=listening.ahead if listening is not None else None,
                )
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
                if listening is not None:
                    await listening.settle()
                    listening.annotate(result.timings)
                if text is None and not result.nothing_heard:
                    log.info("%s", timeline(turn_id, result.timings.as_dict()))
                record = self._record(result, started, error, wav, "text" if text is not None else "voice")
        if not self._closed:
            # Keep the ASR ready for the next press, if it fits without evicting anything.
            self._chore(self._keep_asr())
        return record

    async def _keep_asr(self) -> None:
        try:
            await self.assistant.arbiter.ensure(self.assistant.models.asr, evict=False)
        except AssistantError as exc:
            log.info("ASR not kept resident: %s", exc)

    def _sink(self, name: str, speak: bool) -> tuple[AudioSink, WavSink | None]:
        if speak and self.audio is not None and not self.audio.output_problem:
            return self.audio.sink(), None
        replies = self.assistant.config.paths.replies_dir
        prune_replies(replies, KEEP_REPLIES - 1)
        wav = WavSink(replies / f"{name}.wav")
        return wav, wav

    def _record(
        self, result: TurnResult, started: float, error: AssistantError | None, wav: WavSink | None, source: str
    ) -> dict[str, Any]:
        audio_path = str(wav.path) if wav is not None and wav.path.exists() else None
        record = TurnRecord(
            id=result.id,
            started=started,
            transcript=result.transcript,
            reply=result.reply,
            full_reply=result.full_reply,
            timings=result.timings.as_dict(),
            llm=result.llm,
            interrupted=result.interrupted,
            nothing_heard=result.nothing_heard,
            error=error.message if error else None,
            error_code=error.code if error else None,
            audio_path=audio_path,
            source=source,
            tools=[call.to_dict() for call in result.tools],
        )
        try:
            self.assistant.history.append(record)
        except OSError as exc:
            log.error("cannot append to the history file: %s", exc)
        self.last_turn = record.to_dict()
        self.emit(TurnFinished(self.last_turn))
        return self.last_turn
