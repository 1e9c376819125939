"""The control API's methods: each takes validated params and returns a JSON-able result."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from assistant.api.protocol import Request
from assistant.config.settings import Config
from assistant.core.errors import AssistantError, ConfigError
from assistant.daemon.server import Connection
from assistant.engines.files import problem
from assistant.turn.assistant import Assistant
from assistant.turn.latency import RECENT_TURNS, summary
from assistant.turn.turns import Turns

log = logging.getLogger(__name__)

Emit = Callable[[str, dict[str, Any]], None]
Handler = Callable[[dict[str, Any]], Awaitable[Any]]
# config.toml sections read once at start: a change to them takes a restart.
RESTART_SECTIONS = ("audio", "hotkey", "mcp", "wyoming", "wake")


class Control:
    """Given what it uses, not the daemon: the turns (and through them the assistant), the audio devices
    (None without sound), the daemon's event broadcast, a way to ask the daemon to stop, its start time,
    and the methods of the parts the daemon runs beside the turns (timers, tool servers, the wake word)."""

    def __init__(
        self,
        turns: Turns,
        audio: Any,
        emit: Emit,
        stop: Callable[[], None],
        started: float,
        extra: Mapping[str, Handler] | None = None,
        status_parts: Mapping[str, Callable[[], Any]] | None = None,
    ) -> None:
        self.turns = turns
        self.audio = audio
        self.emit = emit
        self.stop = stop
        self.started = started
        self.status_parts = dict(status_parts or {})  # more fields for `status`, read when it is asked
        self._methods: dict[str, Handler] = {
            "status": self.status,
            "llm.list": self.llm_list,
            "llm.current": self.llm_current,
            "llm.use": self.llm_use,
            "ptt.press": lambda p: self.turns.press(),
            "ptt.release": lambda p: self.turns.release(),
            "ptt.toggle": lambda p: self.turns.toggle(),
            "ptt.cancel": lambda p: self.turns.cancel(),
            "ask": self.ask,
            "say": self.say,
            "history": self.history,
            "new": self.new_conversation,
            "vram.status": self.vram_status,
            "config.reload": self.config_reload,
            "devices": self.devices,
            "shutdown": self.shutdown,
        }
        clash = sorted(set(extra or {}) & set(self._methods))
        if clash:
            raise ValueError(f"socket methods given twice: {', '.join(clash)}")
        self._methods.update(extra or {})

    @property
    def assistant(self) -> Assistant:
        return self.turns.assistant

    async def handle(self, request: Request, conn: Connection) -> Any:
        if request.method == "subscribe":
            conn.subscribe()
            return {"subscribed": True, "state": self.turns.state}
        return await self._methods[request.method](request.params)

    async def status(self, params: dict[str, Any]) -> dict[str, Any]:
        snapshot = self.assistant.arbiter.snapshot()
        audio = self.audio
        return {
            "state": self.turns.state,
            "pid": os.getpid(),
            "uptime_s": round(time.time() - self.started, 1),
            "models": dict(self.assistant.models.__dict__),
            "llm": self.assistant.models.llm,
            "vram": {k: snapshot[k] for k in ("meter", "total_gb", "used_gb", "free_gb", "reserve_gb", "budget_gb")},
            "resident": [m for m in snapshot["models"] if m["state"] != "unloaded"],
            "last_turn": self.turns.last_turn,
            "audio": {
                "input": audio.input_name if audio else None,
                "output": audio.output_name if audio else None,
                "input_problem": audio.input_problem if audio else "audio disabled",
                "output_problem": audio.output_problem if audio else "audio disabled",
            },
            "conversation": self.assistant.history.conversation,
            # Release → first reply audio over the recent voice turns (from the turn log: survives restarts).
            "latency": await asyncio.to_thread(self._latency),
            **{name: part() for name, part in self.status_parts.items()},
        }

    def _latency(self) -> dict[str, Any]:
        return summary(self.assistant.history.turns(limit=RECENT_TURNS))

    async def llm_list(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        catalog = self.assistant.config.catalog
        states = {m["id"]: m for m in self.assistant.arbiter.snapshot()["models"]}
        return [
            {
                "id": spec.id,
                "current": spec.id == self.assistant.models.llm,
                "vram_gb": spec.vram_gb,
                "measured_gb": states[spec.id]["measured_gb"],
                "state": states[spec.id]["state"],
                "present": problem(spec, self.assistant.config.paths.models_dir) is None,
                "description": spec.description,
            }
            for spec in catalog.of_kind("llm")
        ]

    async def llm_current(self, params: dict[str, Any]) -> dict[str, Any]:
        model_id = self.assistant.models.llm
        spec = self.assistant.config.catalog.get(model_id)
        return {"id": model_id, "description": spec.description, "vram_gb": spec.vram_gb}

    async def llm_use(self, params: dict[str, Any]) -> dict[str, Any]:
        model_id = params["id"]
        spec = self.assistant.config.catalog.get(model_id)
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
        self.emit("llm", {"id": model_id, "previous": previous})  # the daemon also tells the desktop
        return {"id": model_id, "previous": previous}

    async def ask(self, params: dict[str, Any]) -> dict[str, Any]:
        text = params["text"].strip()
        if not text:
            raise AssistantError("nothing to ask: the text is empty", "bad_params")
        result: dict[str, Any] = await self.turns.ask(text, speak=params.get("speak", True))
        return result

    async def say(self, params: dict[str, Any]) -> dict[str, Any]:
        text = params["text"].strip()
        if not text:
            raise AssistantError("nothing to say: the text is empty", "bad_params")
        result: dict[str, Any] = await self.turns.say(text)
        return result

    async def history(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        history = self.assistant.history
        conversation = None if params.get("all") else history.conversation
        result: list[dict[str, Any]] = await asyncio.to_thread(history.turns, params.get("limit"), conversation)
        return result

    async def new_conversation(self, params: dict[str, Any]) -> dict[str, Any]:
        self.assistant.conversation.clear()
        return {"conversation": self.assistant.history.new_conversation()}

    async def vram_status(self, params: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self.assistant.arbiter.snapshot()
        return result

    async def config_reload(self, params: dict[str, Any]) -> dict[str, Any]:
        try:
            config = await asyncio.to_thread(Config.load, self.assistant.config.paths)
        except ConfigError as exc:
            raise ConfigError(f"config not reloaded, the old one stays: {exc.message}") from None
        for kind in ("asr", "llm", "tts"):
            if getattr(self.assistant.models, kind) not in config.catalog.models:
                setattr(self.assistant.models, kind, config.catalog.defaults[kind])
        # These are opened once at start (servers, devices, listeners): say so rather than pretend.
        old = self.assistant.config.settings
        restart = [name for name in RESTART_SECTIONS if getattr(old, name) != getattr(config.settings, name)]
        self.assistant.config = config
        self.assistant.arbiter.catalog = config.catalog
        self.assistant.arbiter.stall_s = config.settings.workers.stall_s()  # for workers started from now on
        self.assistant.conversation.system_prompt = config.settings.system_prompt
        self.assistant.conversation.budget_tokens = config.settings.history_tokens
        return {
            "reloaded": [str(p) for p in config.catalog.files],
            "models": dict(self.assistant.models.__dict__),
            "restart_needed": restart,
        }

    async def devices(self, params: dict[str, Any]) -> dict[str, Any]:
        from assistant.audio.devices import list_devices

        # Through AudioIO when it is open: it serialises device re-scans with its own watcher.
        lister = self.audio.list_devices if self.audio is not None else list_devices
        return {"devices": await asyncio.to_thread(lister)}

    async def shutdown(self, params: dict[str, Any]) -> dict[str, Any]:
        self.stop()
        return {"stopping": True}
