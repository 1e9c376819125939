"""Test helper: a private PulseAudio server with a null sink "spk" and a fifo-fed source "mic", as a session fixture.

Use it from a test module with `from tests.pulse import pulse` and a `pulse: Pulse` argument.
The fixture puts `Pulse.env` into os.environ for the session (and re-initialises PortAudio if
sounddevice was imported before), so sounddevice in the test process sees the `pulse` and
`default` ALSA devices, routed to spk and mic. For a subprocess (the daemon), pass
`{**os.environ, **pulse.env}`; sounddevice there initialises PortAudio on import, which is then
after the variables are set.

Findings on this setup:
- As root, `pulseaudio -n` with its own XDG_RUNTIME_DIR / PULSE_RUNTIME_PATH works without
  --system; it only warns "This program is not intended to be run as root".
- module-pipe-source creates the fifo itself and fails ("mkfifo: File exists") if it is
  there, so a restart removes it first.
- The pipe source is clocked by its writer, not by a timer: the feeder thread writes silence
  at real-time pace whenever there is no speech, or a recording stream gets no data at all.
- The null sink sleeps in 2 s blocks while nothing plays, so the first output stream after
  an idle spell stalls ~2 s after its first buffer. A permanent low-latency stream of
  silence (pacat from /dev/zero) keeps the sink awake; real sound cards do not need this.
- PULSE_COOKIE and PULSE_CLIENTCONFIG keep clients from writing a cookie into ~/.config/pulse
  and from autospawning a server of their own when this one is stopped.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

MIC_RATE = 16_000
BLOCK = MIC_RATE // 100  # the feeder writes 10 ms at a time

PULSE_KEY = pytest.StashKey["Pulse"]()
TOOLS = ("pulseaudio", "pactl", "pacat", "parecord")


class MicFeeder:
    """Writes 16 kHz s16le into the mic fifo at real-time pace: queued speech, else silence."""

    def __init__(self, fifo: Path) -> None:
        self.fifo = fifo
        self._lock = threading.Lock()
        self._pending = np.zeros(0, dtype=np.int16)
        self._idle = threading.Event()
        self._idle.set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mic-feeder", daemon=True)
        self._thread.start()

    def feed(self, audio: np.ndarray) -> None:
        """Queue float samples in [-1, 1] at 16 kHz; they follow what is already queued."""
        pcm = (np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0) * 32767).astype(np.int16)
        with self._lock:
            self._pending = np.concatenate([self._pending, pcm])
            self._idle.clear()

    def wait(self, timeout: float = 60.0) -> None:
        """Block until everything fed has been written."""
        if not self._idle.wait(timeout):
            raise TimeoutError("the mic feeder did not catch up")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _next_block(self) -> bytes:
        with self._lock:
            block, self._pending = self._pending[:BLOCK], self._pending[BLOCK:]
            if not len(self._pending):
                self._idle.set()
        return np.concatenate([block, np.zeros(BLOCK - len(block), dtype=np.int16)]).tobytes()

    def _run(self) -> None:
        fd = -1
        deadline = time.monotonic()
        while not self._stop.is_set():
            if fd < 0:
                try:
                    # Non-blocking: opening a fifo nobody reads fails with ENXIO instead of hanging.
                    fd = os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK)
                except OSError:
                    time.sleep(0.05)
                    continue
                deadline = time.monotonic()
            try:
                os.write(fd, self._next_block())
            except BlockingIOError:
                pass  # pulse is 2 s behind (64 KiB pipe): drop a block rather than stall the clock
            except OSError as exc:
                if exc.errno not in (errno.EPIPE, errno.EBADF):
                    raise
                os.close(fd)  # the server went away; its successor makes a new fifo
                fd = -1
                continue
            deadline += BLOCK / MIC_RATE
            pause = deadline - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            elif pause < -0.2:
                deadline = time.monotonic()  # starved for a while: resync instead of bursting
        if fd >= 0:
            os.close(fd)


class Recording:
    """parecord of spk.monitor into a 16 kHz mono WAV; `audio()` after stop()."""

    def __init__(self, pulse: Pulse, path: Path) -> None:
        self.path = path
        self.log = path.with_suffix(".log")
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                ["parecord", "--device=spk.monitor", "--rate=16000", "--channels=1", "--format=s16le",
                 "--file-format=wav", "--latency-msec=20", str(path)],
                env={**os.environ, **pulse.env},
                stdout=subprocess.DEVNULL,
                stderr=log,
            )

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # parecord finishes the WAV header on SIGINT
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def audio(self) -> np.ndarray:
        import soundfile

        data, rate = soundfile.read(str(self.path), dtype="float32")
        assert rate == 16_000
        return np.asarray(data, dtype=np.float32)


class Pulse:
    """The server and its helpers: `env` for clients, `mic` to speak into it, `record` to hear spk.

    `kill()` then `start()` simulates a sound device that vanishes and comes back; the mic
    feeder reconnects to the new fifo by itself.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.runtime = root / "pulse"
        self.fifo = root / "mic.fifo"
        self.socket = self.runtime / "native"
        (root / "config").mkdir(parents=True, exist_ok=True)
        client_conf = root / "client.conf"
        client_conf.write_text("autospawn = no\n")
        self.env = {
            "PULSE_SERVER": f"unix:{self.socket}",
            "PULSE_RUNTIME_PATH": str(self.runtime),
            "PULSE_COOKIE": str(root / "config" / "pulse" / "cookie"),
            "PULSE_CLIENTCONFIG": str(client_conf),
        }
        self.server: subprocess.Popen[bytes] | None = None
        self.keepalive: subprocess.Popen[bytes] | None = None
        self.log = root / "pulseaudio.log"
        self.start()
        self.mic = MicFeeder(self.fifo)

    def start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fifo.unlink()
        server_env = {
            **os.environ,
            "HOME": str(self.root),
            "XDG_RUNTIME_DIR": str(self.root),
            "XDG_CONFIG_HOME": str(self.root / "config"),
            "PULSE_RUNTIME_PATH": str(self.runtime),
            "PULSE_STATE_PATH": str(self.root / "state"),
        }
        with self.log.open("ab") as log:
            self.server = subprocess.Popen(
                [
                    "pulseaudio", "-n", "--daemonize=no", "--exit-idle-time=-1", "--use-pid-file=no",
                    "--log-target=stderr", "--load=module-native-protocol-unix", "--load=module-null-sink sink_name=spk",
                    f"--load=module-pipe-source source_name=mic file={self.fifo} format=s16le rate={MIC_RATE} channels=1",
                ],
                env=server_env,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        deadline = time.monotonic() + 15
        while not self._pactl_ok("info"):
            if self.server.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"pulseaudio did not start; see {self.log}:\n{self.log.read_text()[-2000:]}")
            time.sleep(0.1)
        assert self._pactl_ok("set-default-sink", "spk") and self._pactl_ok("set-default-source", "mic")
        self.keepalive = subprocess.Popen(
            ["pacat", "--playback", "--device=spk", "--latency-msec=10", "--raw", "--rate=16000", "--channels=1",
             "--format=s16le", "/dev/zero"],
            env={**os.environ, **self.env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # Return only once the sink runs: until the monitor delivers, output streams would stall.
        with self.record(self.root / "warmup.wav"):
            pass

    def kill(self) -> None:
        """SIGKILL the server, as when a USB sound card is yanked: streams die without a goodbye."""
        for proc in (self.keepalive, self.server):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()

    def stop(self) -> None:
        for proc in (self.keepalive, self.server):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()

    def close(self) -> None:
        self.mic.stop()
        self.stop()

    @contextlib.contextmanager
    def record(self, path: Path) -> Iterator[Recording]:
        recording = Recording(self, path)
        # Wait for samples to flow: parecord connects asynchronously, and right after the server
        # starts the null sink's 2 s idle block holds the monitor back too.
        deadline = time.monotonic() + 10
        while not (path.exists() and path.stat().st_size > 44 + 3200):  # the WAV header and 0.1 s
            if recording.proc.poll() is not None or time.monotonic() > deadline:
                recording.stop()
                pytest.fail(f"parecord of spk.monitor did not start: {recording.log.read_text()}")
            time.sleep(0.02)
        try:
            yield recording
        finally:
            time.sleep(0.2)  # let the tail reach the monitor
            recording.stop()

    def _pactl_ok(self, *args: str) -> bool:
        result = subprocess.run(
            ["pactl", *args], env={**os.environ, **self.env}, capture_output=True, timeout=10, check=False
        )
        return result.returncode == 0


def reinit_portaudio() -> None:
    """PortAudio lists devices once, at Pa_Initialize (sounddevice's import): look again."""
    sd = sys.modules.get("sounddevice")
    if sd is not None:
        sd._terminate()
        sd._initialize()


@pytest.fixture(scope="session")
def pulse(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Pulse:
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (Debian packages pulseaudio pulseaudio-utils libasound2-plugins)")
    # One server per session even when several modules import this fixture (each import is a
    # separate fixture definition to pytest): it lives in the config's stash.
    server = request.config.stash.get(PULSE_KEY, None)
    if server is None:
        server = Pulse(tmp_path_factory.mktemp("pulse"))
        saved = {name: os.environ.get(name) for name in server.env}
        os.environ.update(server.env)
        reinit_portaudio()

        def cleanup() -> None:
            server.close()
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value

        request.config.add_cleanup(cleanup)
        request.config.stash[PULSE_KEY] = server
    return server
