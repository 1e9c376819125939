"""Keeping the assistant's own voice from waking it: the sound server's echo canceller, or a gate on the playback signal."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections import deque

from assistant.audio.wake import Detection, WakeDetector
from assistant.audio.wake_listener import WakeListener
from assistant.core.speech import Audio

# A detection on the microphone is the assistant's own voice when the same word was detected in
# what it played within this window. The mic hears the speaker later than the reference (the
# output buffer, the air, the input buffer: 0.1-0.5 s on desktops); the reference thread can
# also run a little behind the mic thread, hence the small look-ahead, which the caller waits out.
LOOKBACK_S = 2.0
LOOKAHEAD_S = 0.15


class PlaybackGate:
    """Runs a second detector on the samples handed to the output device.

    A user who says the wake word over a reply still interrupts it: their voice is in the mic
    and not in the playback, so only the assistant's own "okay nabu" is held back. The cost is
    one more detector, and only while something plays.
    """

    def __init__(self, word: str, threshold: float) -> None:
        self._heard: deque[float] = deque(maxlen=16)
        self._lock = threading.Lock()
        self._last_played = 0.0
        self._listening = WakeListener(WakeDetector(word, threshold), self._record, lambda outcome: None, name="wake-echo")

    def listener(self, audio: Audio, rate: int) -> None:
        """Hand it what goes to the speaker (from the playback callback: queues only)."""
        self._last_played = time.monotonic()
        self._listening.listener(audio, rate)

    def played_recently(self, now: float) -> bool:
        return now - self._last_played < LOOKBACK_S

    def own_voice(self, arrived: float) -> bool:
        """Whether a mic detection whose block arrived at `arrived` (time.monotonic()) was the assistant's own voice."""
        with self._lock:
            return any(arrived - LOOKBACK_S <= t <= arrived + LOOKAHEAD_S for t in self._heard)

    def busy_s(self) -> float:
        return self._listening.busy_s

    def close(self) -> None:
        self._listening.close()
        self._listening.detector.close()

    def _record(self, detection: Detection, arrived: float) -> None:
        with self._lock:
            self._heard.append(arrived)


def echo_cancelled_source() -> str | None:
    """The default PulseAudio/PipeWire source's name when module-echo-cancel provides it, else None."""
    if shutil.which("pactl") is None:
        return None
    try:
        default = subprocess.run(
            ["pactl", "get-default-source"], capture_output=True, text=True, timeout=5, check=False
        ).stdout.strip()
        listing = subprocess.run(
            ["pactl", "list", "sources"], capture_output=True, text=True, timeout=5, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    name = None
    for line in listing.splitlines():
        line = line.strip()
        if line.startswith("Name:"):
            name = line.split(":", 1)[1].strip()
        elif line.startswith("Driver:") and name == default and default:
            # PulseAudio's driver is module-echo-cancel.c; under PipeWire the driver is PipeWire
            # itself and its echo-cancel module names the source echo-cancel-source.
            cancelled = any("echo-cancel" in text or "echo_cancel" in text for text in (line, default))
            return default if cancelled else None
    return None
