"""The same audio gives the same words: in two fresh daemons, after different earlier requests, through
Wyoming, the OpenAI API and `assistant transcribe`; and push-to-talk gives the same words in both daemons.

The files are espeak-ng voices the ASR was not tuned on, with room noise: doubtful decodes, where a
sampling fallback whose RNG state depends on earlier requests gave different words from run to run."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from assistant.core.paths import Paths

from .daemon import DaemonProcess
from .espeak import MISSING, espeak, with_noise
from .pulse import Pulse, pulse  # noqa: F401  (the session fixture)
from .test_voice_loop import wait_for
from .wyoming_peers import free_port, transcribe

pytestmark = [pytest.mark.audio, pytest.mark.reliability,
              pytest.mark.skipif(MISSING, reason="espeak-ng not installed (Debian package espeak-ng)")]

SPOKEN = [("Turn off the lights in the kitchen.", "en-gb-scotland"), ("Remind me to call my sister at five.", "en-us+f2"),
          ("Tell me a joke about cats.", "en-029"), ("What is the weather like tomorrow in Paris?", "en-us+m3"),
          ("Play some jazz music in the living room.", "en-us+f3")]


def clips(folder: Path) -> list[tuple[Path, np.ndarray]]:
    out = []
    for i, (text, voice) in enumerate(SPOKEN):
        audio = with_noise(espeak(text, voice, 170), 0.03, seed=i)
        path = folder / f"clip{i}.wav"
        with wave.open(str(path), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(16_000)
            w.writeframes((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())
        out.append((path, audio))
    return out


def one_daemon(xdg: Paths, pulse: Pulse, files: list[tuple[Path, np.ndarray]], order: list[int],  # noqa: F811
               before: str) -> dict[str, list[str]]:
    from openai import OpenAI

    port = free_port()
    xdg.config_file.write_text(f'[wyoming]\nuri = "tcp://127.0.0.1:{port}"\n[api]\nlisten = "127.0.0.1:0"\n')
    heard: dict[str, list[str]] = {"wyoming": [""] * len(files), "api": [""] * len(files), "ptt": [""] * len(files)}
    with DaemonProcess(xdg, env=pulse.env) as daemon:
        daemon.wait_warm()
        daemon.call("ask", text=before, speak=False)  # a different first request in each run
        client = OpenAI(base_url=str(daemon.call("status")["api"]["url"]), api_key="unused")
        for i in order:
            path, audio = files[i]
            heard["wyoming"][i] = asyncio.run(transcribe("127.0.0.1", port, audio))
            with path.open("rb") as f:
                heard["api"][i] = client.audio.transcriptions.create(model="whisper-1", file=f).text
        for i in order:
            turns = len(daemon.call("history", all=True))
            daemon.call("ptt.press")
            pulse.mic.feed(files[i][1])
            pulse.mic.wait()
            time.sleep(0.3)  # the fifo and the capture stream each hold a little audio
            daemon.call("ptt.release")
            history: list[dict[str, Any]] = wait_for(
                lambda: (h := daemon.call("history", all=True)) if len(h) > turns else None, timeout=120)
            heard["ptt"][i] = history[-1]["transcript"]
            wait_for(lambda: daemon.call("status")["state"] == "idle", timeout=120)
    return heard


def test_the_same_audio_gives_the_same_words_in_every_run_and_through_every_path(
    xdg: Paths, pulse: Pulse, tmp_path: Path  # noqa: F811
) -> None:
    files = clips(tmp_path)
    first = one_daemon(xdg, pulse, files, list(range(len(files))), "Say hello.")
    second = one_daemon(xdg, pulse, files, list(reversed(range(len(files)))), "What is the capital of France?")
    offline = [subprocess.run([sys.executable, "-m", "assistant", "transcribe", str(path)], capture_output=True,
                              text=True, timeout=300).stdout.strip() for path, _ in files]
    for i, (text, voice) in enumerate(SPOKEN):
        said = {first["wyoming"][i], second["wyoming"][i], first["api"][i], second["api"][i], offline[i]}
        assert len(said) == 1, (text, voice, said)
        assert first["ptt"][i] == second["ptt"][i], (text, voice, first["ptt"][i], second["ptt"][i])
    assert any(words.strip() for words in offline)  # something was heard at all

