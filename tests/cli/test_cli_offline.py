"""The CLI without a daemon: say, transcribe and converse on real models, end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from assistant.audio.files import read_audio
from assistant.core.paths import Paths

from ..speech import wer


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "assistant", *args], capture_output=True, text=True, timeout=180)


def test_say_then_transcribe_then_converse(xdg: Paths, tmp_path: Path) -> None:
    question = "How do I make a cup of tea?"
    wav = tmp_path / "q.wav"
    said = cli("say", question, "--out", str(wav))
    assert said.returncode == 0, said.stderr
    audio, rate = read_audio(wav)
    assert rate == 22050 and len(audio) > rate  # over a second of speech

    heard = cli("transcribe", str(wav))
    assert heard.returncode == 0, heard.stderr
    assert wer(question, heard.stdout) <= 0.1

    out = tmp_path / "reply.wav"
    turn = cli("converse", "--audio", str(wav), "--out", str(out), "--json")
    assert turn.returncode == 0, turn.stderr
    result = json.loads(turn.stdout)
    assert wer(question, result["transcript"]) <= 0.1
    assert result["reply"]
    assert result["timings"]["first_audio_s"] <= result["timings"]["total_s"]
    reply_audio, reply_rate = read_audio(out)
    assert len(reply_audio) > reply_rate * 0.5


def test_models_list_json(xdg: Paths) -> None:
    proc = cli("models", "list", "--json")
    rows = {r["id"]: r for r in json.loads(proc.stdout)}
    assert rows["smollm2-135m"]["default"] and rows["smollm2-135m"]["present"]
    assert not rows["gpt-oss-20b"]["present"]


def test_doctor_reports_what_works_here(xdg: Paths) -> None:
    proc = cli("doctor", "--json")
    assert proc.returncode == 0, proc.stderr
    checks = {c["name"]: c for c in json.loads(proc.stdout)}
    assert all(checks[f"model {k}"]["ok"] for k in ("asr", "llm", "tts"))
    assert checks["hotkey cli"]["ok"]
    assert not checks["daemon"]["ok"] and "assistant run" in checks["daemon"]["detail"]
    assert "not installed" in checks["systemd unit"]["detail"]
    # No NVIDIA GPU on this machine; on one with a GPU the check names it.
    assert checks["gpu"]["detail"].startswith("no NVIDIA GPU") != checks["gpu"]["ok"]
