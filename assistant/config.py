"""Settings from config.toml, parsed once into typed dataclasses; errors name the file and the field."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .catalog import Catalog, load_catalog
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
class ToolSettings:
    morning_hour: int = 8  # "remind me tomorrow morning" means this hour
    alarm_ring_s: float = 60.0  # a fired timer beeps this long unless a press dismisses it


@dataclass(frozen=True)
class Settings:
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    history_tokens: int = 1024
    notifications: bool = True
    gpu: GpuSettings = field(default_factory=GpuSettings)
    audio: AudioSettings = field(default_factory=AudioSettings)
    hotkey: HotkeySettings = field(default_factory=HotkeySettings)
    tools: ToolSettings = field(default_factory=ToolSettings)


_SECTIONS: dict[str, type] = {"gpu": GpuSettings, "audio": AudioSettings, "hotkey": HotkeySettings, "tools": ToolSettings}


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
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
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
    if not path.exists():
        return Settings()
    try:
        with path.open("rb") as f:
            raw = tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}; fix the syntax at that line") from None
    settings: Settings = _build(Settings, raw, path, "top level")
    if settings.gpu.meter not in ("auto", "nvml", "simulated"):
        raise ConfigError(f"{path}: [gpu]: field 'meter' must be auto, nvml or simulated")
    if not 0 <= settings.tools.morning_hour <= 23:
        raise ConfigError(f"{path}: [tools]: field 'morning_hour' must be an hour from 0 to 23")
    if settings.history_tokens < 64:
        raise ConfigError(f"{path}: top level: field 'history_tokens' must be at least 64")
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
