"""Settings from config.toml, parsed once into typed dataclasses; errors name the file and the field."""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .catalog import Catalog, load_catalog, read_toml
from .errors import ConfigError
from .paths import Paths, shipped_catalog

DEFAULT_SYSTEM_PROMPT = (
    "You are a helpful voice assistant on the user's desktop. Answer in one to three short spoken "
    "sentences, in plain words, without lists, markdown or emoji."
)


@dataclass(frozen=True)
class GpuSettings:
    meter: str = "auto"  # auto | nvml | simulated
    simulated_gb: float = 16.0
    reserve_gb: float = 0.5
    wait_timeout_s: float = 60.0


@dataclass(frozen=True)
class AudioSettings:
    input_device: str | int | None = None  # name substring or index; None = system default
    output_device: str | int | None = None
    earcons: bool = True
    earcon_volume: float = 0.3
    max_utterance_s: float = 30.0
    preroll_s: float = 0.3


@dataclass(frozen=True)
class HotkeySettings:
    key: str = "KEY_RIGHTCTRL"
    sources: tuple[str, ...] = ("evdev", "x11")


@dataclass(frozen=True)
class WorkerSettings:
    """How long a model worker may send nothing during each kind of request before it is killed as hung."""

    transcribe_stall_s: float = 120.0
    chat_stall_s: float = 120.0  # a big model's first token on a CPU, after a long prompt
    synthesize_stall_s: float = 120.0  # XTTS on a CPU, a long sentence, not streamed

    def stall_s(self) -> dict[str, float]:
        """Per worker operation, as workers.Worker takes them."""
        return {"transcribe": self.transcribe_stall_s, "chat": self.chat_stall_s, "synthesize": self.synthesize_stall_s}


@dataclass(frozen=True)
class Settings:
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    history_tokens: int = 1024
    notifications: bool = True
    gpu: GpuSettings = field(default_factory=GpuSettings)
    audio: AudioSettings = field(default_factory=AudioSettings)
    hotkey: HotkeySettings = field(default_factory=HotkeySettings)
    workers: WorkerSettings = field(default_factory=WorkerSettings)


_SECTIONS: dict[str, type] = {
    "gpu": GpuSettings,
    "audio": AudioSettings,
    "hotkey": HotkeySettings,
    "workers": WorkerSettings,
}


def _coerce(path: Path, where: str, name: str, value: Any, default: Any) -> Any:
    if isinstance(default, tuple):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{path}: {where}: field {name!r} must be a list of strings")
        return tuple(value)
    if default is None or name.endswith("_device"):
        if value is not None and not isinstance(value, (str, int)):
            raise ConfigError(f"{path}: {where}: field {name!r} must be a device name or index")
        return value
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, float):
        # TOML has nan and inf; neither is a size, a volume or a time.
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        value = float(value) if ok else value
    else:
        ok = isinstance(value, type(default)) and not isinstance(value, bool)
    if not ok:
        raise ConfigError(f"{path}: {where}: field {name!r} must be {type(default).__name__}, got {value!r}")
    return value


def _build(cls: type, raw: dict[str, Any], path: Path, where: str) -> Any:
    defaults = cls()
    known = {f.name for f in fields(cls)}
    values: dict[str, Any] = {}
    for name, value in raw.items():
        if name not in known:
            raise ConfigError(f"{path}: {where}: unknown field {name!r}; allowed: {', '.join(sorted(known))}")
        if name in _SECTIONS and cls is Settings:
            if not isinstance(value, dict):
                raise ConfigError(f"{path}: [{name}] must be a table")
            values[name] = _build(_SECTIONS[name], value, path, f"[{name}]")
        else:
            values[name] = _coerce(path, where, name, value, getattr(defaults, name))
    return replace(defaults, **values)


def load_settings(path: Path) -> Settings:
    if not path.exists() and not path.is_symlink():
        return Settings()
    raw = read_toml(path)
    settings: Settings = _build(Settings, raw, path, "top level")
    if settings.gpu.meter not in ("auto", "nvml", "simulated"):
        raise ConfigError(f"{path}: [gpu]: field 'meter' must be auto, nvml or simulated")
    if settings.history_tokens < 64:
        raise ConfigError(f"{path}: top level: field 'history_tokens' must be at least 64")
    for name, value in settings.workers.stall_s().items():
        if value <= 0:
            raise ConfigError(f"{path}: [workers]: field '{name}_stall_s' must be more than 0 seconds")
    return settings


@dataclass(frozen=True)
class Config:
    """Everything the daemon and the CLI need, read once and passed down."""

    paths: Paths
    settings: Settings
    catalog: Catalog

    @classmethod
    def load(cls, paths: Paths | None = None) -> Config:
        paths = paths or Paths.from_env()
        settings = load_settings(paths.config_file)
        catalog = load_catalog([shipped_catalog(), paths.user_catalog])
        return cls(paths=paths, settings=settings, catalog=catalog)
