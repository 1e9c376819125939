"""The control API's methods: each takes validated params and returns a JSON-able result."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from assistant.api.protocol import SUBSCRIBE, MethodSpec, Request, bind, declared, method, serve
from assistant.config.settings import Config, restart_only
from assistant.core.errors import AssistantError, ConfigError
from assistant.core.events import AudioStatus, Emit, LlmSwitched, WakeStatus
from assistant.core.records import NewConversation
from assistant.core.wire import to_json
from assistant.daemon.replies import (
    ApiStatus,
    ConfigReloaded,
    DaemonStatus,
    DeviceList,
    LlmCurrent,
    LlmEntry,
    Stopping,
    Subscribed,
)
from assistant.daemon.server import Connection
from assistant.engines.files import problem
from assistant.tools.mcp import McpServers
from assistant.tools.methods import AlarmMethods
from assistant.triggers.handsfree import WakeMethods
from assistant.turn.assistant import Assistant
from assistant.turn.dictation import Dictated
from assistant.turn.history import TurnRecord
from assistant.turn.latency import RECENT_TURNS, LatencySummary, summary
from assistant.turn.outcomes import Cancelled, DictationStarted, Pressed, Released, Said
from assistant.turn.turns import Turns
from assistant.vram.snapshot import VramSnapshot

if TYPE_CHECKING:
    from assistant.audio.io import AudioIO

log = logging.getLogger(__name__)


def method_specs() -> dict[str, MethodSpec]:
    """Every method the daemon serves: what the socket decodes requests against."""
    return declared(Control, AlarmMethods, McpServers, WakeMethods)


@dataclass(frozen=True)
class LlmUse:
    id: str


@dataclass(frozen=True)
class Ask:
    text: str
    speak: bool = True


@dataclass(frozen=True)
class Say:
    text: str


@dataclass(frozen=True)
class History:
    limit: int | None = None
    all: bool = False  # every conversation, not only the current one


class Control:
    """Given what it uses, not the daemon: the turns (and through them the assistant), the audio devices
    (None without sound), the daemon's event broadcast, a way to ask the daemon to stop, its start time,
    and the method groups of the parts the daemon runs beside the turns (timers, tool servers, the wake word)."""

    def __init__(
        self,
        turns: Turns,
        audio: AudioIO | None,
        emit: Emit,
        stop: Callable[[], None],
        started: float,
        groups: Iterable[object] = (),
        wake_status: Callable[[], WakeStatus | None] = lambda: None,
        api_status: Callable[[], ApiStatus | None] = lambda: None,
        restart_command: str = "",
    ) -> None:
        self.turns = turns
        self.audio = audio
        self.emit = emit
        self.stop = stop
        self.started = started
        # The parts the daemon runs beside the turns, read when `status` is asked (None: not running).
        self.wake_status = wake_status
        self.api_status = api_status
        self.restart_command = restart_command  # what a user runs to restart this daemon (systemd.py)
        # What the restart-only parts run with, whatever reloads came since: each reload is compared with it.
        self.running = turns.assistant.config.settings
        self.methods = bind(self, *groups)
        # Each method is declared on its handler; a group the daemon forgot to hand over is an error here,
        # at start, not an unknown method when a user first asks for it.
        missing = sorted(set(method_specs()) - set(self.methods) - {SUBSCRIBE.name})
        if missing:
            raise ValueError(f"socket methods without a handler: {', '.join(missing)}")
        self.specs = {name: m.spec for name, m in self.methods.items()} | {SUBSCRIBE.name: SUBSCRIBE}

    @property
    def assistant(self) -> Assistant:
        return self.turns.assistant

    async def handle(self, request: Request, conn: Connection) -> object:
        if request.method == SUBSCRIBE.name:
            conn.subscribe()
            return to_json(Subscribed(True, self.turns.state))
        return await serve(self.methods[request.method], request.params)

    @method("dictate.press")
    async def dictate_press(self) -> DictationStarted:
        return await self.turns.dictate_press()

    @method("dictate.release")
    async def dictate_release(self) -> Dictated:
        return await self.turns.dictate_release()

    @method("dictate.toggle")
    async def dictate_toggle(self) -> DictationStarted | Dictated:
        return await self.turns.dictate_toggle()

    @method("dictate.cancel")
    async def dictate_cancel(self) -> Cancelled:
        return await self.turns.dictate_cancel()

    @method("dictate.last")
    async def dictate_last(self) -> Dictated | None:
        """The last dictation, typed or not: its text is never dropped."""
        dictation = self.turns.dictation
        return dictation.last if dictation is not None else None

    @method("ptt.press")
    async def ptt_press(self) -> Pressed:
        return await self.turns.press()

    @method("ptt.release")
    async def ptt_release(self) -> Released:
        return await self.turns.release()

    @method("ptt.toggle")
    async def ptt_toggle(self) -> Pressed | Released:
        return await self.turns.toggle()

    @method("ptt.cancel")
    async def ptt_cancel(self) -> Cancelled:
        return await self.turns.cancel()

    @method("status")
    async def status(self) -> DaemonStatus:
        snapshot = self.assistant.arbiter.snapshot()
        audio = self.audio
        return DaemonStatus(
            state=self.turns.state,
            pid=os.getpid(),
            uptime_s=round(time.time() - self.started, 1),
            models=replace(self.assistant.models),
            llm=self.assistant.models.llm,
            vram=snapshot.figures,
            resident=snapshot.resident,
            last_turn=self.turns.last_turn,
            audio=audio.status() if audio else AudioStatus(input_problem="audio disabled", output_problem="audio disabled"),
            conversation=self.assistant.history.conversation,
            # Release → first reply audio over the recent voice turns (from the turn log: survives restarts).
            latency=await asyncio.to_thread(self._latency),
            wake=self.wake_status(),
            api=self.api_status(),
        )

    def _latency(self) -> LatencySummary:
        return summary(self.assistant.history.turns(limit=RECENT_TURNS))

    @method("llm.list")
    async def llm_list(self) -> list[LlmEntry]:
        catalog = self.assistant.config.catalog
        snapshot = self.assistant.arbiter.snapshot()
        return [
            LlmEntry(
                id=spec.id,
                current=spec.id == self.assistant.models.llm,
                vram_gb=spec.vram_gb,
                measured_gb=snapshot.row(spec.id).measured_gb,
                state=snapshot.row(spec.id).state,
                present=problem(spec, self.assistant.config.paths.models_dir) is None,
                description=spec.description,
            )
            for spec in catalog.of_kind("llm")
        ]

    @method("llm.current")
    async def llm_current(self) -> LlmCurrent:
        model_id = self.assistant.models.llm
        spec = self.assistant.config.catalog.get(model_id)
        return LlmCurrent(model_id, spec.description, spec.vram_gb)

    @method("llm.use", LlmUse)
    async def llm_use(self, request: LlmUse) -> LlmSwitched:
        model_id = request.id
        spec = self.assistant.config.catalog.get(model_id, kind="llm")
        if spec.kind != "llm":
            raise AssistantError(f"{model_id} is a {spec.kind} model, not an LLM; see `assistant llm list`", "bad_params")
        previous = self.assistant.models.llm
        # Taking the turn lock makes a switch during a turn wait for that turn to end.
        async with self.turns.lock:
            try:
                await self.assistant.arbiter.ensure(model_id)
            except AssistantError as exc:
                raise AssistantError(f"could not switch to {model_id}, keeping {previous}: {exc.message}", exc.code)
            self.assistant.select("llm", model_id)
        switched = LlmSwitched(model_id, previous)
        self.emit(switched)  # the daemon also tells the desktop
        return switched

    @method("ask", Ask)
    async def ask(self, request: Ask) -> TurnRecord:
        text = request.text.strip()
        if not text:
            raise AssistantError("nothing to ask: the text is empty", "bad_params")
        return await self.turns.ask(text, speak=request.speak)

    @method("say", Say)
    async def say(self, request: Say) -> Said:
        text = request.text.strip()
        if not text:
            raise AssistantError("nothing to say: the text is empty", "bad_params")
        return await self.turns.say(text)

    @method("history", History)
    async def history(self, request: History) -> list[TurnRecord]:
        history = self.assistant.history
        conversation = None if request.all else history.conversation
        return await asyncio.to_thread(history.turns, request.limit, conversation)

    @method("new")
    async def new_conversation(self) -> NewConversation:
        self.assistant.conversation.clear()
        return NewConversation(await asyncio.to_thread(self.assistant.history.new_conversation))

    @method("vram.status")
    async def vram_status(self) -> VramSnapshot:
        return self.assistant.arbiter.snapshot()

    @method("config.reload")
    async def config_reload(self) -> ConfigReloaded:
        """Re-read config.toml and the catalogs. What the running daemon cannot take (settings.restart_only:
        servers, devices, listeners opened once at start) is named, with the restart that fits this daemon."""
        try:
            config = await asyncio.to_thread(Config.load, self.assistant.config.paths)
        except ConfigError as exc:
            raise ConfigError(f"config not reloaded, the old one stays: {exc.message}", problems=exc.problems) from None
        restart = restart_only(self.running, config.settings)
        self.assistant.reconfigure(config)
        config_file = config.paths.config_file
        return ConfigReloaded(
            read=(str(config_file), *(str(p) for p in config.catalog.files)),
            config_file_exists=config_file.exists(),
            reloaded=tuple(str(p) for p in config.catalog.files),
            models=replace(self.assistant.models),
            restart_needed=tuple(restart),
            restart_command=self.restart_command if restart else None,
        )

    async def reload_logged(self, why: str) -> None:
        """A reload not asked over the socket (SIGHUP): its outcome goes to the log."""
        try:
            result = await self.config_reload()
        except AssistantError as exc:
            log.error("%s: %s", why, exc.message)
            return
        log.info("%s: reloaded %s", why, ", ".join(result.read))
        if result.restart_needed:
            log.warning("%s: %s changed and take effect after a restart: %s",
                        why, ", ".join(result.restart_needed), result.restart_command)

    @method("devices")
    async def devices(self) -> DeviceList:
        from assistant.audio.devices import list_devices

        # Through AudioIO when it is open: it serialises device re-scans with its own watcher.
        lister = self.audio.list_devices if self.audio is not None else list_devices
        return DeviceList(tuple(await asyncio.to_thread(lister)))

    @method("shutdown")
    async def shutdown(self) -> Stopping:
        self.stop()
        return Stopping(True, os.getpid())
