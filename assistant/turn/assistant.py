"""The assembled assistant: config → meter → arbiter → pipeline, with the conversation and model selection."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field

from assistant.config.settings import Config, WorkerSettings
from assistant.core.atomic import write_json_atomic
from assistant.core.errors import AssistantError, ConfigError
from assistant.core.events import AlarmSet, Emit, ToolCalled, ignore
from assistant.core.models import KINDS, Kind
from assistant.hosts.progress import WorkerLimits
from assistant.tools.alarm_log import AlarmLog, alarm_log_path
from assistant.tools.alarms import Alarms, alarms_path
from assistant.tools.builtin import builtin_tools
from assistant.tools.home import HomeIntents
from assistant.tools.intents import Matcher
from assistant.tools.local import LocalIntents
from assistant.tools.registry import Registry
from assistant.turn.history import Conversation, HistoryLog
from assistant.turn.pipeline import Models, Pipeline
from assistant.vram.arbiter import Arbiter
from assistant.vram.footprints import Footprints
from assistant.vram.meter import Meter, open_meter

log = logging.getLogger(__name__)


@dataclass
class Assistant:
    config: Config
    arbiter: Arbiter
    pipeline: Pipeline
    conversation: Conversation
    history: HistoryLog
    models: Models
    tools: Registry
    alarms: Alarms  # timers and reminders: they ring only once the daemon starts them
    alarm_log: AlarmLog  # the ones that rang, heard or not
    # The conversations of the separate pipelines (the API's assistant model): a reload reconfigures them too.
    separate: list[Conversation] = field(default_factory=list)

    @classmethod
    def create(
        cls,
        config: Config,
        meter: Meter | None = None,
        emit: Emit = ignore,
        persist: bool = True,
    ) -> Assistant:
        """Build without loading anything; models load on first use. persist=False keeps no state on disk.

        `emit` hears what the parts do: the arbiter's loads and evictions, every tool run, each alarm set.
        """
        settings = config.settings
        meter = meter or open_meter(settings.gpu.meter, settings.gpu.simulated_gb)
        paths = config.paths
        arbiter = Arbiter(
            config.catalog,
            meter,
            paths.models_dir,
            Footprints(paths.footprints_file if persist else None),
            reserve_gb=settings.gpu.reserve_gb,
            wait_timeout_s=settings.gpu.wait_timeout_s,
            emit=emit,
            limits=worker_limits(settings.workers),
        )
        conversation = Conversation(settings.system_prompt, settings.history_tokens)
        history = HistoryLog(paths.history_file, settings.history.max_bytes, settings.history_tokens)
        models = Models(**{kind: config.catalog.defaults[kind] for kind in KINDS})
        if persist:
            history.restore(conversation)
            _apply_selection(config, models)
        tools = Registry(on_call=lambda record: emit(ToolCalled(record)))
        alarms = Alarms(
            alarms_path(paths.state_dir) if persist else None, on_add=lambda alarm: emit(AlarmSet(alarm))
        )
        alarm_log = AlarmLog(alarm_log_path(paths.state_dir) if persist else None)
        pipeline = Pipeline(arbiter, conversation, tools, LocalIntents(lambda: (Matcher(), HomeIntents(settings.language))))
        assistant = cls(config, arbiter, pipeline, conversation, history, models, tools, alarms, alarm_log)
        for tool in builtin_tools(alarms, lambda: assistant.config.settings.tools.morning_hour):
            tools.add(tool)
        return assistant

    def separate_pipeline(self) -> Pipeline:
        """A pipeline over the same models, tools and local intents with a conversation of its own: its
        turns neither see the desktop's conversation nor enter it (nor the history log, which Turns writes)."""
        settings = self.config.settings
        conversation = Conversation(settings.system_prompt, settings.history_tokens)
        self.separate.append(conversation)
        return Pipeline(self.arbiter, conversation, self.tools, self.pipeline.intents)

    async def warm(self) -> None:
        """The ASR first, so the first press is not slow; then the LLM and the voice where they fit."""
        models, pipeline = self.models, self.pipeline
        intents: asyncio.Task[object] | None = None
        for model_id, evict in ((models.asr, True), (models.llm, False), (models.tts, False)):
            try:
                await self.arbiter.ensure(model_id, evict=evict)
            except AssistantError as exc:
                log.warning("could not preload %s: %s", model_id, exc)
            if intents is None and pipeline.intents is not None:
                # Once the ASR is in (the daemon is ready then), the intents' sentences load in a thread
                # while the LLM and the voice load in their workers: the start does not wait for them.
                intents = asyncio.get_running_loop().create_task(asyncio.to_thread(pipeline.intents.loaded))
        try:
            # The system prompt (and the tools it offers) into the LLM's cache: the first typed `ask`
            # then evaluates only its own words, as a voice turn does after the press's prefill.
            await pipeline.prefill(models.llm)
        except AssistantError as exc:
            log.info("no prefill at start: %s", exc)
        try:
            if intents is not None:
                await intents
        except Exception as exc:  # the sentence data is ours: a fault there is a bug, and every turn would hit it
            log.error("the local intents did not load: %s", exc)

    def select(self, kind: Kind, model_id: str, persist: bool = True) -> None:
        spec = self.config.catalog.get(model_id)
        if spec.kind != kind:
            raise ConfigError(f"{model_id} is a {spec.kind} model, not {kind}", code="bad_request")
        self.models.choose(kind, model_id)
        if persist:
            write_json_atomic(self.config.paths.selection_file, self.models.__dict__)

    def reconfigure(self, config: Config) -> None:
        """A reloaded config, handed to each part through its own method. A model that left the catalog
        gives way to its kind's default; what is opened once at start is the caller's to report."""
        for kind in KINDS:
            if self.models.of(kind) not in config.catalog.models:
                self.models.choose(kind, config.catalog.defaults[kind])
        settings = config.settings
        self.config = config
        self.arbiter.reconfigure(config.catalog, worker_limits(settings.workers))
        for conversation in (self.conversation, *self.separate):
            conversation.reconfigure(settings.system_prompt, settings.history_tokens)
        self.history.reconfigure(settings.history.max_bytes, settings.history_tokens)

    async def load_asr(self, evict: bool = True) -> None:
        """The current ASR loaded; without `evict`, only if it fits beside what is resident."""
        await self.arbiter.ensure(self.models.asr, evict=evict)

    def voice_resident(self) -> bool:
        """Whether the current LLM and voice are both loaded: a reply made ahead never loads a model."""
        return self.arbiter.resident(self.models.llm) and self.arbiter.resident(self.models.tts)

    async def close(self) -> None:
        await self.alarms.close()
        await self.arbiter.shutdown()


def worker_limits(settings: WorkerSettings) -> WorkerLimits:
    """The [workers] section as the hosts take it: when a worker with a request outstanding is hung."""
    return WorkerLimits(settings.stall_s(), settings.idle_stall_s)


def _apply_selection(config: Config, models: Models) -> None:
    """Restore the models chosen with `llm use` before a restart, where they still exist."""
    path = config.paths.selection_file
    if not path.exists():
        return
    try:
        chosen = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable %s (%s); using the catalog defaults", path, exc)
        return
    for kind in KINDS:
        model_id = chosen.get(kind) if isinstance(chosen, dict) else None
        if isinstance(model_id, str) and model_id in config.catalog.models:
            if config.catalog.models[model_id].kind == kind:
                models.choose(kind, model_id)
        elif model_id is not None:
            log.warning("the selected %s model %r is no longer in the catalog; using the default", kind, model_id)
