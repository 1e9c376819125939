"""The systemd user unit: write, enable, remove, and report it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from .errors import AssistantError
from .paths import xdg_dir

UNIT_NAME = "assistant.service"


def unit_path() -> Path:
    return xdg_dir("XDG_CONFIG_HOME", ".config") / "systemd" / "user" / UNIT_NAME


def render_unit(python: str | None = None) -> str:
    python = python or sys.executable
    return f"""[Unit]
Description=assistant: local push-to-talk voice assistant
Documentation=https://github.com/assistant-dev/assistant
# Sound servers run as user services too; start after them so the devices are there.
After=pipewire.service pipewire-pulse.service pulseaudio.service
StartLimitIntervalSec=60
StartLimitBurst=5

[Service]
Type=notify
NotifyAccess=main
ExecStart={python} -m assistant run
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
    path = unit_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_unit())
    lines = [f"wrote {path}"]
    if not _has_user_systemd():
        lines.append("no systemd user manager here; when there is one, run:")
        lines.append("  systemctl --user daemon-reload && systemctl --user enable --now assistant")
        return lines
    for args in (("daemon-reload",), ("enable", "--now", UNIT_NAME) if start else ("enable", UNIT_NAME)):
        proc = _systemctl(*args)
        if proc.returncode != 0:
            raise AssistantError(f"systemctl --user {' '.join(args)} failed: {proc.stderr.strip().splitlines()[0]}")
        lines.append(f"systemctl --user {' '.join(args)}: ok")
    return lines


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
