"""The same audio gives the same words: in two fresh daemons, after different earlier requests, through
Wyoming, the OpenAI API and `assistant transcribe`; and through push-to-talk's path, wherever the press fell.

The files are espeak-ng voices the ASR was not tuned on, with room noise on the speech: doubtful decodes,
where a sampling fallback whose random state depends on earlier requests gave different words from run to
run, and where a few milliseconds more quiet before or after the speech changed the words."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from assistant.config.settings import Config
from assistant.core.paths import Paths
from assistant.turn.assistant import Assistant
from assistant.turn.streaming_asr import ANSWER_PAUSE_S, StreamingTranscriber
from assistant.vram.meter import SimulatedMeter

from ..daemon_process import DaemonProcess
from ..espeak import MISSING, espeak, with_noise
from ..wyoming_peers import free_port, transcribe

pytestmark = [pytest.mark.reliability,
              pytest.mark.skipif(MISSING, reason="espeak-ng not installed (Debian package espeak-ng)")]

SPOKEN = [("Turn off the lights in the kitchen.", "en-gb-scotland"), ("Remind me to call my sister at five.", "en-us+f2"),
          ("Tell me a joke about cats.", "en-029"), ("What is the weather like tomorrow in Paris?", "en-us+m3"),
          ("Play some jazz music in the living room.", "en-us+f3")]


def clips(folder: Path) -> list[tuple[Path, np.ndarray]]:
    out = []
    for i, (text, voice) in enumerate(SPOKEN):
        speech = espeak(text, voice, 170)
        speech = speech[: int(np.flatnonzero(np.abs(speech) > 0.01)[-1]) + 1]  # noise on the speech, not after it
        audio = with_noise(speech, 0.03, seed=i)
        path = folder / f"clip{i}.wav"
        with wave.open(str(path), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(16_000)
            w.writeframes((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())
        out.append((path, audio))
    return out


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def one_daemon(xdg: Paths, files: list[tuple[Path, np.ndarray]], order: list[int], before: str) -> dict[str, list[str]]:
    from openai import OpenAI

    port = free_port()
    xdg.config_file.write_text(f'[wyoming]\nuri = "tcp://127.0.0.1:{port}"\n[api]\nlisten = "127.0.0.1:0"\n')
    heard: dict[str, list[str]] = {"wyoming": [""] * len(files), "api": [""] * len(files)}
    with DaemonProcess(xdg, "--no-audio") as daemon:
        daemon.wait_warm()
        daemon.call("ask", text=before, speak=False)  # a different first request in each run
        client = OpenAI(base_url=f"{daemon.call('status')['api']['url']}/v1", api_key="unused-on-loopback")
        for i in order:
            path, audio = files[i]
            heard["wyoming"][i] = asyncio.run(transcribe("127.0.0.1", port, audio))
            with path.open("rb") as f:
                heard["api"][i] = client.audio.transcriptions.create(model="whisper-1", file=f).text
    return heard


def test_the_same_audio_gives_the_same_words_in_every_run_and_through_every_path(xdg: Paths, tmp_path: Path) -> None:
    files = clips(tmp_path)
    first = one_daemon(xdg, files, list(range(len(files))), "Say hello.")
    second = one_daemon(xdg, files, list(reversed(range(len(files)))), "What is the capital of France?")
    offline = [subprocess.run([sys.executable, "-m", "assistant", "transcribe", str(path)], capture_output=True,
                              text=True, timeout=300).stdout.strip() for path, _ in files]
    for i, (text, voice) in enumerate(SPOKEN):
        said = {first["wyoming"][i], second["wyoming"][i], first["api"][i], second["api"][i], offline[i]}
        assert len(said) == 1, (text, voice, said)
    assert all(words(said) for said in offline)  # something was heard in each


def test_push_to_talk_reads_the_same_samples_as_the_file_wherever_the_press_fell(config: Config, tmp_path: Path) -> None:
    """Push-to-talk's path (the capture's blocks, the pause's transcript reused at the release) on the same
    samples a file holds, with the press at different moments before the speech: the file's words each time.
    (Through a sound server the samples differ from run to run: it resamples the mic, from a phase that
    depends on when the stream started; those words can differ as the audio does.)"""
    from ..turn.test_streaming_asr import FedMic, silence

    async def main() -> None:
        assistant = Assistant.create(config, SimulatedMeter(total_gb=16), persist=False)
        asr = assistant.models.asr
        try:
            await assistant.arbiter.ensure(asr)
            for _, audio in clips(tmp_path)[:3]:
                whole = (await assistant.pipeline.transcribe(audio, asr)).text
                for lead_samples in (4_987, 9_600 + 37):  # the press 0.31 s or 0.60 s before the first word
                    mic = FedMic()
                    streamer = StreamingTranscriber(lambda a: assistant.pipeline.transcribe(a, asr), mic.so_far,
                                                    pause_s=ANSWER_PAUSE_S)
                    held = np.concatenate([np.zeros(lead_samples, dtype=np.float32), audio, silence(0.6)])
                    await asyncio.to_thread(mic.speak, held, streamer)
                    streamed = await streamer.finish(mic.so_far())
                    assert streamed.text == whole, (lead_samples, streamed.text, whole)
        finally:
            await assistant.close()

    asyncio.run(main())
