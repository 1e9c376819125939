"""Liveness by progress: a stopped or deadlocked worker is killed in seconds, a busy one keeps its long deadline,
and what waits behind a hung turn is served after it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any

import pytest

from assistant.core.errors import AssistantError
from assistant.core.paths import Paths
from assistant.hosts.progress import STOPPED_GRACE_S, Progress, Sample, WorkerLimits, sample

from ..daemon_process import SCRIPTED, DaemonProcess, write_catalog
from ..daemon.test_reliability import gone, llm_pid, wait_state

pytestmark = pytest.mark.reliability


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.quick
def test_progress_tells_a_stopped_an_idle_and_a_busy_worker_apart() -> None:
    clock = Clock()
    seen = {"state": "S", "cpu": 5.0}

    def read(pid: int) -> Sample:
        return Sample(str(seen["state"]), float(seen["cpu"]))

    limits = WorkerLimits({"chat": 120.0}, idle_s=10.0)
    busy = Progress(1, "chat", limits, clock=clock, read=read)
    for _ in range(100):  # 100 s of silence while the CPU time advances: a big model thinking
        clock.now += 1.0
        seen["cpu"] = float(seen["cpu"]) + 0.9
        assert busy.check() is None
    clock.now += 21.0
    seen["cpu"] = float(seen["cpu"]) + 1.0
    assert busy.check() == "made no progress for 120 s"  # the long deadline still ends a busy silence

    idle = Progress(1, "chat", limits, clock=clock, read=read)
    clock.now += 9.5
    assert idle.check() is None
    idle.heard()  # a message is progress
    clock.now += 9.5
    assert idle.check() is None
    clock.now += 0.6
    assert idle.check() == "used no CPU for 10 s, deadlocked"

    stopped = Progress(1, "chat", limits, clock=clock, read=read)
    seen["state"] = "T"
    clock.now += 1.0
    assert stopped.check() is None  # a stop this short may be a Ctrl+Z and fg
    clock.now += STOPPED_GRACE_S
    assert stopped.check() == f"has been stopped (state T in /proc) for {STOPPED_GRACE_S:g} s"

    seen["state"] = "D"  # waiting on the disk (weights paged in, memory swapped): slow, not hung
    on_disk = Progress(1, "chat", limits, clock=clock, read=read)
    clock.now += 30.0
    assert on_disk.check() is None

    # A stand-in GPU meter (no card here): a worker waiting on its kernel with no CPU time is not idle.
    seen["state"] = "S"
    on_gpu = Progress(1, "chat", limits, gpu_busy=lambda pid, since: True, clock=clock, read=read)
    clock.now += 30.0
    assert on_gpu.check() is None
    off_gpu = Progress(1, "chat", limits, gpu_busy=lambda pid, since: False, clock=clock, read=read)
    clock.now += 10.0
    assert off_gpu.check() == "used no CPU for 10 s, deadlocked"


@pytest.mark.quick
def test_proc_samples_a_real_process_state_and_cpu_time() -> None:
    spin = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        first = sample(spin.pid)
        time.sleep(0.5)
        later = sample(spin.pid)
        assert first is not None and later is not None and later.cpu_s > first.cpu_s
        os.kill(spin.pid, signal.SIGSTOP)
        time.sleep(0.2)
        stopped = sample(spin.pid)
        assert stopped is not None and stopped.state == "T"
        time.sleep(0.5)
        still = sample(spin.pid)
        assert still is not None and still.cpu_s == stopped.cpu_s
    finally:
        spin.kill()
        spin.wait()
    assert sample(spin.pid) is None


def test_a_stopped_llm_costs_seconds_and_the_ask_behind_it_is_served(xdg: Paths) -> None:
    write_catalog(xdg, llm_gb=9.0)  # default deadlines: chat_stall_s = 120
    with DaemonProcess(xdg, "--no-audio") as daemon:
        daemon.wait_warm()
        hung = llm_pid(daemon)
        os.kill(hung, signal.SIGSTOP)
        outcome: dict[str, Any] = {}

        def ask(key: str, text: str) -> None:
            started = time.monotonic()
            try:
                outcome[key] = daemon.call("ask", text=text, speak=False)
            except AssistantError as exc:
                outcome[key] = exc
            outcome[f"{key}_s"] = time.monotonic() - started

        first = threading.Thread(target=ask, args=("first", "Hello there."))
        first.start()
        wait_state(daemon, "thinking")
        second = threading.Thread(target=ask, args=("second", "Say hello."))  # queued behind the hung turn
        second.start()
        first.join(60)
        second.join(120)
        error = outcome["first"]
        assert isinstance(error, AssistantError) and error.code == "worker_stalled", outcome
        assert error.message == (f"the smollm2-135m worker has been stopped (state T in /proc) for {STOPPED_GRACE_S:g} s"
                                 " (chat); it was killed and will restart on next use")
        assert outcome["first_s"] < 30, outcome  # seconds, not the two-minute silence deadline
        assert gone(hung)
        served = outcome["second"]
        assert isinstance(served, dict) and served["reply"] and not served.get("interrupted"), outcome
        history = daemon.json("history")
        assert [turn["error_code"] for turn in history[-2:]] == ["worker_stalled", None], history[-2:]
        assert daemon.call("status")["state"] == "idle"


def test_a_deadlocked_llm_is_killed_and_a_busy_silent_one_is_not(xdg: Paths) -> None:
    """The stand-in LLM (no PyPI model can be made to deadlock on cue): one turn sleeps with no CPU, as a
    deadlock does; one computes for longer than idle_stall_s before its first token, as a long prefill."""
    xdg.user_catalog.write_text(SCRIPTED)
    (xdg.config_dir / "script.json").write_text(json.dumps({"turns": [
        {"match": "deadlock", "rounds": [[{"sleep": 3600}, {"text": "never"}]]},
        {"match": "think", "rounds": [[{"spin": 6}, {"text": "Thought it through."}]]},
    ]}))
    xdg.config_file.write_text("[workers]\nidle_stall_s = 3\n")
    with DaemonProcess(xdg, "--no-audio") as daemon:
        daemon.wait_warm()
        daemon.call("llm.use", id="scripted-tools")
        started = time.monotonic()
        failed = daemon.cli("ask", "--no-speak", "deadlock please", timeout=120)
        took = time.monotonic() - started
        assert failed.returncode == 1 and failed.stderr.strip() == (
            "error: the scripted-tools worker used no CPU for 3 s, deadlocked (chat);"
            " it was killed and will restart on next use"), failed.stderr
        assert took < 20, took
        thought = daemon.cli("ask", "--no-speak", "think hard", timeout=120)
        assert thought.returncode == 0 and thought.stdout.strip() == "Thought it through.", thought.stderr
        assert "think hard" in daemon.json("history")[-1]["transcript"]
