"""Settings from config.toml, parsed once into typed dataclasses; errors name the file and the field."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TypeVar
from urllib.parse import urlsplit

from assistant.audio.settings import AudioSettings, TurnSettings
from assistant.audio.wake import WORDS
from assistant.config.api import LOOPBACK, ApiSettings, check_api
from assistant.config.catalog import Catalog, load_catalog, read_toml
from assistant.config.mcp import McpServerSettings as McpServerSettings  # re-exported: a part of Settings
from assistant.config.mcp import parse_mcp
from assistant.config.problems import Problems, did_you_mean, type_problem
from assistant.config.strict import field_types, validate_table
from assistant.core.errors import ConfigError
from assistant.core.paths import Paths, shipped_catalog
from assistant.keyboard.layout import parse_layout

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

# Byte-identical turn after turn (no date or time in it: the clock tool gives those), so a model's
# prompt cache keeps it. The tools themselves reach the model with each request.
DEFAULT_SYSTEM_PROMPT = (
    "You are a helpful voice assistant on the user's desktop. Answer in one to three short spoken "
    "sentences, in plain words, without lists, markdown or emoji. You act only through the tools you are "
    "given: use them for the time, the date, timers, reminders, arithmetic, media, volume and whatever else "
    "they offer. Never say you did something that no tool did. If no tool can do what is asked, say that "
    "you can't do it yet."
)


@dataclass(frozen=True)
class GpuSettings:
    meter: str = "auto"  # auto | nvml | simulated
    simulated_gb: float = 16.0
    reserve_gb: float = 0.5
    wait_timeout_s: float = 60.0


@dataclass(frozen=True)
class HotkeySettings:
    key: str = "KEY_RIGHTCTRL"
    sources: tuple[str, ...] = ("evdev", "x11")


@dataclass(frozen=True)
class WyomingSettings:
    uri: str = ""  # "" = no Wyoming server; tcp://HOST:PORT or unix://PATH turns it on


@dataclass(frozen=True)
class WyomingBind:
    """Where the Wyoming server listens, parsed from [wyoming] uri."""

    scheme: Literal["tcp", "unix"]
    host: str = ""
    port: int = 0
    path: str = ""

    @property
    def uri(self) -> str:
        return f"unix://{self.path}" if self.scheme == "unix" else f"tcp://{self.host}:{self.port}"




def parse_wyoming_uri(uri: str, where: str = "[wyoming]") -> WyomingBind:
    """tcp://HOST:PORT or unix://PATH. A TCP address with no host binds loopback: a listener
    reachable from the network only where the user wrote that address."""
    hint = 'write uri = "tcp://127.0.0.1:10700" or "unix:///run/user/1000/assistant-wyoming.sock"'
    try:
        parts = urlsplit(uri.strip())
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"{where}: uri {uri!r} is not valid ({exc}); {hint}") from None
    if parts.scheme == "unix":
        path = (parts.netloc + parts.path) if parts.netloc else parts.path
        if not path:
            raise ConfigError(f"{where}: uri {uri!r} names no socket path; {hint}")
        return WyomingBind("unix", path=str(Path(path).expanduser()))
    if parts.scheme != "tcp":
        raise ConfigError(f"{where}: uri {uri!r} must start with tcp:// or unix://; {hint}")
    if port is None or port == 0:
        raise ConfigError(f"{where}: uri {uri!r} has no port; {hint}")
    if parts.path not in ("", "/"):
        raise ConfigError(f"{where}: uri {uri!r} has a path after the port; {hint}")
    host = parts.hostname or LOOPBACK
    return WyomingBind("tcp", host=host, port=port)


@dataclass(frozen=True)
class DesktopSettings:
    tray: bool = True  # `assistant tray`, the panel icon; false keeps it off


@dataclass(frozen=True)
class ToolSettings:
    morning_hour: int = 8  # "remind me tomorrow morning" means this hour
    alarm_ring_s: float = 60.0  # a fired timer beeps this long unless a press dismisses it


@dataclass(frozen=True)
class HistorySettings:
    max_mb: float = 10.0  # history.jsonl past this moves its older lines to history.1.jsonl

    @property
    def max_bytes(self) -> int:
        return int(self.max_mb * 1024 * 1024)


@dataclass(frozen=True)
class WorkerSettings:
    """When a model worker with a request outstanding is killed as hung (hosts/progress.py): after
    `idle_stall_s` of no CPU time (or stopped), or after `*_stall_s` of silence while it is busy."""

    idle_stall_s: float = 10.0  # a deadlocked or stopped worker: about ten seconds, whatever the model
    transcribe_stall_s: float = 120.0
    chat_stall_s: float = 120.0  # a big model's first token on a CPU, after a long prompt
    synthesize_stall_s: float = 120.0  # XTTS on a CPU, a long sentence, not streamed

    def stall_s(self) -> dict[str, float]:
        """Per worker operation, as workers.Worker takes them."""
        return {"transcribe": self.transcribe_stall_s, "transcribe_segments": self.transcribe_stall_s,
                "chat": self.chat_stall_s, "synthesize": self.synthesize_stall_s}


DICTATION_METHODS = ("auto", "wtype", "xtest", "xdotool", "portal", "uinput", "clipboard")
PASTE_KEYS = ("auto", "ctrl+v", "ctrl+shift+v")


@dataclass(frozen=True)
class DictationSettings:
    """[dictation]: hold a key (or `assistant dictate press`), speak, and the words are typed."""

    key: str = ""  # a key of its own, held to dictate ("KEY_RIGHTALT"); "" = only `assistant dictate …`
    # in order: auto (Wayland: wtype, portal, uinput, clipboard; X11: xtest, xdotool, uinput, clipboard), or names
    methods: tuple[str, ...] = ("auto",)
    layout: str = ""  # the uinput keyboard's XKB layout ("de", "fr(azerty)"); "" = the desktop's own
    words: tuple[str, ...] = ()  # names and terms handed to Whisper as its initial prompt
    replace: tuple[tuple[str, str], ...] = ()  # [dictation.replace] "spoken" = "written"
    paste: str = "auto"  # the clipboard method's shortcut: auto (terminal or not) | ctrl+v | ctrl+shift+v
    keep: bool = True  # keep dictations in their own private log (dictations.jsonl); false keeps none
    pause_media: bool = True  # pause MPRIS players that are playing while you dictate, and resume them after
    live: bool = False  # type each phrase at the pause after it, while the key is still held; at release only the tail
    cleanup: str = "none"  # "llm": the current LLM rewrites the text first (punctuation, mishearings), never answers it


@dataclass(frozen=True)
class WakeSettings:
    enabled: bool = False  # the microphone stays closed for the wake word until `assistant wake on`
    word: str = "okay_nabu"  # okay_nabu | hey_jarvis | alexa | hey_mycroft (the models pymicro-wakeword ships)
    # Measured (scripts/bench_wake.py): 0.98 of espeak-ng "okay nabu" heard and no false wake-up in an hour of
    # prose at 0.7, against 0.89 at the model's own cutoff (0 selects it; okay_nabu's is 0.85).
    threshold: float = 0.7
    silence_s: float = 0.7  # this much silence after speech ends the utterance
    no_speech_s: float = 5.0  # a wake with no speech within this long ends quietly
    follow_up_s: float = 0.0  # after a reply, listen this long without the wake word (0 = off)
    echo: str = "auto"  # auto (canceller if any, plus gate) | gate | cancel (canceller alone): keeps its own voice out


# Marks a Settings field that `config reload` applies to the running daemon (Assistant.reconfigure, or read
# where it is used). Every field without it is read once at start, so a reload names it as needing a restart:
# a new section is restart-only until someone makes it live and says so here.
LIVE = {"live": True}


@dataclass(frozen=True)
class Settings:
    system_prompt: str = field(default=DEFAULT_SYSTEM_PROMPT, metadata=LIVE)
    language: str = "en"  # the local intents' language (Home Assistant's sentences and replies): "de", "fr", ...
    history_tokens: int = field(default=1024, metadata=LIVE)
    notifications: bool = True
    # Start the reply at a pause while the key is still held, and play it at the release if the words
    # stayed the same (a discarded guess leaves no trace). Off for an LLM billed per token: guesses
    # that are thrown away are requests too.
    answer_ahead: bool = field(default=True, metadata=LIVE)
    gpu: GpuSettings = field(default_factory=GpuSettings)
    audio: AudioSettings = field(default_factory=AudioSettings)
    hotkey: HotkeySettings = field(default_factory=HotkeySettings)
    mcp: tuple[McpServerSettings, ...] = ()
    wyoming: WyomingSettings = field(default_factory=WyomingSettings)
    api: ApiSettings = field(default_factory=ApiSettings)
    desktop: DesktopSettings = field(default_factory=DesktopSettings)
    tools: ToolSettings = field(default_factory=ToolSettings, metadata=LIVE)  # read at each use
    workers: WorkerSettings = field(default_factory=WorkerSettings, metadata=LIVE)
    history: HistorySettings = field(default_factory=HistorySettings, metadata=LIVE)
    wake: WakeSettings = field(default_factory=WakeSettings)
    turn: TurnSettings = field(default_factory=TurnSettings)
    dictation: DictationSettings = field(default_factory=DictationSettings)

    @property
    def wyoming_bind(self) -> WyomingBind | None:
        """Where the Wyoming server listens, or None when it is off (the default)."""
        return parse_wyoming_uri(self.wyoming.uri) if self.wyoming.uri.strip() else None


def restart_only(old: Settings, new: Settings) -> list[str]:
    """The changed parts of config.toml that the running daemon cannot take: "[api]" for a section,
    the bare name for a top-level key."""
    changed = [f for f in fields(Settings) if not f.metadata.get("live") and getattr(old, f.name) != getattr(new, f.name)]
    return ["[[mcp]]" if f.name == "mcp" else f"[{f.name}]" if f.name in _SECTIONS else f.name for f in changed]


_SECTIONS: dict[str, type] = {
    "gpu": GpuSettings,
    "audio": AudioSettings,
    "hotkey": HotkeySettings,
    "wyoming": WyomingSettings,
    "api": ApiSettings,
    "desktop": DesktopSettings,
    "tools": ToolSettings,
    "workers": WorkerSettings,
    "history": HistorySettings,
    "wake": WakeSettings,
    "turn": TurnSettings,
    "dictation": DictationSettings,
}


T = TypeVar("T", bound="DataclassInstance")

# Lines of their own where the type alone would not say what to write.
_FIXES = {
    ("[dictation]", "replace"): '[dictation.replace] must map spoken words to written ones: "gee pee you" = "GPU"',
}
_TABLES = frozenset({"mcp", *_SECTIONS})  # Settings' fields read as tables of their own, not as values


def _build(cls: type[T], raw: dict[str, object], path: Path, where: str, problems: Problems) -> T:
    """The dataclass from its table; each bad field is a problem noted, and its default kept meanwhile."""
    top = cls is Settings
    table, errors = validate_table(cls(), {k: v for k, v in raw.items() if not (top and k in _TABLES)},
                                   _TABLES if top else frozenset())
    values: dict[str, object] = {}
    known = {f.name for f in fields(cls)}
    kinds = field_types(cls)
    for name, value in raw.items():  # in the file's order, so problems are listed as they are met
        with problems.check():
            if top and name == "mcp":
                values[name] = parse_mcp(path, value)
            elif top and name in _SECTIONS:
                if not isinstance(value, dict):
                    raise ConfigError(f"{path}: [{name}] must be a table")
                values[name] = _build(_SECTIONS[name], value, path, f"[{name}]", problems)
            elif name not in known:
                problems.add(_unknown(path, where, name, value, known, top))
            elif name in errors:
                fix = _FIXES.get((where, name))
                problems.add(f"{path}: {fix}" if fix else type_problem(f"{path}: {where}", name, value, kinds[name]))
    return replace(table, **values)


def _unknown(path: Path, where: str, name: str, value: object, known: set[str], top: bool) -> str:
    if top and isinstance(value, dict):  # a table at the top level: meant as a section
        return f"{path}: unknown section [{name}]; {did_you_mean(name, _SECTIONS, lambda n: f'[{n}]')}"
    return f"{path}: {where}: unknown field {name!r}; {did_you_mean(name, known)}"


def load_settings(path: Path, problems: Problems | None = None) -> Settings:
    """config.toml, every problem in it noted in `problems` (raised here when none is given)."""
    own = problems is None
    problems = problems or Problems()
    settings = Settings()
    if path.exists() or path.is_symlink():
        with problems.check():
            settings = _build(Settings, read_toml(path), path, "top level", problems)
            for check in _CHECKS:
                with problems.check():
                    check(path, settings)
    if own:
        problems.raise_any()
    return settings


def _check_misc(path: Path, settings: Settings) -> None:
    if settings.gpu.meter not in ("auto", "nvml", "simulated"):
        raise ConfigError(f"{path}: [gpu]: field 'meter' must be auto, nvml or simulated")
    if not 0 <= settings.tools.morning_hour <= 23:
        raise ConfigError(f"{path}: [tools]: field 'morning_hour' must be an hour from 0 to 23")
    if settings.history_tokens < 64:
        raise ConfigError(f"{path}: top level: field 'history_tokens' must be at least 64")
    if not 0.01 <= settings.history.max_mb <= 100_000:
        raise ConfigError(f"{path}: [history]: field 'max_mb' must be from 0.01 to 100000 (megabytes)")


def _check_servers(path: Path, settings: Settings) -> None:
    if settings.wyoming.uri.strip():
        parse_wyoming_uri(settings.wyoming.uri, f"{path}: [wyoming]")
    check_api(path, settings.api)


def _check_workers(path: Path, settings: Settings) -> None:
    for name, value in settings.workers.stall_s().items():
        if value <= 0:
            raise ConfigError(f"{path}: [workers]: field '{name}_stall_s' must be more than 0 seconds")
    if settings.workers.idle_stall_s <= 0:
        raise ConfigError(f"{path}: [workers]: field 'idle_stall_s' must be more than 0 seconds")


def _check_language(path: Path, settings: Settings) -> None:
    language = settings.language
    from home_assistant_intents import get_languages

    if language not in get_languages():
        raise ConfigError(f"{path}: top level: field 'language' takes one of Home Assistant's intent languages "
                          f"({', '.join(get_languages())}), got {language!r}")


def _check_dictation(path: Path, settings: Settings) -> None:
    dictation = settings.dictation
    bad = [m for m in dictation.methods if m not in DICTATION_METHODS]
    if bad or not dictation.methods:
        raise ConfigError(f"{path}: [dictation]: field 'methods' takes {', '.join(DICTATION_METHODS)}, got {list(dictation.methods)}")
    if dictation.cleanup not in ("none", "llm"):
        raise ConfigError(f"{path}: [dictation]: field 'cleanup' must be none or llm, got {dictation.cleanup!r}")
    if dictation.paste not in PASTE_KEYS:
        raise ConfigError(f"{path}: [dictation]: field 'paste' must be one of {', '.join(PASTE_KEYS)}, got {dictation.paste!r}")
    if dictation.layout.strip() and parse_layout(dictation.layout, "") is None:
        raise ConfigError(f"{path}: [dictation]: field 'layout' takes an XKB layout name like \"de\" or \"fr(azerty)\", "
                          f"got {dictation.layout!r}")


def _check_wake(path: Path, settings: Settings) -> None:
    wake = settings.wake
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


def _check_turn(path: Path, settings: Settings) -> None:
    turn = settings.turn
    if turn.end not in ("model", "silence"):
        raise ConfigError(f"{path}: [turn]: field 'end' must be \"model\" (the end-of-turn model) or \"silence\", got {turn.end!r}")
    if not 0.0 < turn.threshold < 1.0:
        raise ConfigError(f"{path}: [turn]: field 'threshold' must be between 0 and 1, got {turn.threshold}")
    if turn.pause_s <= 0 or turn.max_silence_s <= turn.pause_s:
        raise ConfigError(f"{path}: [turn]: fields 'pause_s' and 'max_silence_s' must be seconds with 0 < pause_s < max_silence_s")


# Each is one check of the built settings; each raises at its first problem, and the others still run.
_CHECKS: tuple[Callable[[Path, Settings], None], ...] = (
    _check_misc, _check_servers, _check_workers, _check_wake, _check_turn, _check_dictation, _check_language)


@dataclass(frozen=True)
class Config:
    """Everything the daemon and the CLI need, read once and passed down."""

    paths: Paths
    settings: Settings
    catalog: Catalog

    @classmethod
    def load(cls, paths: Paths | None = None) -> Config:
        paths = paths or Paths.from_env()
        problems = Problems()  # config.toml's and the catalog's, all in one error
        settings = load_settings(paths.config_file, problems)
        catalog = None
        with problems.check():
            catalog = load_catalog([shipped_catalog(), paths.user_catalog])
        problems.raise_any()
        assert catalog is not None
        return cls(paths=paths, settings=settings, catalog=catalog)
