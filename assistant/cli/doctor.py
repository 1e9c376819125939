"""`assistant doctor`: what works on this machine, and why the rest does not."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from assistant.api.client import NotRunning, call
from assistant.config.settings import Config, Settings
from assistant.core.errors import AssistantError
from assistant.engines.files import problem


@dataclass(frozen=True)
class Check:
    """One line of `assistant doctor`: what was checked, whether it works, and what was found (or how to fix it).
    `doctor --json` is a list of these through core/wire.to_json."""

    name: str
    ok: bool
    detail: str


def hotkey_checks(config: Config) -> list[Check]:
    from assistant.triggers.hotkey import available_sources

    key = config.settings.hotkey.key
    try:
        sources = available_sources(key)
    except ValueError as exc:
        return [Check("hotkey", False, str(exc))]
    checks = []
    names = {s.name for s in sources}
    for source in sources:
        reason = source.check()
        checks.append(Check(f"hotkey {source.name}", reason is None, reason or f"listens for {key}"))
    if "x11" not in names:
        checks.append(Check("hotkey x11", False, "DISPLAY is not set (no X11 session)"))
    checks.append(Check("hotkey cli", True, "bind `assistant ptt press` / `release` (or `toggle`) in your compositor"))
    return checks


def audio_checks(config: Config) -> list[Check]:
    try:
        import sounddevice as sd
    except OSError as exc:  # PortAudio missing: sounddevice raises OSError at import
        return [Check("audio", False, f"PortAudio is not installed ({exc}); install libportaudio2")]
    checks = []
    for kind, wanted in (("input", config.settings.audio.input_device), ("output", config.settings.audio.output_device)):
        try:
            info = sd.query_devices(wanted, kind=kind)
            checks.append(Check(f"audio {kind}", True, f"{info['name']} at {info['default_samplerate']:.0f} Hz"))
        except Exception as exc:  # sounddevice raises ValueError / PortAudioError for absent devices
            if wanted is None:
                detail = f"no default {kind} device; check that PulseAudio or PipeWire runs (`pactl info`)"
            else:
                detail = f"no {kind} device {wanted!r} ({exc}); see `assistant devices`"
            checks.append(Check(f"audio {kind}", False, detail))
    return checks


def wake_checks(config: Config) -> list[Check]:
    from assistant.audio.wake import phrase

    wake = config.settings.wake
    try:
        from assistant.audio.wake import WakeDetector

        detector = WakeDetector(wake.word, wake.threshold)
        threshold = detector.threshold
        detector.close()
        import pymicro_vad  # noqa: F401  (the end-of-speech detector)
    except (ImportError, OSError, ValueError) as exc:
        return [Check("wake word", False, f"cannot load {wake.word!r} ({exc}); reinstall pymicro-wakeword and pymicro-vad")]
    state = "on at start" if wake.enabled else "off at start (the microphone stays closed); `assistant wake on` turns it on"
    checks = [Check("wake word", True, f"{phrase(wake.word)!r}, threshold {threshold:.2f}, {state}")]
    if wake.echo == "gate":
        echo = "a gate on the playback signal (configured)"
    else:
        from assistant.audio.echo import echo_cancelled_source

        source = echo_cancelled_source()
        if source:
            gate = "" if wake.echo == "cancel" else " and a gate on the playback signal"
            echo = f"the sound server's echo canceller ({source}){gate}"
        elif wake.echo == "cancel":
            return [*checks, Check("wake echo", False, "echo = \"cancel\" but the default source is not module-echo-cancel's; see the README")]
        else:
            echo = "a gate on the playback signal (no module-echo-cancel source is the default)"
    return [*checks, Check("wake echo", True, f"own voice kept out by {echo}")]


def end_of_turn_check(settings: Settings) -> Check:
    """How a hands-free turn ends: the end-of-turn model, or a fixed silence (chosen, or for want of the model)."""
    from assistant.audio import smart_turn

    turn, wake = settings.turn, settings.wake
    silence = f"hands-free turns end after {wake.silence_s:g} s of silence"
    if turn.end == "silence":
        return Check("end of turn", True, f"{silence} ([turn] end = \"silence\")")
    if smart_turn.load() is None:
        return Check("end of turn", False, smart_turn.missing_reason())
    return Check(
        "end of turn", True,
        f"the end-of-turn model (Smart Turn v3) judges each {turn.pause_s:g} s pause; "
        f"complete at p >= {turn.threshold:g}, and {turn.max_silence_s:g} s of silence ends a turn whatever it says",
    )


def gpu_check() -> Check:
    from assistant.vram.meter import NvmlMeter

    try:
        meter = NvmlMeter()
    except Exception as exc:  # pynvml raises NVMLError subclasses and ImportError
        return Check("gpu", False, f"no NVIDIA GPU through NVML ({exc}); the arbiter uses a simulated GPU")
    mem = meter.memory()
    meter.close()
    return Check("gpu", True, f"{meter.device_name}: {mem.free_gb:.1f} of {mem.total_gb:.1f} GB free (NVML)")


def model_checks(config: Config) -> list[Check]:
    checks = []
    for kind, model_id in config.catalog.defaults.items():
        issue = problem(config.catalog.get(model_id), config.paths.models_dir)
        checks.append(Check(f"model {kind}", issue is None, issue or f"{model_id} present"))
    return checks


def service_check() -> Check:
    from assistant.install.service import checkout, inspect_unit, status
    from assistant.install.unit import unit_path

    try:
        detail = status()
    except (AssistantError, OSError) as exc:
        return Check("systemd unit", False, str(exc))
    if not detail.startswith("installed"):
        return Check("systemd unit", False, detail)
    target = inspect_unit(unit_path())
    if target.problem is not None:
        return Check("systemd unit", False, f"{detail}; broken: {target.problem}; run `assistant service install`")
    if target.checkout != checkout():
        return Check(
            "systemd unit",
            False,
            f"{detail}; runs {target.checkout}, not this checkout ({checkout()}); "
            "run `assistant service install` here to switch",
        )
    return Check("systemd unit", True, f"{detail}; runs this checkout with {target.python}")


def daemon_check(config: Config) -> Check:
    try:
        result = call(config.paths.socket, "status", timeout=5)
    except NotRunning:
        return Check("daemon", False, "not running; start it with `assistant run` or `systemctl --user start assistant`")
    except AssistantError as exc:
        return Check("daemon", False, exc.message)
    return Check("daemon", True, f"running (pid {result['pid']}), {result['state']}, llm {result['llm']}")


def load_for_checks() -> tuple[Config, list[Check]]:
    """The config, or, when a file is broken, its check and the defaults in its place, so every other check runs."""
    from assistant.config.catalog import load_catalog
    from assistant.config.settings import Settings, load_settings
    from assistant.core.errors import ConfigError
    from assistant.core.paths import Paths, shipped_catalog

    paths = Paths.from_env()
    checks = []
    try:
        settings = load_settings(paths.config_file)
        checks.append(Check("config", True, f"{paths.config_file}" if paths.config_file.exists() else "defaults (no config.toml)"))
    except ConfigError as exc:
        settings = Settings()
        checks.append(Check("config", False, f"{exc.message}; checking the rest with the defaults"))
    try:
        catalog = load_catalog([shipped_catalog(), paths.user_catalog])
        checks.append(Check("models.toml", True, f"{len(catalog.models)} models"))
    except ConfigError as exc:
        catalog = load_catalog([shipped_catalog()])
        checks.append(Check("models.toml", False, f"{exc.message}; checking the rest with the shipped catalog"))
    return Config(paths=paths, settings=settings, catalog=catalog), checks


def dictation_checks(config: Config) -> list[Check]:
    """Each typing method of [dictation] methods: whether it can type into a window here, and if not, why."""
    from assistant.keyboard.chain import build_chain, problems
    from assistant.keyboard.typing import session_env

    settings = config.settings.dictation
    chain = build_chain(settings.methods, session_env(), paste=settings.paste, layout=settings.layout, home=Path.home(),
                        portal_token=config.paths.portal_token)
    checks = [Check(f"dictation {name}", problem is None, problem or "can type here") for name, problem in problems(chain)]
    if all(not c.ok for c in checks):
        checks.append(Check("dictation", False, "no method can type here: the text is kept for `assistant dictate last`"))
    return checks


def tray_check(config: Config) -> Check:
    from assistant.cli.tray import watcher_problem

    if not config.settings.desktop.tray:
        return Check("tray", True, "off ([desktop] tray = false)")
    problem = watcher_problem()
    return Check("tray", problem is None, problem or "a StatusNotifierWatcher is on the session bus: the icon can show")


def run_checks(config: Config) -> list[Check]:
    return [
        *hotkey_checks(config),
        *dictation_checks(config),
        *audio_checks(config),
        *wake_checks(config),
        end_of_turn_check(config.settings),
        gpu_check(),
        *model_checks(config),
        service_check(),
        daemon_check(config),
        tray_check(config),
    ]
