"""The systemd user unit: write, enable, remove, and report it."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from assistant.core.atomic import write_atomic
from assistant.core.errors import AssistantError
from assistant.install.unit import UNIT_NAME, read_exec_start, unit_path
from assistant.install.venv_store import MARKER


def checkout() -> Path:
    """The directory this code runs from (the checkout, for a source install)."""
    return Path(__file__).resolve().parents[2]  # assistant/install/service.py


def exec_start() -> str:
    """This checkout's own console script: it lives in the checkout's thin .venv, which install.sh only ever
    re-points, so the path survives upgrades and store pruning. Without one, this interpreter."""
    env = checkout() / ".venv"
    script = env / "bin" / "assistant"
    if (env / MARKER).is_file() and script.is_file():
        return f"{_quote(str(script))} run"
    return f"{_quote(sys.executable)} -m assistant run"


def _quote(word: str) -> str:
    return word if word == shlex.quote(word) else '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_unit() -> str:
    readme = checkout() / "README.md"
    docs = f"Documentation={readme.as_uri()}\n" if readme.is_file() else ""
    return f"""[Unit]
Description=assistant: local push-to-talk voice assistant
{docs}# Sound servers run as user services too; start after them so the devices are there.
After=pipewire.service pipewire-pulse.service pulseaudio.service
StartLimitIntervalSec=60
StartLimitBurst=5

[Service]
Type=notify
NotifyAccess=main
ExecStart={exec_start()}
# SIGHUP makes the daemon re-read config.toml and models.toml: `systemctl --user reload assistant`.
ExecReload=/bin/kill -HUP $MAINPID
Restart=on-failure
RestartSec=3
WatchdogSec=30
TimeoutStopSec=10
# Workers are children of the daemon; stopping the unit ends them with it.
KillMode=control-group
Environment=PYTHONUNBUFFERED=1
# PulseAudio and PipeWire's pulse server both listen here in a user session.
Environment=PULSE_SERVER=unix:%t/pulse/native
# DISPLAY and WAYLAND_DISPLAY come from the session via `systemctl --user import-environment`.

[Install]
WantedBy=default.target
"""


def _systemctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["systemctl", "--user", *args], capture_output=True, text=True, timeout=30)


def _has_user_systemd() -> bool:
    if not shutil.which("systemctl"):
        return False
    return _systemctl("show-environment").returncode == 0


def install(start: bool = True) -> list[str]:
    """Write the unit for this checkout and enable it; running it twice changes nothing the second time."""
    path = unit_path()
    changed = _write_unit(path)
    lines = [f"{'wrote' if changed else 'unchanged:'} {path}"]
    if exec_start().endswith(" -m assistant run"):
        lines.append(
            f"note: {checkout()} has no .venv of its own, so the unit runs {sys.executable}; run scripts/install.sh"
            " and then this again, so that the unit survives upgrades"
        )
    if not _has_user_systemd():
        lines.append("no systemd user manager here; when there is one, run:")
        lines.append("  systemctl --user daemon-reload && systemctl --user enable --now assistant")
        return lines
    steps: list[tuple[str, ...]] = [("daemon-reload",)] if changed else []
    steps.append(("enable", "--now", UNIT_NAME) if start else ("enable", UNIT_NAME))
    for args in steps:
        proc = _systemctl(*args)
        if proc.returncode != 0:
            raise AssistantError(f"systemctl --user {' '.join(args)} failed: {proc.stderr.strip().splitlines()[0]}")
        lines.append(f"systemctl --user {' '.join(args)}: ok")
    if changed and _systemctl("is-active", UNIT_NAME).stdout.strip() == "active":
        lines.append("the running service still runs the old unit: systemctl --user restart assistant")
    return lines


def _write_unit(path: Path) -> bool:
    """Write the unit if its text differs; returns whether it did."""
    text = render_unit()
    if path.is_file() and path.read_text() == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, text, 0o644)
    return True


def refresh() -> list[str]:
    """For install.sh: rewrite the installed unit if it runs this checkout (or runs nothing) and has changed.

    A unit that runs another checkout is left alone: installing one checkout never changes what another runs.
    """
    path = unit_path()
    if not path.is_file():
        return []
    target = inspect_unit(path)
    here = checkout()
    if target.problem is None and target.checkout != here:
        return [f"{path} runs {target.checkout}; left as it is (run `assistant service install` here to switch)"]
    if not _write_unit(path):
        return [f"{path} is up to date (runs {here})"]
    why = f"it was broken: {target.problem}" if target.problem else "it had changed"
    lines = [f"updated {path} ({why}): ExecStart={exec_start()}"]
    if _has_user_systemd():
        _systemctl("daemon-reload")
        if _systemctl("is-active", UNIT_NAME).stdout.strip() == "active":
            lines.append("restart the service to run the new code: systemctl --user restart assistant")
    return lines


@dataclass(frozen=True)
class UnitTarget:
    """What an installed unit's ExecStart really runs."""

    program: Path | None
    python: Path | None
    checkout: Path | None  # the directory its `assistant` package is imported from
    problem: str | None  # None when it starts and imports the assistant


# Imports what the daemon imports first, so a store without the dependencies fails here too.
_PROBE = "import os, assistant.cli.app, assistant; print(os.path.dirname(os.path.dirname(os.path.realpath(assistant.__file__))))"


def _interpreter(argv: list[str]) -> Path | None:
    """The Python an ExecStart runs: the program itself for `python -m assistant`, else its #! line's."""
    program = Path(argv[0])
    if argv[1:3] == ["-m", "assistant"]:
        return program
    try:
        with program.open("rb") as f:
            first = f.readline(512).decode(errors="replace")
    except OSError:
        return None  # a directory, or not readable: `doctor` then says the interpreter is missing
    if not first.startswith("#!"):
        return None
    words = first[2:].split()
    if words and Path(words[0]).name == "env" and len(words) > 1:
        found = shutil.which(words[1])
        return Path(found) if found else None
    return Path(words[0]) if words else None


def inspect_unit(path: Path) -> UnitTarget:
    """Start the unit's interpreter as systemd would (from $HOME, without our PYTHONPATH) and ask it where
    `assistant` comes from."""
    argv = read_exec_start(path)
    if not argv:
        return UnitTarget(None, None, None, f"{path} has no ExecStart line")
    program = Path(argv[0])
    if not os.access(program, os.X_OK):
        return UnitTarget(program, None, None, f"its program {program} does not exist")
    python = _interpreter(argv)
    if python is None or not os.access(python, os.X_OK):
        return UnitTarget(program, python, None, f"its interpreter {python} does not exist")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    try:
        proc = subprocess.run(
            [str(python), "-c", _PROBE], capture_output=True, text=True, timeout=120, cwd=Path.home(), env=env
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return UnitTarget(program, python, None, f"its interpreter {python} does not start ({exc})")
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return UnitTarget(program, python, None, f"its interpreter {python} cannot import the assistant ({last})")
    return UnitTarget(program, python, Path(proc.stdout.strip()), None)


def uninstall() -> list[str]:
    path = unit_path()
    lines = []
    if _has_user_systemd():
        _systemctl("disable", "--now", UNIT_NAME)
        lines.append("disabled and stopped assistant.service")
    if path.exists():
        path.unlink()
        lines.append(f"removed {path}")
        if _has_user_systemd():
            _systemctl("daemon-reload")
    else:
        lines.append(f"{path} was not installed")
    return lines


def restart() -> list[str]:
    """Restart the unit (a stop and a start, so config.toml is read anew from the top)."""
    if not _has_user_systemd():
        raise AssistantError("no systemd user manager here; a daemon in a terminal is restarted by stopping it "
                             "(Ctrl+C or `assistant shutdown`) and running `assistant run` again")
    if not unit_path().exists():
        raise AssistantError(f"the service is not installed ({unit_path()} is absent); run `assistant service install`")
    proc = _systemctl("restart", UNIT_NAME)
    if proc.returncode != 0:
        raise AssistantError(f"systemctl --user restart {UNIT_NAME} failed: {(proc.stderr.strip().splitlines() or ['no output'])[0]}")
    return [f"systemctl --user restart {UNIT_NAME}: ok"]


def status() -> str:
    path = unit_path()
    if not path.exists():
        return f"not installed ({path} is absent); run `assistant service install`"
    if not _has_user_systemd():
        return f"installed at {path}; no systemd user manager here to run it"
    active = _systemctl("is-active", UNIT_NAME).stdout.strip()
    enabled = _systemctl("is-enabled", UNIT_NAME).stdout.strip()
    return f"installed at {path}; {enabled}, {active}"


def verify(path: Path) -> subprocess.CompletedProcess[str]:
    """Run `systemd-analyze verify` on a unit file (used by `assistant doctor` and the tests)."""
    if not shutil.which("systemd-analyze"):
        raise AssistantError("systemd-analyze is not installed; install the systemd package")
    return subprocess.run(
        ["systemd-analyze", "verify", str(path)], capture_output=True, text=True, timeout=60
    )
