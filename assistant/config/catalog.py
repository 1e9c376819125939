"""The model catalog: models.toml parsed into typed specs, validated with errors naming file, model and field."""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from assistant.config.entry import parse_entry
from assistant.config.problems import Problems, did_you_mean
from assistant.core.errors import ConfigError
from assistant.core.models import KINDS, Kind, ModelSpec

__all__ = ["Catalog", "load_catalog", "parse_catalog_file"]


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


def read_toml(path: Path) -> dict[str, object]:
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
            spec = parse_entry(path, i, raw)
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

