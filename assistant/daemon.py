"""The daemon's lifecycle: startup → serve → shutdown, on one asyncio loop, with systemd notification."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from typing import Any

from .config import Config
from .control import Control
from .errors import AssistantError
from .gpu import Meter
from .notify import Notifier
from .protocol import Event
from .server import ControlServer
from .session import Assistant
from .systemd import SystemdNotifier
from .turns import Turns

log = logging.getLogger(__name__)

SHUTDOWN_TIMEOUT_S = 4.0


class Daemon:
    def __init__(self, config: Config, meter: Meter | None = None, audio: bool = True, hotkeys: bool = True) -> None:
        self.config = config
        self.meter = meter
        self.want_audio = audio
        self.want_hotkeys = hotkeys
        self.stopping = asyncio.Event()
        self.started = time.time()
        self.systemd = SystemdNotifier()
        self.desktop = Notifier(enabled=config.settings.notifications)
        self.server: ControlServer | None = None
        self.assistant: Assistant | None = None
        self.turns: Turns | None = None
        self.audio: Any = None
        self.handsfree: Any = None  # the wake word trigger, when there is audio
        self._hotkey_tasks: list[asyncio.Task[None]] = []
        self._warming: asyncio.Task[None] | None = None
        self._signals = 0

    def emit(self, event: str, data: dict[str, Any]) -> None:
        if self.handsfree is not None:
            self.handsfree.on_event(event, data)
        if self.server is not None:
            self.server.broadcast(Event(event, data))
        if event == "turn" and data.get("error"):
            self.desktop.send("Assistant: the turn failed", str(data["error"]))
        elif event == "audio":
            for problem in (data.get("input_problem"), data.get("output_problem")):
                if problem:
                    self.desktop.send("Assistant: audio device", str(problem))

    async def run(self) -> int:
        try:
            await self.startup()
        except Exception as exc:  # AssistantError, or an OSError binding the socket: still one line
            # One line and exit 1, so systemd's Restart= can do its job.
            message = exc.message if isinstance(exc, AssistantError) else f"{type(exc).__name__}: {exc}"
            log.debug("startup failed", exc_info=True)
            print(f"error: {message}", flush=True)
            await self.shutdown()
            return 1
        self.systemd.notify("READY=1\nSTATUS=listening on " + str(self.config.paths.socket))
        watchdog = asyncio.get_running_loop().create_task(self._watchdog())
        await self.stopping.wait()
        watchdog.cancel()
        self.systemd.notify("STOPPING=1")
        await self.shutdown()
        return 0

    async def startup(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_signal, sig)
        self.assistant = Assistant.create(self.config, self.meter, on_event=lambda e: self.emit("vram", e))
        if self.want_audio:
            self.audio = await _open_audio(self.config, self.emit)
        self.turns = Turns(self.assistant, self.audio, self.emit)
        if self.audio is not None:
            self.handsfree = _handsfree(self.config, self.audio, self.turns, self.emit)
        control = Control(self)
        self.server = ControlServer(self.config.paths.socket, control.handle)
        await self.server.start()
        log.info("listening on %s", self.config.paths.socket)
        self.assistant.arbiter.start_idle_ttl()
        if self.want_hotkeys:
            self._hotkey_tasks = _start_hotkeys(self)
        if self.handsfree is not None:
            await self.handsfree.start()
        # Loading happens after READY: a first load on a big model can outlast systemd's start timeout.
        self._warming = loop.create_task(self._warm())

    async def _warm(self) -> None:
        """The ASR first, so the first press is not slow; then the LLM and the voice where they fit."""
        assert self.assistant is not None
        models = self.assistant.models
        for model_id, evict in ((models.asr, True), (models.llm, False), (models.tts, False)):
            try:
                await self.assistant.arbiter.ensure(model_id, evict=evict)
            except AssistantError as exc:
                log.warning("could not preload %s: %s", model_id, exc)

    def _on_signal(self, sig: signal.Signals) -> None:
        self._signals += 1
        if self._signals > 1 and sig == signal.SIGINT:
            log.error("second interrupt: exiting now")
            os._exit(130)  # workers are daemonic children of a dying parent and see EOF on their pipe
        log.info("received %s; shutting down", sig.name)
        self.stopping.set()

    async def shutdown(self) -> None:
        for task in [*self._hotkey_tasks, self._warming]:
            if task is not None:
                task.cancel()
        if self.server is not None:
            await self.server.close()  # the socket goes first: clients see "not running" at once
        try:
            await asyncio.wait_for(self._stop_work(), SHUTDOWN_TIMEOUT_S)
        except asyncio.TimeoutError:
            log.error("shutdown took longer than %.0f s; killing workers", SHUTDOWN_TIMEOUT_S)
            if self.assistant is not None:
                self.assistant.arbiter.kill_all()
        if self.audio is not None:
            self.audio.close()
        log.info("stopped")

    async def _stop_work(self) -> None:
        if self.handsfree is not None:
            await self.handsfree.close()
        if self.turns is not None:
            if self.audio is not None:
                self.audio.cancel_capture()
            await self.turns.close()
        if self.assistant is not None:
            await self.assistant.close()

    async def _watchdog(self) -> None:
        interval = self.systemd.watchdog_interval()
        if interval is None:
            return
        while True:
            self.systemd.notify("WATCHDOG=1")
            await asyncio.sleep(interval)


async def _open_audio(config: Config, emit: Any) -> Any:
    from .audio.io import AudioIO

    audio = AudioIO(config.settings.audio, emit)
    await audio.open()
    return audio


def _handsfree(config: Config, audio: Any, turns: Turns, emit: Any) -> Any:
    from .handsfree import HandsFree

    return HandsFree(config.settings.wake, audio, turns, config.settings.audio.max_utterance_s, emit)


def _start_hotkeys(daemon: Daemon) -> list[asyncio.Task[None]]:
    from .hotkey.ptt import start_hotkeys

    return start_hotkeys(daemon)


def run_daemon(config: Config) -> int:
    return asyncio.run(Daemon(config).run())
