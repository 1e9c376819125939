"""Test and benchmark helper: a "room" in the private PulseAudio, where the user's voice and the speaker's echo meet.

The daemon's microphone is the room: a null sink whose monitor becomes the default source. The
test's mic (the fifo-fed source) plays into it through a loopback, as a person speaking; the
speaker (spk's monitor) can be let in too, as a laptop's speakers reach its microphone.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator

from .pulse import Pulse


def pactl(pulse: Pulse, *args: str) -> str:
    result = subprocess.run(
        ["pactl", *args], env={**os.environ, **pulse.env}, capture_output=True, text=True, timeout=10, check=True
    )
    return result.stdout.strip()


class Room:
    """The room the daemon listens to: a null sink whose monitor becomes the default source."""

    def __init__(self, pulse: Pulse) -> None:
        self.pulse = pulse
        self.modules = [
            pactl(pulse, "load-module", "module-null-sink", "sink_name=room", "rate=16000", "channels=1"),
            pactl(pulse, "load-module", "module-loopback", "source=mic", "sink=room", "latency_msec=20"),
        ]
        pactl(pulse, "set-default-source", "room.monitor")

    def close(self) -> None:
        pactl(self.pulse, "set-default-source", "mic")
        for module in reversed(self.modules):
            pactl(self.pulse, "unload-module", module)


@contextlib.contextmanager
def speaker_in_room(pulse: Pulse, gain: float = 1.0) -> Iterator[None]:
    """Let what the assistant plays reach its own microphone, at `gain` (amplitude) relative to the user's voice."""
    module = pactl(pulse, "load-module", "module-loopback", "source=spk.monitor", "sink=room", "latency_msec=20")
    try:
        if gain != 1.0:
            pactl(pulse, "set-sink-input-volume", _sink_input_of(pulse, module), f"{gain:.3f}")
        yield
    finally:
        pactl(pulse, "unload-module", module)


def _sink_input_of(pulse: Pulse, module: str) -> str:
    index = ""
    for line in pactl(pulse, "list", "sink-inputs").splitlines():
        line = line.strip()
        if line.startswith("Sink Input #"):
            index = line.removeprefix("Sink Input #")
        elif line == f"Owner Module: {module}":
            return index
    raise AssertionError(f"no sink input of module {module}")


def echo_canceller(pulse: Pulse) -> str:
    """PulseAudio's module-echo-cancel (WebRTC) between the room and the speaker, made the defaults; its module index."""
    module = pactl(
        pulse, "load-module", "module-echo-cancel", "source_master=room.monitor", "sink_master=spk",
        "source_name=ec_mic", "sink_name=ec_spk", "aec_method=webrtc",
    )
    pactl(pulse, "set-default-source", "ec_mic")
    pactl(pulse, "set-default-sink", "ec_spk")
    return module


def remove_echo_canceller(pulse: Pulse, module: str) -> None:
    pactl(pulse, "set-default-source", "room.monitor")
    pactl(pulse, "set-default-sink", "spk")
    pactl(pulse, "unload-module", module)


def recording_streams(pulse: Pulse) -> list[str]:
    """Recording streams of clients (the daemon), not the room's own loopbacks."""
    lines = pactl(pulse, "list", "short", "source-outputs").splitlines()
    return [line for line in lines if "module-loopback" not in line and line.strip()]
