"""Earcons: short tones made in code for listening start/stop, errors and "nothing heard", played off the event loop."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Mapping
from types import MappingProxyType

import numpy as np

from assistant.audio.devices import Device, Scanner, portaudio
from assistant.core.speech import Audio

log = logging.getLogger(__name__)

NAMES = ("start", "stop", "error", "nothing", "alarm")

# (start Hz, end Hz, seconds) per note; a bare number is a pause of that many seconds.
_NOTES: Mapping[str, tuple[tuple[float, float, float] | float, ...]] = MappingProxyType({
    "start": ((660.0, 990.0, 0.12),),  # rising: "I'm listening"
    "stop": ((990.0, 660.0, 0.12),),  # falling: "got it"
    "error": ((220.0, 220.0, 0.09), 0.06, (220.0, 220.0, 0.09)),  # low double
    "nothing": ((520.0, 520.0, 0.07),),  # short and neutral
    "alarm": ((880.0, 880.0, 0.09), 0.04, (880.0, 880.0, 0.09), 0.04, (1175.0, 1175.0, 0.12)),  # a timer is done
})
FADE_S = 0.006  # raised-cosine edges: a tone that starts or stops mid-wave clicks


def earcon_samples(name: str, rate: int, volume: float) -> Audio:
    """The mono samples of earcon `name` at `rate`, peaking at `volume` (0..1)."""
    if name not in _NOTES:
        raise ValueError(f"unknown earcon {name!r}; one of {', '.join(NAMES)}")
    parts = []
    for note in _NOTES[name]:
        if isinstance(note, float):
            parts.append(np.zeros(int(note * rate)))
            continue
        start_hz, end_hz, seconds = note
        t = np.arange(int(seconds * rate)) / rate
        # Phase is the integral of a linear sweep, so the pitch glides without jumps.
        phase = 2 * np.pi * (start_hz * t + (end_hz - start_hz) * t * t / (2 * seconds))
        tone = np.sin(phase)
        fade = min(int(FADE_S * rate), len(tone) // 2)
        ramp = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, fade))
        tone[:fade] *= ramp
        tone[len(tone) - fade :] *= ramp[::-1]
        parts.append(tone / np.max(np.abs(tone)))
    return (np.concatenate(parts) * float(np.clip(volume, 0.0, 1.0))).astype(np.float32)


class EarconPlayer:
    """Plays earcons one after another on a thread of its own, so a press never waits for a beep."""

    def __init__(self, scanner: Scanner, volume: float) -> None:
        self.scanner = scanner
        self.volume = volume
        self.device: Device | None = None  # None while there is no output device: earcons are dropped
        self._queue: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="earcons", daemon=True)
        self._thread.start()

    def play(self, name: str) -> None:
        if name not in _NOTES:
            raise ValueError(f"unknown earcon {name!r}; one of {', '.join(NAMES)}")
        if self.device is not None:
            self._queue.put(name)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=2.0)

    def _run(self) -> None:
        while (name := self._queue.get()) is not None:
            device = self.device
            if device is not None:
                self._play(device, name)

    def _play(self, device: Device, name: str) -> None:
        sd = portaudio()
        stream = None
        try:
            rate, channels = self.scanner.pick_format(device, "output", device.rate)
            samples = earcon_samples(name, rate, self.volume)
            stream = self.scanner.open(
                lambda: sd.OutputStream(device=device.index, samplerate=rate, channels=channels, dtype="float32")
            )
            stream.start()
            # Silence after the tone: stop() drains only PortAudio's buffer, and the ALSA plugin's
            # own (about one latency) would be dropped by close(), clipping the tone's end.
            pad = np.zeros(int((float(stream.latency) + 0.05) * rate), dtype=np.float32)
            stream.write(np.repeat(np.concatenate([samples, pad])[:, None], channels, axis=1))
            stream.stop()
        except Exception as exc:  # a lost beep must never take the daemon down
            # An exclusive ALSA device that is busy with the reply refuses a second stream.
            log.info("earcon %r not played on %s: %s", name, device.name, exc)
        finally:
            if stream is not None:
                self.scanner.close(stream)
