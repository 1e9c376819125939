"""Where the systemd user unit lives and what it runs: read by the installer and by the store's pruning."""

from __future__ import annotations

import shlex
from pathlib import Path

from assistant.core.paths import xdg_dir

UNIT_NAME = "assistant.service"


def unit_path() -> Path:
    return xdg_dir("XDG_CONFIG_HOME", ".config") / "systemd" / "user" / UNIT_NAME


def read_exec_start(path: Path) -> list[str]:
    if not path.is_file():
        return []
    for line in path.read_text().splitlines():
        if line.startswith("ExecStart="):
            return shlex.split(line.removeprefix("ExecStart=").lstrip("-@:+!"))
    return []
