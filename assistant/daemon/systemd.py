"""The sd_notify protocol (READY, WATCHDOG, STOPPING) through the sdnotify library."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from assistant.install.unit import UNIT_NAME

log = logging.getLogger(__name__)


class SystemdNotifier:
    """Talks to systemd when it started us (NOTIFY_SOCKET is set); a no-op otherwise."""

    def __init__(self) -> None:
        self._notifier = None
        if os.environ.get("NOTIFY_SOCKET"):
            import sdnotify

            self._notifier = sdnotify.SystemdNotifier()

    def notify(self, state: str) -> None:
        if self._notifier is not None:
            self._notifier.notify(state)

    def watchdog_interval(self) -> float | None:
        """Half of WatchdogSec, as sd_watchdog_enabled(3) advises; None when no watchdog is armed."""
        usec = os.environ.get("WATCHDOG_USEC")
        pid = os.environ.get("WATCHDOG_PID")
        if self._notifier is None or not usec or (pid and int(pid) != os.getpid()):
            return None
        return int(usec) / 1e6 / 2


def restart_command() -> str:
    """How the user restarts this daemon: through its unit when the user's systemd started it (its parent),
    else a stop and a start where it runs in a terminal."""
    try:
        parent = Path(f"/proc/{os.getppid()}/comm").read_text().strip()
    except OSError:
        parent = ""
    if parent == "systemd" and os.environ.get("INVOCATION_ID"):
        return f"systemctl --user restart {UNIT_NAME.removesuffix('.service')}"
    return "stop the daemon (Ctrl+C where it runs, or `assistant shutdown`) and start it again with `assistant run`"
