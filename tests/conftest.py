"""Shared fixtures: a private XDG tree per test, and configs built the way the daemon builds them."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.config.settings import Config
from assistant.core.paths import Paths


@pytest.fixture
def xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Paths:
    """Point every XDG dir at tmp_path, so nothing a test does touches the user's files."""
    for var, sub in (
        ("XDG_CONFIG_HOME", "config"),
        ("XDG_STATE_HOME", "state"),
        ("XDG_DATA_HOME", "data"),
        ("XDG_RUNTIME_DIR", "run"),
    ):
        (tmp_path / sub).mkdir(mode=0o700)
        monkeypatch.setenv(var, str(tmp_path / sub))
    paths = Paths.from_env()
    paths.config_dir.mkdir(parents=True)
    return paths


@pytest.fixture
def config(xdg: Paths) -> Config:
    return Config.load(xdg)
