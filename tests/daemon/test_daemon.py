"""The real daemon on a temp socket, driven by the real CLI, on the embedded models and a simulated 16 GB GPU."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from assistant.api.client import Client
from assistant.core.paths import Paths

from ..daemon_process import DaemonProcess, alive, write_catalog
from ..waiting import wait_for


@pytest.fixture
def daemon(xdg: Paths) -> Any:
    write_catalog(xdg, llm_gb=9.0)
    with DaemonProcess(xdg, "--no-audio") as running:
        yield running


def test_every_cli_command_and_its_json(daemon: DaemonProcess) -> None:
    status = daemon.json("status")
    assert status["state"] == "idle" and status["llm"] == "smollm2-135m"
    assert status["vram"]["meter"] == "simulated" and status["vram"]["total_gb"] == 16
    assert "whisper-tiny-en" in [m["id"] for m in status["resident"]]  # warmed at startup
    human = daemon.cli("status")
    assert human.returncode == 0 and "state:   idle" in human.stdout and "whisper-tiny-en" in human.stdout

    llms = daemon.json("llm", "list")
    assert {row["id"] for row in llms} >= {"smollm2-135m", "smollm2-alt", "qwen3-8b"}
    assert [row["id"] for row in llms if row["current"]] == ["smollm2-135m"]
    assert daemon.cli("llm", "current").stdout.strip() == "smollm2-135m"
    assert daemon.json("llm", "current")["id"] == "smollm2-135m"

    answer = daemon.json("ask", "What is the capital of France?")
    assert answer["transcript"] == "What is the capital of France?"
    assert answer["reply"] and answer["error"] is None
    assert Path(answer["audio_path"]).stat().st_size > 1000  # no output device: the reply is a WAV
    plain = daemon.cli("ask", "--no-speak", "Say hello.")
    assert plain.returncode == 0 and plain.stdout.strip()

    said = daemon.cli("say", "Hello there.")
    assert said.returncode == 0 and "audio in" in said.stdout

    history = daemon.json("history")
    assert [t["transcript"] for t in history] == ["What is the capital of France?", "Say hello."]
    assert history[0]["timings"]["total_s"] > 0
    assert "you: What is the capital of France?" in daemon.cli("history").stdout

    vram = daemon.json("vram", "status")
    states = {m["id"]: m["state"] for m in vram["models"]}
    assert states["smollm2-135m"] == "idle" and states["piper-joe"] == "idle"
    assert any(e["event"] == "load" and e["model"] == "piper-joe" for e in vram["events"])
    assert "LOAD_COUNT" in daemon.cli("vram", "status").stdout

    # No audio device: push-to-talk says so, in one line, and the daemon keeps serving.
    press = daemon.cli("ptt", "press")
    assert press.returncode == 1 and press.stderr.startswith("error: cannot listen:")
    assert daemon.cli("ptt", "release").stderr.startswith("error: not listening")
    assert daemon.json("ptt", "cancel") == {"cancelled": False}

    new = daemon.cli("history", "--clear")
    assert new.returncode == 0 and "new conversation" in new.stdout
    assert daemon.json("history") == []
    assert len(daemon.json("history", "--all")) == 2

    reload = daemon.cli("config", "reload")
    assert reload.returncode == 0 and "models.toml" in reload.stdout and "restart" not in reload.stdout
    # A section opened once at start is not pretended to be reloaded.
    daemon.paths.config_file.write_text("[wake]\nsilence_s = 1.2\n")
    needs_restart = daemon.cli("config", "reload")
    assert needs_restart.returncode == 0 and "[wake]" in needs_restart.stdout and "restart" in needs_restart.stdout
    daemon.paths.config_file.write_text("history_tokens = 'many'\n")
    broken = daemon.cli("config", "reload")
    assert broken.returncode == 1 and "the old one stays" in broken.stderr
    assert daemon.json("status")["state"] == "idle"

    assert daemon.cli("shutdown").returncode == 0
    assert daemon.proc is not None and daemon.proc.wait(10) == 0


def test_not_running_is_exit_code_2(xdg: Paths) -> None:
    proc = subprocess.run([sys.executable, "-m", "assistant", "status"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "error: assistant is not running; start it with `assistant run` or `systemctl --user start assistant`"
    )


def test_switch_llm_and_back_survives_restart(xdg: Paths) -> None:
    write_catalog(xdg, llm_gb=9.0)
    with DaemonProcess(xdg, "--no-audio") as daemon:
        daemon.call("ask", text="Hi.", speak=False)
        old_pid = _pid(daemon, "smollm2-135m")
        switched = daemon.cli("llm", "use", "smollm2-alt")
        assert switched.returncode == 0, switched.stderr
        assert switched.stdout.strip() == "LLM is now smollm2-alt (was smollm2-135m)"
        # 9 + 9 GB do not fit 15.5: the stale old LLM was evicted and its process really ended.
        assert not alive(old_pid)
        vram = daemon.call("vram.status")
        evictions = [e for e in vram["events"] if e["event"] == "evict"]
        assert evictions[-1]["model"] == "smollm2-135m" and "pass 0: stale" in evictions[-1]["reason"]
        assert daemon.call("ask", text="Hi again.", speak=False)["llm"] == "smollm2-alt"
        unknown = daemon.cli("llm", "use", "nope")
        assert unknown.returncode == 1 and "unknown LLM 'nope'" in unknown.stderr
        assert "smollm2-alt" in unknown.stderr and "piper-joe" not in unknown.stderr  # only the LLMs are offered
        not_llm = daemon.cli("llm", "use", "piper-joe")
        assert not_llm.returncode == 1 and "not an LLM" in not_llm.stderr
    with DaemonProcess(xdg, "--no-audio") as daemon:
        assert daemon.json("llm", "current")["id"] == "smollm2-alt"
        assert daemon.cli("llm", "use", "smollm2-135m").returncode == 0
    with DaemonProcess(xdg, "--no-audio") as daemon:
        assert daemon.json("status")["llm"] == "smollm2-135m"


def test_failed_switch_keeps_the_previous_llm(xdg: Paths, tmp_path: Path) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\0" * 4096)
    xdg.user_catalog.write_text(
        f'[[model]]\nid = "broken"\nkind = "llm"\nengine = "llama-cpp"\npath = "{broken}"\nvram_gb = 1\n'
    )
    with DaemonProcess(xdg, "--no-audio") as daemon:
        proc = daemon.cli("llm", "use", "broken")
        assert proc.returncode == 1
        assert proc.stderr.startswith("error: could not switch to broken, keeping smollm2-135m:")
        assert daemon.json("llm", "current")["id"] == "smollm2-135m"
        assert daemon.call("ask", text="Hello.", speak=False)["reply"]


def test_fifty_concurrent_clients(daemon: DaemonProcess) -> None:
    results: list[Any] = [None] * 50
    errors: list[BaseException] = []

    def client(i: int) -> None:
        try:
            with Client(daemon.paths.socket, timeout=600) as c:
                if i % 10 == 0:
                    results[i] = c.call("ask", text=f"Say the number {i}.", speak=False)
                elif i % 10 == 5:
                    results[i] = c.call("llm.use", id="smollm2-alt" if i % 20 == 5 else "smollm2-135m")
                else:
                    results[i] = c.call("status")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    assert not errors, errors
    assert all(r is not None for r in results)
    assert all(results[i]["reply"] for i in range(0, 50, 10))
    assert daemon.call("status")["state"] == "idle"


def test_fuzzed_and_malformed_messages_leave_the_daemon_serving(daemon: DaemonProcess) -> None:
    import random

    rng = random.Random(7)
    corpus = [
        b"not json\n",
        b"[1,2,3]\n",
        b'"just a string"\n',
        b'{"id": 1}\n',
        b'{"id": 1, "method": 5}\n',
        b'{"id": 1, "method": "nope"}\n',
        b'{"id": 1, "method": "llm.use", "params": {"id": 7}}\n',
        b'{"id": 1, "method": "ask", "params": []}\n',
        b'{"id": {"a": 1}, "method": "status"}\n',
        b'{"id": 1, "method": "status", "params": {"extra": true}}\n',
        b"\xff\xfe\xfd invalid utf-8\n",
        b'{"id": 1, "method": "history", "params": {"limit": "ten"}}\n',
        b"\n\n\n",
        b"{" * 1000 + b"\n",
    ]
    replies: list[dict[str, Any]] = []
    for round_ in range(40):
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(30)
            sock.connect(str(daemon.paths.socket))
            batch = [rng.choice(corpus) for _ in range(40)]
            batch += [bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200))) + b"\n" for _ in range(40)]
            if round_ % 10 == 0:
                batch.append(b"x" * (70 * 1024) + b"\n")  # over the 64 KiB limit
            rng.shuffle(batch)
            payload = b"".join(batch)
            sock.sendall(payload)
            if round_ % 4 == 0:
                continue  # hang up without reading the replies
            expected = sum(1 for line in payload.split(b"\n")[:-1] if line.strip())
            data = b""
            while data.count(b"\n") < expected:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
            replies += [json.loads(line) for line in data.splitlines()]
    assert len(replies) > 1000
    assert all("error" in r and r["error"]["code"] and r["error"]["message"] for r in replies)
    assert {r["error"]["code"] for r in replies} >= {"bad_json", "bad_request", "bad_encoding", "unknown_method", "bad_params", "too_large"}
    # A client that hangs up mid-message, and one that never reads, do not block others.
    half = socket.socket(socket.AF_UNIX)
    half.connect(str(daemon.paths.socket))
    half.sendall(b'{"id": 1, "method": "sta')
    silent = socket.socket(socket.AF_UNIX)
    silent.connect(str(daemon.paths.socket))
    silent.sendall(b'{"id": 1, "method": "history"}\n' * 200)
    assert daemon.call("status")["state"] == "idle"
    half.close()
    silent.close()
    assert daemon.json("status")["state"] == "idle"


def test_sigterm_mid_turn(xdg: Paths) -> None:
    write_catalog(xdg, llm_gb=9.0)
    daemon = DaemonProcess(xdg, "--no-audio").start()
    daemon.call("ask", text="Hello.", speak=False)
    workers = daemon.worker_pids()
    assert len(workers) >= 3
    asker = threading.Thread(target=lambda: _ignore(daemon.call, "ask", text="Tell me a long story about a dragon."))
    asker.start()
    wait_for(lambda: daemon.call("status")["state"] != "idle", 60, interval=0.05, what="the turn to start")
    took = daemon.stop(signal.SIGTERM)
    asker.join(30)
    assert daemon.proc is not None and daemon.proc.returncode == 0
    assert took <= 5.0, f"shutdown took {took:.1f} s"
    assert not [pid for pid in workers if alive(pid)], daemon.log.read_text()
    assert not xdg.socket.exists()
    turns = [json.loads(line) for line in xdg.history_file.read_text().splitlines()]
    assert turns[0]["transcript"] == "Hello." and turns[0]["reply"]


def test_worker_killed_mid_turn_reports_error_and_next_turn_works(daemon: DaemonProcess) -> None:
    daemon.call("ask", text="Hello.", speak=False)
    llm_pid = _pid(daemon, "smollm2-135m")
    failed: dict[str, Any] = {}

    def ask() -> None:
        try:
            failed["reply"] = daemon.call("ask", text="Count slowly from one to fifty.", speak=False)
        except Exception as exc:
            failed["error"] = exc

    os.kill(llm_pid, signal.SIGSTOP)  # held mid-turn: a small model could otherwise answer before the kill
    asker = threading.Thread(target=ask)
    asker.start()
    wait_for(lambda: daemon.call("status")["state"] == "thinking", 60, interval=0.02, what="the turn to be thinking")
    time.sleep(0.2)
    os.kill(llm_pid, signal.SIGKILL)
    asker.join(120)
    assert "killed by SIGKILL" in str(failed.get("error")), failed
    last = daemon.json("history")[-1]
    assert last["error_code"] == "worker_crashed"
    after = daemon.call("ask", text="Say hello.", speak=False)
    assert after["reply"] and _pid(daemon, "smollm2-135m") != llm_pid


def test_stale_socket_is_replaced_and_second_daemon_refused(xdg: Paths) -> None:
    xdg.runtime_dir.mkdir(parents=True, mode=0o700)
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(xdg.socket))  # bound but never listening: what a crashed daemon leaves
    stale.close()
    with DaemonProcess(xdg, "--no-audio") as daemon:
        assert stat.S_IMODE(xdg.runtime_dir.stat().st_mode) == 0o700
        assert stat.S_IMODE(xdg.socket.stat().st_mode) == 0o600
        second = daemon.cli("run", "--simulate-gpu", "16", "--no-audio", "--no-hotkeys", timeout=60)
        assert second.returncode == 1
        assert "Traceback" not in second.stdout + second.stderr
        assert "error: assistant is already running" in second.stdout
        assert daemon.json("status")["state"] == "idle"


def test_unit_file_passes_systemd_analyze_verify(xdg: Paths) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "assistant", "service", "install", "--no-start"], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    unit = Path(os.environ["XDG_CONFIG_HOME"]) / "systemd/user/assistant.service"
    text = unit.read_text()
    assert "Type=notify" in text and "WatchdogSec=" in text and "Restart=on-failure" in text
    from assistant.install.service import exec_start

    assert f"ExecStart={exec_start()}\n" in text and "https://" not in text
    from assistant.install.service import verify

    checked = verify(unit)
    assert checked.returncode == 0, checked.stderr
    broken = unit.with_name("broken.service")
    broken.write_text(text.replace("Type=notify", "Type=sometimes"))
    assert verify(broken).returncode != 0 or "Failed to parse" in verify(broken).stderr


def _pid(daemon: DaemonProcess, model_id: str) -> int:
    return int(next(m["pid"] for m in daemon.call("vram.status")["models"] if m["id"] == model_id))


def _ignore(fn: Any, *args: Any, **kwargs: Any) -> None:
    try:
        fn(*args, **kwargs)
    except Exception:
        pass


def test_subscribe_streams_state_turn_and_model_events(daemon: DaemonProcess) -> None:
    events: list[Any] = []
    client = Client(daemon.paths.socket, timeout=120)
    client.connect()

    def listen() -> None:
        try:
            for event in client.events():
                events.append(event)
                if event.event == "turn":
                    return
        except Exception as exc:
            events.append(exc)

    listener = threading.Thread(target=listen)
    listener.start()
    time.sleep(0.3)
    daemon.call("llm.use", id="smollm2-alt")  # a load and an eviction
    daemon.call("ask", text="Hello there.", speak=False)
    listener.join(120)
    client.close()
    kinds = [(e.event, e.data.get("state") or e.data.get("event")) for e in events if hasattr(e, "event")]
    assert ("state", "thinking") in kinds and ("state", "idle") in kinds
    assert ("vram", "load") in kinds and ("vram", "evict") in kinds
    assert ("llm", None) in kinds
    assert events[-1].event == "turn" and events[-1].data["transcript"] == "Hello there."


def test_systemd_notify_ready_watchdog_and_stopping(xdg: Paths, tmp_path: Path) -> None:
    """The daemon speaks sd_notify to whatever NOTIFY_SOCKET names, as it would to systemd."""
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify.sock"))
    notify.settimeout(60)
    daemon = DaemonProcess(
        xdg, "--no-audio", env={"NOTIFY_SOCKET": str(tmp_path / "notify.sock"), "WATCHDOG_USEC": "400000"}
    ).start()
    try:
        messages = []
        while sum("WATCHDOG=1" in m for m in messages) < 2:
            messages.append(notify.recv(4096).decode())
        assert messages[0].startswith("READY=1")
        assert sum("WATCHDOG=1" in m for m in messages) >= 2  # pinged every WatchdogSec / 2
        daemon.stop(signal.SIGTERM)
        while "STOPPING=1" not in messages[-1]:
            messages.append(notify.recv(4096).decode())
        assert daemon.proc is not None and daemon.proc.returncode == 0
    finally:
        daemon.stop()
        notify.close()
