"""The daemon's lifecycle: startup → serve → shutdown, on one asyncio loop, with systemd notification."""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from typing import TYPE_CHECKING

from assistant.api.protocol import Event
from assistant.config.settings import Config, Settings
from assistant.core.errors import AssistantError
from assistant.core.events import AudioChanged, DaemonEvent, LlmSwitched, TurnFinished
from assistant.core.paths import make_private_dir
from assistant.daemon.control import Control
from assistant.daemon.liveness import ping_watchdog, pipeline_stuck, stuck_after_s
from assistant.daemon.logfile import close_log_file, log_refusal, open_log_file
from assistant.daemon.notify import Notifier
from assistant.daemon.replies import ApiStatus
from assistant.daemon.ready import readiness, ready_lines
from assistant.daemon.server import ControlServer
from assistant.daemon.steps import Step, undo
from assistant.daemon.systemd import SystemdNotifier, restart_command
from assistant.daemon.tray import TrayChild
from assistant.tools.mcp import McpServers
from assistant.tools.methods import AlarmMethods
from assistant.tools.ringer import Ringer
from assistant.triggers.handsfree import WakeMethods
from assistant.turn.assistant import Assistant
from assistant.turn.dictation import Dictation
from assistant.turn.turns import Turns
from assistant.vram.meter import Meter

if TYPE_CHECKING:
    from assistant.audio.io import AudioIO
    from assistant.openai_api.server import ApiServer
    from assistant.triggers.handsfree import HandsFree
    from assistant.triggers.ptt import Hotkeys
    from assistant.wyoming.server import WyomingServer

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
        self.audio: AudioIO | None = None  # None without sound devices (--no-audio)
        self.wyoming: WyomingServer | None = None  # the Wyoming server, when config.toml turns it on
        self.api: ApiServer | None = None  # the OpenAI-compatible API, likewise
        self.tray: TrayChild | None = None  # `assistant tray`, in a graphical session
        self.handsfree: HandsFree | None = None  # the wake word trigger, when there is audio
        self.ringer: Ringer | None = None
        self.hotkeys: Hotkeys | None = None
        self.dictation_key: Hotkeys | None = None
        self.mcp: McpServers | None = None
        self._warming: asyncio.Task[None] | None = None
        self._signals = 0
        self._control: Control | None = None
        self._reloads: set[asyncio.Task[None]] = set()  # held, so a reload in flight is not collected
        self._hurry = asyncio.Event()  # a second Ctrl+C: stop without the graceful waits
        self._started_steps: list[Step] = []
        self._log_handler: logging.Handler | None = None
        self._last_event = time.monotonic()  # the latest state change or event: progress, for the watchdog

    def emit(self, event: DaemonEvent) -> None:
        self._last_event = time.monotonic()
        if self.handsfree is not None:
            self.handsfree.on_event(event)
        if self.server is not None:
            self.server.broadcast(Event(event.name, event.data()))
        if isinstance(event, TurnFinished) and event.error:
            self.desktop.send("Assistant: the turn failed", event.error)
        elif isinstance(event, LlmSwitched):
            self.desktop.send("Assistant", f"LLM switched to {event.id}")
        elif isinstance(event, AudioChanged):
            for problem in event.problems:
                self.desktop.send("Assistant: audio device", problem)

    async def run(self) -> int:
        try:
            await self.startup()
        except Exception as exc:  # AssistantError, or an OSError binding the socket: still one line
            # One line and exit 1, so systemd's Restart= can do its job.
            message = exc.message if isinstance(exc, AssistantError) else f"{type(exc).__name__}: {exc}"
            log.debug("startup failed", exc_info=True)
            print(f"error: {message}", flush=True)
            log_refusal(self.config.paths.log_file, message)
            await self.shutdown()
            return 1
        self.systemd.notify("READY=1\nSTATUS=listening on " + str(self.config.paths.socket))
        assert self.assistant is not None
        servers = ((f"Wyoming on {self.wyoming.uri}",) if self.wyoming else ()) + (
            (f"the OpenAI-compatible API on {self.api.url}/v1",) if self.api else ())
        ready = readiness(self.config.paths, self.assistant.models, self.audio, self.hotkeys, servers)
        print("\n".join(ready_lines(ready, self.config.catalog)), flush=True)
        watchdog = asyncio.get_running_loop().create_task(ping_watchdog(self.systemd, self.pipeline_stuck, self._stuck_s))
        await self.stopping.wait()
        watchdog.cancel()
        self.systemd.notify("STOPPING=1")
        await self.shutdown()
        print("assistant: stopped", flush=True)
        return 0

    def _steps(self) -> list[Step]:
        """Startup, in order; shutdown undoes the steps that ran, in the reverse order.

        The control socket opens last so that it closes first: from the first moment of a shutdown a
        client is told "not running" instead of waiting on a daemon that is going away.
        """
        return [
            Step("signals", self._handle_signals),
            Step("private directories", self._private_dirs),
            Step("log file", self._open_log, self._close_log),
            Step("models", self._models, self._close_models),
            Step("audio devices", self._open_audio, self._close_audio),
            Step("turns", self._turns, self._close_turns),
            Step("wake word", self._wake_word, self._close_wake_word),
            Step("tool servers", self._tool_servers, self._close_tool_servers),
            Step("alarms", self._alarms, self._close_alarms),
            Step("wyoming and api servers", self._servers, self._close_servers),
            Step("idle unloading", self._idle_ttl),
            Step("hotkeys", self._hotkeys, self._close_hotkeys),
            Step("wake word listening", self._listen_for_wake_word),
            Step("control socket", self._control_socket, self._close_control_socket),
            Step("tray", self._tray, self._close_tray),
            # Loading happens after READY: a first load on a big model can outlast systemd's start timeout.
            Step("preloading", self._preload, self._stop_preload),
        ]

    async def startup(self) -> None:
        for step in self._steps():
            self._started_steps.append(step)
            await step.start()

    async def shutdown(self) -> None:
        """Undo the started steps, newest first, gracefully within SHUTDOWN_TIMEOUT_S.

        Past the deadline, or at a second Ctrl+C, the graceful waits are skipped: workers are killed and
        the rest of the steps close without waiting on them.
        """
        steps, self._started_steps = self._started_steps[::-1], []
        for worker in self.assistant.arbiter.workers if self.assistant is not None else ():
            worker.daemon_stopping = True
        graceful = asyncio.get_running_loop().create_task(undo(steps))
        hurry = asyncio.get_running_loop().create_task(self._hurry.wait())
        try:
            await asyncio.wait({graceful, hurry}, timeout=SHUTDOWN_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED)
        finally:
            hurry.cancel()
        if not graceful.done():
            why = "a second interrupt" if self._hurry.is_set() else f"shutdown took longer than {SHUTDOWN_TIMEOUT_S:.0f} s"
            log.error("%s; killing workers", why)
            graceful.cancel()
            await asyncio.gather(graceful, return_exceptions=True)
            if self.assistant is not None:
                self.assistant.arbiter.kill_all()
            if self.audio is not None:
                self.audio.close()  # the one step that must still run: it releases the sound devices
        log.info("stopped")

    # ---------------------------------------------------------------- the steps

    async def _handle_signals(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_signal, sig)
        # SIGHUP (a closed terminal, `systemctl --user reload`) reloads the config instead of killing us.
        loop.add_signal_handler(signal.SIGHUP, self._on_hangup)

    async def _private_dirs(self) -> None:
        # The conversation lives in these: 0700, whatever the umask or an older version left.
        for path in (self.config.paths.state_dir, self.config.paths.data_dir, self.config.paths.replies_dir):
            make_private_dir(path)

    async def _open_log(self) -> None:
        self._log_handler = open_log_file(self.config.paths.log_file)

    async def _close_log(self) -> None:
        if self._log_handler is not None:
            close_log_file(self._log_handler)

    async def _models(self) -> None:
        self.assistant = Assistant.create(self.config, self.meter, emit=self.emit)

    async def _close_models(self) -> None:
        if self.assistant is not None:
            await self.assistant.arbiter.shutdown()

    async def _open_audio(self) -> None:
        if self.want_audio:
            from assistant.audio.io import AudioIO

            self.audio = AudioIO(self.config.settings.audio, self.emit)
            await self.audio.open()

    async def _close_audio(self) -> None:
        if self.audio is not None:
            self.audio.close()

    async def _turns(self) -> None:
        assert self.assistant is not None
        self.ringer = ringer = Ringer(
            say=self._announce,
            earcon=self._earcon,
            notify=self.desktop.send,
            emit=self.emit,
            ring_s=lambda: self._live_settings().tools.alarm_ring_s,
            record=self.assistant.alarm_log,
        )
        dictation = Dictation.on_desktop(self.assistant.pipeline, self.config.settings.dictation, self.config.paths)
        self.turns = Turns(
            self.assistant,
            self.audio,
            self.emit,
            dismiss_alarm=self.ringer.dismiss,
            dictation=dictation,
            alarm_ringing=lambda: ringer.ringing,
        )

    async def _close_turns(self) -> None:
        if self.turns is not None:
            if self.audio is not None:
                self.audio.cancel_capture()
            await self.turns.close()

    async def _wake_word(self) -> None:
        if self.audio is not None and self.turns is not None:
            from assistant.triggers.handsfree import HandsFree

            settings = self.config.settings
            self.handsfree = HandsFree(
                settings.wake, self.audio, self.turns, settings.audio.max_utterance_s, self.emit, settings.turn
            )

    async def _close_wake_word(self) -> None:
        if self.handsfree is not None:
            await self.handsfree.close()

    async def _tool_servers(self) -> None:
        assert self.assistant is not None
        # MCP tool servers connect in the background: one that is down never delays the start or a turn.
        intents, tools = self.assistant.pipeline.intents, self.assistant.tools
        # A server's live context names the home's devices and areas for the Home Assistant intents.
        refresh = (lambda: intents.refresh_home(tools)) if intents is not None else None
        self.mcp = McpServers(self.config.settings.mcp, tools, self.emit, on_tools=refresh)
        self.mcp.start()

    async def _close_tool_servers(self) -> None:
        if self.mcp is not None:
            await self.mcp.stop()

    async def _alarms(self) -> None:
        assert self.assistant is not None and self.ringer is not None
        self.assistant.alarms.start(self.ringer.fire)  # late ones ring at once

    async def _close_alarms(self) -> None:
        if self.assistant is not None:
            await self.assistant.alarms.close()  # before the turns: an alarm must not speak through closed Turns

    async def _servers(self) -> None:
        """The Wyoming server and the OpenAI-compatible API, where config.toml turns them on."""
        bind, api = self.config.settings.wyoming_bind, self.config.settings.api
        assistant = self.assistant
        assert assistant is not None
        if bind is not None:
            from assistant.wyoming.server import start_wyoming

            self.wyoming = await start_wyoming(bind, assistant.arbiter, lambda: assistant.models)
        if api.listen.strip():
            from assistant.openai_api import start_api

            # The assistant model's turns keep a conversation apart from the desktop's (and out of its history).
            self.api = await start_api(api, assistant.arbiter, lambda: assistant.models, assistant.separate_pipeline())

    async def _close_servers(self) -> None:
        for server in (self.api, self.wyoming):
            if server is not None:
                await server.close()

    async def _tray(self) -> None:
        if self.config.settings.desktop.tray:
            self.tray = await TrayChild.start()

    async def _close_tray(self) -> None:
        if self.tray is not None:
            await self.tray.close()

    async def _idle_ttl(self) -> None:
        assert self.assistant is not None
        self.assistant.arbiter.start_idle_ttl()

    async def _hotkeys(self) -> None:
        if self.want_hotkeys and self.turns is not None:
            from assistant.triggers.ptt import start_dictation_key, start_hotkeys

            self.hotkeys = start_hotkeys(self.config.settings.hotkey, self.turns)
            settings = self.config.settings
            self.dictation_key = start_dictation_key(settings.dictation.key, settings.hotkey.sources, self.turns)

    async def _close_hotkeys(self) -> None:
        tasks = [task for keys in (self.hotkeys, self.dictation_key) if keys is not None for task in keys.tasks]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _listen_for_wake_word(self) -> None:
        if self.handsfree is not None:
            await self.handsfree.start()

    async def _control_socket(self) -> None:
        assert self.assistant is not None and self.turns is not None and self.mcp is not None
        control = self._control = Control(
            self.turns,
            self.audio,
            self.emit,
            self.stopping.set,
            self.started,
            groups=[AlarmMethods(self.assistant.alarms, self.assistant.alarm_log, self.assistant.tools), self.mcp, WakeMethods(lambda: self.handsfree)],
            wake_status=lambda: self.handsfree.status() if self.handsfree is not None else None,
            api_status=lambda: api_status(self.api) if self.api is not None else None,
            restart_command=restart_command(),
        )
        self.server = ControlServer(self.config.paths.socket, control.handle, control.specs)
        await self.server.start()
        log.info("listening on %s", self.config.paths.socket)

    async def _close_control_socket(self) -> None:
        if self.server is not None:
            await self.server.close()

    async def _preload(self) -> None:
        self._warming = asyncio.get_running_loop().create_task(self._warm())

    async def _stop_preload(self) -> None:
        if self._warming is not None:
            self._warming.cancel()
            await asyncio.gather(self._warming, return_exceptions=True)

    # ---------------------------------------------------------------- what the steps hand to the parts

    async def _announce(self, text: str) -> tuple[bool, str | None]:
        """An alarm's words, through the turns' say path (so a press interrupts them like any reply): whether
        the sound device played them, and the WAV they went to otherwise."""
        assert self.turns is not None
        said = await self.turns.say(text)
        return said.spoken, said.audio_path

    def _earcon(self, name: str) -> None:
        if self.audio is not None:
            self.audio.earcon(name)

    def _live_settings(self) -> Settings:
        """config.toml as last reloaded."""
        return (self.assistant.config if self.assistant is not None else self.config).settings

    async def _warm(self) -> None:
        assert self.assistant is not None
        await self.assistant.warm()

    def _on_signal(self, sig: signal.Signals) -> None:
        self._signals += 1
        if self._signals > 1 and sig == signal.SIGINT:
            log.error("second interrupt: not waiting for the parts to stop")
            self._hurry.set()  # shutdown skips its graceful waits: workers are killed at once
        log.info("received %s; shutting down", sig.name)
        self.stopping.set()

    def _on_hangup(self) -> None:
        if self._control is not None:
            task = asyncio.get_running_loop().create_task(self._control.reload_logged("SIGHUP"))
            self._reloads.add(task)
            task.add_done_callback(self._reloads.discard)

    def _stuck_s(self) -> float:
        return stuck_after_s(self._live_settings().workers.stall_s())

    def pipeline_stuck(self) -> bool:
        if self.turns is None or self.assistant is None:
            return False
        progress = [self._last_event, *(worker.last_message for worker in self.assistant.arbiter.workers)]
        return pipeline_stuck(self.turns.state, progress, time.monotonic(), self._stuck_s())


def api_status(api: ApiServer) -> ApiStatus:
    counts = api.counts
    return ApiStatus(api.url, api.keyed, counts.requests, counts.errors, counts.rejected, counts.in_flight,
                     counts.queued, counts.decoding, dict(counts.by_path), counts.sessions)
