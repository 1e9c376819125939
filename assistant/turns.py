"""Turn-taking in the daemon: push-to-talk states, one turn at a time, barge-in, and the turn log."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from .audio.sinks import WavSink
from .errors import AssistantError, AudioError
from .history import TurnRecord
from .pipeline import AudioSink, TurnResult
from .session import Assistant

log = logging.getLogger(__name__)

State = str  # idle | listening | thinking | speaking


class Turns:
    def __init__(self, assistant: Assistant, audio: Any, emit: Callable[[str, dict[str, Any]], None]) -> None:
        self.assistant = assistant
        self.audio = audio  # AudioIO, or None when the daemon runs without sound devices
        self.emit = emit
        self.state: State = "idle"
        self.last_turn: dict[str, Any] | None = None
        self.lock = asyncio.Lock()  # one turn at a time; also held while switching models
        self._task: asyncio.Task[TurnResult] | None = None
        self._current: asyncio.Task[Any] | None = None  # the turn holding the lock
        self._asr_warm: asyncio.Task[Any] | None = None

    def set_state(self, state: State) -> None:
        if state != self.state:
            self.state = state
            self.emit("state", {"state": state})

    # ---------------------------------------------------------------- push-to-talk

    async def press(self) -> dict[str, Any]:
        if self.state == "listening":
            return {"state": self.state}
        await self.interrupt()  # barge-in: a press while the assistant speaks stops it first
        if self.audio is None or self.audio.input_problem:
            problem = self.audio.input_problem if self.audio else "the daemon runs without audio"
            self._earcon("error")
            raise AudioError(f"cannot listen: {problem}")
        await self.audio.start_capture()
        self._earcon("start")
        self.set_state("listening")
        # Load the ASR while the user speaks, so it is ready when the key goes up.
        self._asr_warm = asyncio.get_running_loop().create_task(self._warm_asr())
        return {"state": self.state}

    async def release(self) -> dict[str, Any]:
        if self.state != "listening":
            raise AssistantError("not listening; press first (`assistant ptt press`)", code="not_listening")
        audio = await self.audio.stop_capture()
        self._earcon("stop")
        self.set_state("thinking")
        turn_id = uuid.uuid4().hex[:12]
        self._task = asyncio.get_running_loop().create_task(self.run_turn(turn_id, audio=audio))
        return {"state": self.state, "turn": turn_id, "audio_seconds": round(len(audio) / 16000, 2)}

    async def toggle(self) -> dict[str, Any]:
        return await (self.release() if self.state == "listening" else self.press())

    async def cancel(self) -> dict[str, Any]:
        was = self.state
        if self.state == "listening" and self.audio is not None:
            self.audio.cancel_capture()
        await self.interrupt()
        self.set_state("idle")
        return {"cancelled": was != "idle"}

    async def interrupt(self) -> None:
        """Stop the turn in flight (generation, synthesis and playback) and wait until it has stopped."""
        task = self._current
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

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
        self._task = asyncio.get_running_loop().create_task(self.run_turn(turn_id, text=text, speak=speak))
        try:
            await asyncio.shield(self._task)
        except asyncio.CancelledError:
            if not self._task.cancelled():
                raise
        assert self.last_turn is not None
        if self.last_turn.get("error"):
            raise AssistantError(self.last_turn["error"], code=self.last_turn.get("error_code") or "turn_failed")
        return self.last_turn

    async def run_turn(self, turn_id: str, audio: Any = None, text: str | None = None, speak: bool = True) -> TurnResult:
        started = time.time()
        result = TurnResult(id=turn_id)
        sink, wav = self._sink(turn_id, speak)
        error: AssistantError | None = None
        async with self.lock:
            self._current = asyncio.current_task()
            self.set_state("thinking")
            try:
                await self.assistant.pipeline.turn(
                    self.assistant.models, sink, audio=audio, text=text, on_state=self.set_state, result=result
                )
                if result.nothing_heard:
                    self._earcon("nothing")
            except asyncio.CancelledError:
                result.interrupted = True
            except AssistantError as exc:
                error = exc
                self._earcon("error")
            finally:
                self._current = None
                self.set_state("idle")
                self._record(result, started, error, wav, "text" if text is not None else "voice")
        # Keep the ASR ready for the next press, if it fits without evicting what is in use.
        asyncio.get_running_loop().create_task(self._keep_asr())
        return result

    async def _keep_asr(self) -> None:
        try:
            await self.assistant.arbiter.ensure(self.assistant.models.asr, evict=False)
        except AssistantError as exc:
            log.info("ASR not kept resident: %s", exc)

    def _sink(self, turn_id: str, speak: bool) -> tuple[AudioSink, WavSink | None]:
        if speak and self.audio is not None and not self.audio.output_problem:
            return self.audio.sink(), None
        wav = WavSink(self.assistant.config.paths.replies_dir / f"{turn_id}.wav")
        return wav, wav if speak else None

    def _record(
        self, result: TurnResult, started: float, error: AssistantError | None, wav: WavSink | None, source: str
    ) -> None:
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
        )
        try:
            self.assistant.history.append(record)
        except OSError as exc:
            log.error("cannot append to the history file: %s", exc)
        self.last_turn = record.to_dict()
        self.emit("turn", self.last_turn)
