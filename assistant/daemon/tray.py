"""`assistant tray` started beside the daemon in a graphical session (the icon itself is cli/tray.py).

A child process, not part of the daemon: a panel or D-Bus fault then costs the icon, never a turn. Its
output (one line when there is no StatusNotifierWatcher yet, or a menu action that failed) goes to the log.
It waits for a panel: a user session often starts this service before the panel, and a panel may restart.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys

log = logging.getLogger(__name__)


class TrayChild:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self._log = asyncio.get_running_loop().create_task(self._relay())

    @classmethod
    async def start(cls) -> TrayChild | None:
        """The tray, where there is a session bus and a display for it to show on; None elsewhere."""
        graphical = os.environ.get("WAYLAND_DISPLAY") or os.environ.get("DISPLAY")
        if not (os.environ.get("DBUS_SESSION_BUS_ADDRESS") and graphical):
            return None
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "assistant", "tray", "--wait", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        return cls(proc)

    async def _relay(self) -> None:
        assert self.proc.stdout is not None
        async for line in self.proc.stdout:
            log.warning("%s", line.decode(errors="replace").strip())

    async def close(self) -> None:
        if self.proc.returncode is None:
            self.proc.terminate()
        await asyncio.gather(self._log, self.proc.wait(), return_exceptions=True)
