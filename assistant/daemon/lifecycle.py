"""The daemon's lifecycle: startup → serve → shutdown, on one asyncio loop, with systemd notification."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from typing import Any

from assistant.api.protocol import Event
from assistant.config.settings import Config
from assistant.core.errors import AssistantError
from assistant.core.paths import make_private_dir
from assistant.daemon.control import Control
from assistant.daemon.liveness import pipeline_stuck, stuck_after_s
from assistant.daemon.notify import Notifier
from assistant.daemon.server import ControlServer
from assistant.daemon.systemd import SystemdNotifier
from assistant.daemon.wiring import start_alarms
from assistant.tools.mcp import McpServers
from assistant.tools.methods import tool_methods
from assistant.triggers.handsfree import control_methods as wake_methods
from assistant.turn.assistant import Assistant
from assistant.turn.turns import Turns
from assistant.vram.meter import Meter

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
        self.wyoming: Any = None  # the Wyoming server, when config.toml turns it on
        self.handsfree: Any = None  # the wake word trigger, when there is audio
        self._hotkey_tasks: list[asyncio.Task[None]] = []
        self.mcp: McpServers | None = None
        self._warming: asyncio.Task[None] | None = None
        self._signals = 0
        self._control: Control | None = None
        self._reloads: set[asyncio.Task[None]] = set()  # held, so a reload in flight is not collected
        self._last_event = time.monotonic()  # the latest state change or event: progress, for the watchdog

    def emit(self, event: str, data: dict[str, Any]) -> None:
        self._last_event = time.monotonic()
        if self.handsfree is not None:
            self.handsfree.on_event(event, data)
        if self.server is not None:
            self.server.broadcast(Event(event, data))
        if event == "turn" and data.get("error"):
            self.desktop.send("Assistant: the turn failed", str(data["error"]))
        elif event == "llm":
            self.desktop.send("Assistant", f"LLM switched to {data['id']}")
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
        # SIGHUP (a closed terminal, `systemctl --user reload`) reloads the config instead of killing us.
        loop.add_signal_handler(signal.SIGHUP, self._on_hangup)
        # The conversation lives in these: 0700, whatever the umask or an older version left.
        for path in (self.config.paths.state_dir, self.config.paths.data_dir, self.config.paths.replies_dir):
            make_private_dir(path)
        self.assistant = Assistant.create(self.config, self.meter, on_event=lambda e: self.emit("vram", e))
        if self.want_audio:
            self.audio = await _open_audio(self.config, self.emit)
        self.turns = Turns(self.assistant, self.audio, self.emit)
        if self.audio is not None:
            self.handsfree = _handsfree(self.config, self.audio, self.turns, self.emit)
        # MCP tool servers connect in the background: one that is down never delays the start or a turn.
        self.mcp = McpServers(self.config.settings.mcp, self.assistant.tools, self.emit)
        self.mcp.start()
        self.turns.dismiss_alarm = start_alarms(self.assistant, self.turns, self.audio, self.desktop, self.emit)
        control = self._control = Control(
            self.turns,
            self.audio,
            self.emit,
            self.stopping.set,
            self.started,
            extra={
                **tool_methods(self.assistant.alarms, self.assistant.tools),
                "mcp.status": self.mcp.methods_status,
                **wake_methods(lambda: self.handsfree),
            },
            status_parts={"wake": lambda: self.handsfree.status() if self.handsfree is not None else None},
        )
        self.server = ControlServer(self.config.paths.socket, control.handle)
        await self.server.start()
        log.info("listening on %s", self.config.paths.socket)
        self.wyoming = await _start_wyoming(self.config, self.assistant)
        self.assistant.arbiter.start_idle_ttl()
        if self.want_hotkeys:
            self._hotkey_tasks = _start_hotkeys(self.config, self.turns)
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
        try:
            # The system prompt (and the tools it offers) into the LLM's cache: the first typed `ask`
            # then evaluates only its own words, as a voice turn does after the press's prefill.
            await self.assistant.pipeline.prefill(models.llm)
        except AssistantError as exc:
            log.info("no prefill at start: %s", exc)

    def _on_signal(self, sig: signal.Signals) -> None:
        self._signals += 1
        if self._signals > 1 and sig == signal.SIGINT:
            log.error("second interrupt: exiting now")
            os._exit(130)  # workers are daemonic children of a dying parent and see EOF on their pipe
        log.info("received %s; shutting down", sig.name)
        self.stopping.set()

    def _on_hangup(self) -> None:
        if self._control is not None:
            task = asyncio.get_running_loop().create_task(self._reload())
            self._reloads.add(task)
            task.add_done_callback(self._reloads.discard)

    async def _reload(self) -> None:
        assert self._control is not None
        try:
            result = await self._control.config_reload({})
        except AssistantError as exc:
            log.error("SIGHUP: %s", exc.message)
        else:
            log.info("SIGHUP: reloaded %s", ", ".join(result["reloaded"]))

    async def shutdown(self) -> None:
        for task in [*self._hotkey_tasks, self._warming]:
            if task is not None:
                task.cancel()
        if self.server is not None:
            await self.server.close()  # the socket goes first: clients see "not running" at once
        if self.wyoming is not None:
            await self.wyoming.close()
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
        if self.mcp is not None:
            await self.mcp.stop()
        if self.handsfree is not None:
            await self.handsfree.close()
        if self.assistant is not None:
            await self.assistant.alarms.close()  # before the turns: an alarm must not speak through closed Turns
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
            # A stuck pipeline is as dead to the user as a dead loop: stop pinging and let systemd restart us.
            if self.pipeline_stuck():
                log.error("the turn has made no progress for over %.0f s; not pinging the watchdog", self._stuck_s())
            else:
                self.systemd.notify("WATCHDOG=1")
            await asyncio.sleep(interval)

    def _stuck_s(self) -> float:
        config = self.assistant.config if self.assistant is not None else self.config  # as last reloaded
        return stuck_after_s(config.settings.workers.stall_s())

    def pipeline_stuck(self) -> bool:
        if self.turns is None or self.assistant is None:
            return False
        progress = [self._last_event, *(worker.last_message for worker in self.assistant.arbiter.workers)]
        return pipeline_stuck(self.turns.state, progress, time.monotonic(), self._stuck_s())


async def _open_audio(config: Config, emit: Any) -> Any:
    from assistant.audio.io import AudioIO

    audio = AudioIO(config.settings.audio, emit)
    await audio.open()
    return audio


async def _start_wyoming(config: Config, assistant: Assistant) -> Any:
    bind = config.settings.wyoming_bind
    if bind is None:
        return None
    from assistant.wyoming.server import start_wyoming

    return await start_wyoming(bind, assistant.arbiter, lambda: assistant.models)


def _handsfree(config: Config, audio: Any, turns: Turns, emit: Any) -> Any:
    from assistant.triggers.handsfree import HandsFree

    return HandsFree(config.settings.wake, audio, turns, config.settings.audio.max_utterance_s, emit)


def _start_hotkeys(config: Config, turns: Turns) -> list[asyncio.Task[None]]:
    from assistant.triggers.ptt import start_hotkeys

    return start_hotkeys(config.settings.hotkey, turns)


def run_daemon(config: Config) -> int:
    return asyncio.run(Daemon(config).run())
