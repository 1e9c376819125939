"""Where the assistant keeps config, state, data and its control socket (XDG base dirs)."""

from __future__ import annotations

import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from assistant.core.errors import AssistantError

APP = "assistant"


class UnsafeRuntimeDir(AssistantError):
    code = "unsafe_runtime_dir"


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
        return cls(
            config_dir=xdg_dir("XDG_CONFIG_HOME", ".config") / APP,
            state_dir=xdg_dir("XDG_STATE_HOME", ".local/state") / APP,
            data_dir=xdg_dir("XDG_DATA_HOME", ".local/share") / APP,
            runtime_dir=runtime_dir(),
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
    def portal_token(self) -> Path:
        """The RemoteDesktop portal's restore token: the desktop asks the user only the first time."""
        return self.state_dir / "portal-token"

    @property
    def log_file(self) -> Path:
        return self.state_dir / "daemon.log"

    @property
    def replies_dir(self) -> Path:
        return self.data_dir / "replies"


def runtime_dir() -> Path:
    """Where the control socket lives: $XDG_RUNTIME_DIR/assistant, else /run/user/UID/assistant (what
    logind makes, even when the variable was lost, as under sudo or cron), else a private dir in /tmp."""
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    if runtime and os.path.isabs(runtime):
        return Path(runtime) / APP
    user_run = Path(f"/run/user/{os.getuid()}")
    if user_run.is_dir():
        return user_run / APP
    # /tmp is shared: anyone may make this name first, so check_runtime_dir() must vet it before use.
    return Path(tempfile.gettempdir()) / f"{APP}-{os.getuid()}"


def check_runtime_dir(path: Path, create: bool = False) -> None:
    """Refuse a runtime dir another user could reach: it must be a real directory (not a symlink), owned
    by us, mode 0700. Both the daemon (before binding) and the CLI (before sending a word) call this,
    so a directory planted by someone else, with their own socket in it, never hears the user's requests.

    Args:
        create: make the directory (0700) when it is missing, as the daemon does.
    """
    if create:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.mkdir(mode=0o700)
            os.chmod(path, 0o700)  # mkdir's mode is cut by the umask
        except FileExistsError:
            pass  # vetted below, as found: never chmod-ed, since it may not be ours
    try:
        info = path.lstat()
    except FileNotFoundError:
        return  # nothing there: no daemon, and nothing to hijack
    fix = f"remove it (rm -r {path}) and start the daemon again"
    if stat.S_ISLNK(info.st_mode):
        raise UnsafeRuntimeDir(f"{path} is a symlink, which anyone who controls its target could use; {fix}")
    if not stat.S_ISDIR(info.st_mode):
        raise UnsafeRuntimeDir(f"{path} is not a directory; {fix}")
    if info.st_uid != os.getuid():
        owner = f"another user (uid {info.st_uid})"
        raise UnsafeRuntimeDir(f"{path} belongs to {owner}, who could read your requests; {fix}")
    if stat.S_IMODE(info.st_mode) != 0o700:
        raise UnsafeRuntimeDir(
            f"{path} has mode {stat.S_IMODE(info.st_mode):04o}, so others may reach the socket;"
            f" run `chmod 700 {path}` or remove it"
        )


def make_private_dir(path: Path) -> None:
    """Create path (and its missing parents) and make it 0700, whatever the umask: the assistant's state
    and data hold the user's conversation."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if stat.S_IMODE(path.stat().st_mode) != 0o700:
        os.chmod(path, 0o700)


def shipped_catalog() -> Path:
    """The models.toml at the top of the source tree (installs are editable)."""
    return Path(__file__).resolve().parents[2] / "models.toml"  # assistant/core/paths.py
