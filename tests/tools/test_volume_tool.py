"""The volume tool's pactl child: a barge-in or a hung sound server leaves no process behind."""

from __future__ import annotations

import asyncio
import os
import shutil
import stat
from pathlib import Path

import pytest

from assistant.tools.volume import volume_tools


def _hung_pactl(bin_dir: Path, pid_file: Path) -> None:
    """A stand-in for a sound server that never answers: a `pactl` that records its pid and waits."""
    script = bin_dir / "pactl"
    script.write_text(f"#!/bin/sh\necho $$ > {pid_file}\nexec sleep 60\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True  # killed and reaped
    return False


def test_a_cancelled_volume_change_kills_and_reaps_pactl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pid_file = tmp_path / "pid"
    _hung_pactl(tmp_path, pid_file)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    (tool,) = volume_tools()

    async def main() -> int:
        call = asyncio.create_task(tool.run({"action": "up"}))
        while not pid_file.exists() or not pid_file.read_text().strip():
            await asyncio.sleep(0.05)
        call.cancel()  # what a barge-in does to a running tool
        with pytest.raises(asyncio.CancelledError):
            await call
        return int(pid_file.read_text())

    pid = asyncio.run(main())
    assert _gone(pid), "pactl was left running after the cancel"


PACTL_NO_SERVER = """#!/bin/sh
echo "Connection failure: Connection refused" >&2
echo "pa_context_connect() failed: Connection refused" >&2
exit 1
"""


def test_no_sound_server_is_said_as_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The real pactl where there is one, pointed at a server that is not there; else one that says the same.
    if shutil.which("pactl") is None:
        script = tmp_path / "pactl"
        script.write_text(PACTL_NO_SERVER)
        script.chmod(0o755)
        monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("PULSE_SERVER", f"unix:{tmp_path}/no-pulse/native")
    (tool,) = volume_tools()
    for action in ({"action": "set", "percent": 50}, {"action": "up"}, {"action": "mute"}):
        result = asyncio.run(tool.run(action))
        assert not result.ok
        assert "pa_context" not in result.text and "Connection refused" not in result.text, result.text
        assert "no sound server is running" in result.text and "start PipeWire or PulseAudio" in result.text
