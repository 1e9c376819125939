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
class WakeSettings:
    enabled: bool = False  # the microphone stays closed for the wake word until `assistant wake on`
    word: str = "okay_nabu"  # okay_nabu | hey_jarvis | alexa | hey_mycroft (the models pymicro-wakeword ships)
    threshold: float = 0.0  # 0 = the model's own cutoff (okay_nabu 0.85); higher wakes less often
    silence_s: float = 0.7  # this much silence after speech ends the utterance
    no_speech_s: float = 5.0  # a wake with no speech within this long ends quietly
    follow_up_s: float = 0.0  # after a reply, listen this long without the wake word (0 = off)
    echo: str = "auto"  # auto (canceller if any, plus gate) | gate | cancel (canceller alone): keeps its own voice out


@dataclass(frozen=True)
class Settings:
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    history_tokens: int = 1024
    notifications: bool = True
    gpu: GpuSettings = field(default_factory=GpuSettings)
    audio: AudioSettings = field(default_factory=AudioSettings)
    hotkey: HotkeySettings = field(default_factory=HotkeySettings)
    wake: WakeSettings = field(default_factory=WakeSettings)


_SECTIONS: dict[str, type] = {"gpu": GpuSettings, "audio": AudioSettings, "hotkey": HotkeySettings, "wake": WakeSettings}


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
    if settings.history_tokens < 64:
        raise ConfigError(f"{path}: top level: field 'history_tokens' must be at least 64")
    _check_wake(path, settings.wake)
    return settings


def _check_wake(path: Path, wake: WakeSettings) -> None:
    from .audio.wake import WORDS

    if wake.word not in WORDS:
        raise ConfigError(f"{path}: [wake]: field 'word' must be one of {', '.join(WORDS)}, got {wake.word!r}")
    if not 0.0 <= wake.threshold < 1.0:
        raise ConfigError(f"{path}: [wake]: field 'threshold' must be in [0, 1) (0 = the model's own), got {wake.threshold}")
    for name in ("silence_s", "no_speech_s"):
        if getattr(wake, name) <= 0:
            raise ConfigError(f"{path}: [wake]: field {name!r} must be more than 0 seconds")
    if wake.follow_up_s < 0:
        raise ConfigError(f"{path}: [wake]: field 'follow_up_s' must be 0 (off) or more seconds")
    if wake.echo not in ("auto", "gate", "cancel"):
        raise ConfigError(f"{path}: [wake]: field 'echo' must be auto, gate or cancel")


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
