"""Where the assistant keeps config, state, data and its control socket (XDG base dirs)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

APP = "assistant"


def xdg_dir(var: str, fallback: str) -> Path:
    value = os.environ.get(var, "")
    # The XDG spec says relative values are invalid and must be ignored.
    if value and os.path.isabs(value):
        return Path(value)
    return Path.home() / fallback


@dataclass(frozen=True)
class Paths:
    config_dir: Path
    state_dir: Path
    data_dir: Path
    runtime_dir: Path

    @classmethod
    def from_env(cls) -> Paths:
        runtime = os.environ.get("XDG_RUNTIME_DIR", "")
        runtime_root = Path(runtime) if runtime and os.path.isabs(runtime) else Path(f"/tmp/{APP}-{os.getuid()}")
        return cls(
            config_dir=xdg_dir("XDG_CONFIG_HOME", ".config") / APP,
            state_dir=xdg_dir("XDG_STATE_HOME", ".local/state") / APP,
            data_dir=xdg_dir("XDG_DATA_HOME", ".local/share") / APP,
            runtime_dir=runtime_root / APP,
        )

    @property
    def socket(self) -> Path:
        return self.runtime_dir / "control.sock"

    @property
    def config_file(self) -> Path:
        return self.config_dir / "config.toml"

    @property
    def user_catalog(self) -> Path:
        return self.config_dir / "models.toml"

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def history_file(self) -> Path:
        return self.state_dir / "history.jsonl"

    @property
    def selection_file(self) -> Path:
        return self.state_dir / "selection.json"

    @property
    def footprints_file(self) -> Path:
        return self.state_dir / "footprints.json"

    @property
    def replies_dir(self) -> Path:
        return self.data_dir / "replies"


def shipped_catalog() -> Path:
    """The models.toml at the top of the source tree (installs are editable)."""
    return Path(__file__).resolve().parent.parent / "models.toml"
