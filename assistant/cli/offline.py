"""Commands that run the engines directly, without a daemon: transcribe, say, converse, models."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from assistant.audio.files import load_speech
from assistant.audio.sinks import WavSink
from assistant.config.settings import Config
from assistant.core.models import Kind, ModelSpec
from assistant.core.speech import Transcript
from assistant.engines.files import problem
from assistant.engines.registry import engine_info
from assistant.turn.assistant import Assistant
from assistant.turn.results import TurnResult
from assistant.turn.hearing import hear
from assistant.turn.utterance import Source, Utterance


async def transcribe(config: Config, file: Path) -> Transcript:
    audio = load_speech(file)
    assistant = Assistant.create(config, persist=False)
    try:
        return await hear(assistant.arbiter, Utterance.spoken(audio, Source.FILE), assistant.models.asr)
    finally:
        await assistant.close()


async def say(config: Config, text: str, out: Path) -> float:
    assistant = Assistant.create(config, persist=False)
    sink = WavSink(out)
    try:
        await assistant.pipeline.say(text, assistant.models.tts, sink)
    finally:
        await assistant.close()
    return len(sink.audio()) / sink.sample_rate


async def converse(config: Config, audio_file: Path, out: Path) -> TurnResult:
    audio = load_speech(audio_file)
    assistant = Assistant.create(config, persist=False)
    models = assistant.models
    # Cold start: load the LLM and the voice in their own processes while the ASR listens.
    warming = [asyncio.create_task(assistant.arbiter.ensure(m, evict=False)) for m in (models.llm, models.tts)]
    try:
        return await assistant.pipeline.turn(Utterance.spoken(audio), models, WavSink(out))
    finally:
        await asyncio.gather(*warming, return_exceptions=True)
        await assistant.close()


@dataclass(frozen=True)
class ModelRow:
    """A catalog model as `models list`, `models check` and `vram status` without a daemon show it."""

    id: str
    kind: Kind
    engine: str
    vram_gb: float
    default: bool
    present: bool
    problem: str | None  # why it cannot be used; None when present
    source: str
    description: str


def model_rows(config: Config, probe: bool = False) -> list[ModelRow]:
    """One row per catalog model. probe=True also asks each remote model's server whether it serves it."""
    issues = {spec.id: problem(spec, config.paths.models_dir) for spec in config.catalog.models.values()}
    if probe:
        for model_id, issue in asyncio.run(_probe_all(config)).items():
            issues[model_id] = issues[model_id] or issue
    rows = []
    for spec in config.catalog.models.values():
        issue = issues[spec.id]
        rows.append(
            ModelRow(
                id=spec.id,
                kind=spec.kind,
                engine=spec.engine,
                vram_gb=spec.vram_gb,
                default=config.catalog.defaults[spec.kind] == spec.id,
                present=issue is None,
                problem=issue,
                source=_source(spec),
                description=spec.description,
            )
        )
    return rows


def _source(spec: ModelSpec) -> str:
    if engine_info(spec).files is not None:
        return spec.source.describe()
    return "remote:" + str(next(iter(spec.endpoint.model_dump().values()), ""))  # the first declared field: its address


async def _probe_all(config: Config) -> dict[str, str | None]:
    async def probe(spec: ModelSpec) -> str | None:
        ask = engine_info(spec).probe
        return await ask(spec) if ask is not None else None

    specs = list(config.catalog.models.values())
    return dict(zip((s.id for s in specs), await asyncio.gather(*(probe(s) for s in specs))))


def format_timings(timings: dict[str, float | None]) -> str:
    parts = [
        f"{k.removesuffix('_s')}={v:.2f}s" if k.endswith("_s") else f"{k}={v:.0f}"  # seconds, or counts
        for k, v in timings.items()
        if v is not None
    ]
    return "timings: " + " ".join(parts)
