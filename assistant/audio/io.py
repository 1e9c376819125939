"""The daemon's sound devices: push-to-talk capture, reply playback and earcons, surviving devices that come and go."""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable

import numpy as np

from assistant.audio.capture import Capture, to_16k
from assistant.audio.devices import Device, DeviceInfo, Kind, Scanner, list_devices, portaudio
from assistant.audio.earcons import NAMES, EarconPlayer
from assistant.audio.playback import PlaybackSink
from assistant.audio.settings import AudioSettings
from assistant.core.errors import AudioError
from assistant.core.events import AudioChanged, AudioStatus, Emit
from assistant.core.speech import Audio

log = logging.getLogger(__name__)

RECHECK_S = 2.0  # how often a missing device is looked for


class AudioIO:
    """Owns the input and output device for the daemon.

    A missing or failing device never raises out of open() or the watcher: it becomes
    `input_problem` / `output_problem` (one sentence), one log line and an "audio" event, and
    the watcher looks for it every RECHECK_S until it is back.
    """

    def __init__(
        self, settings: AudioSettings, emit: Emit, recheck_s: float = RECHECK_S
    ) -> None:
        self.settings = settings
        self.emit = emit
        self.recheck_s = recheck_s
        self.input_name: str | None = None
        self.output_name: str | None = None
        self.input_problem: str | None = None
        self.output_problem: str | None = None
        self._scanner: Scanner | None = None
        self._input: Device | None = None
        self._output: Device | None = None
        self._capture: Capture | None = None
        self._earcons: EarconPlayer | None = None
        self._sinks: weakref.WeakSet[PlaybackSink] = weakref.WeakSet()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._opening = False  # the first look at the devices, whose problems the ready lines report
        self._changing = asyncio.Lock()  # a re-scan and a press never overlap
        self._lost = False  # a device failed: re-scan at the next check, whatever the fingerprint says
        # The wake word: blocks of every capture stream and of every reply go to these, and while
        # the input is held the capture stream stays open between utterances.
        self._input_listeners: list[Callable[[Audio, int], None]] = []
        self._output_listeners: list[Callable[[Audio, int], None]] = []
        self._held = False
        self._held_preroll_s = 0.0

    def status(self) -> AudioStatus:
        return AudioStatus(self.input_name, self.output_name, self.input_problem, self.output_problem)

    async def open(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._opening = True
        try:
            await self._open()
        finally:
            self._opening = False

    async def _open(self) -> None:
        try:
            await asyncio.to_thread(portaudio)  # the import runs Pa_Initialize, which probes every device
        except AudioError as exc:
            self._set("input", None, exc.message)
            self._set("output", None, exc.message)
            self.emit(AudioChanged(self.status()))
            return  # a missing library does not come back by itself: no watcher
        self._scanner = Scanner()
        self._earcons = EarconPlayer(self._scanner, self.settings.earcon_volume)
        await self._resolve()
        self.emit(AudioChanged(self.status()))
        self._watcher = asyncio.get_running_loop().create_task(self._watch())

    def close(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
        for sink in list(self._sinks):
            sink.stop()
        if self._capture is not None:
            self._capture.close()
        if self._earcons is not None:
            self._earcons.close()

    def list_devices(self) -> list[DeviceInfo]:
        """devices.list_devices, but never during a re-scan (blocking: call it off the event loop)."""
        return self._scanner.devices() if self._scanner is not None else list_devices()

    # ------------------------------------------------------------------ capture

    def add_input_listener(self, listener: Callable[[Audio, int], None]) -> None:
        """Hear every captured block (mono, device rate, on PortAudio's thread), across device changes."""
        self._input_listeners.append(listener)
        if self._capture is not None:
            self._capture.add_listener(listener)

    def remove_input_listener(self, listener: Callable[[Audio, int], None]) -> None:
        if listener in self._input_listeners:
            self._input_listeners.remove(listener)
        if self._capture is not None:
            self._capture.remove_listener(listener)

    def add_output_listener(self, listener: Callable[[Audio, int], None]) -> None:
        """Hear every block handed to the output device by later replies."""
        self._output_listeners.append(listener)

    def remove_output_listener(self, listener: Callable[[Audio, int], None]) -> None:
        if listener in self._output_listeners:
            self._output_listeners.remove(listener)

    async def hold_input(self, held: bool, preroll_s: float = 0.0) -> None:
        """Keep the capture stream open between utterances, with a ring of at least `preroll_s` (True), or let it close when idle (False)."""
        async with self._changing:
            self._held = held
            self._held_preroll_s = preroll_s if held else 0.0
            capture = self._capture
            if capture is not None:
                capture.preroll_s = self._preroll_s()
            if capture is None or capture.recording:
                return
            if self._keeps_open(capture) and not capture.is_open:
                if self.input_problem:
                    raise AudioError(f"cannot listen: {self.input_problem}")
                try:
                    await asyncio.to_thread(capture.open)
                except AudioError as exc:
                    self._device_lost("input", exc.message)
                    raise AudioError(f"cannot listen: {self.input_problem}") from None
            elif not self._keeps_open(capture) and capture.is_open:
                capture.close()

    def _preroll_s(self) -> float:
        return max(self.settings.preroll_s, self._held_preroll_s)

    def _keeps_open(self, capture: Capture) -> bool:
        return capture.keeps_open or self._held

    async def start_capture(self, preroll_s: float | None = None) -> None:
        async with self._changing:
            capture = self._capture
            if capture is None or self.input_problem:
                raise AudioError(f"cannot listen: {self.input_problem or 'no microphone'}")
            if not capture.is_open:
                try:
                    await asyncio.to_thread(capture.open)
                except AudioError as exc:
                    self._device_lost("input", exc.message)
                    raise AudioError(f"cannot listen: {self.input_problem}") from None
            # A key press keeps the configured pre-roll, even while the wake word keeps a longer ring.
            capture.start(self.settings.preroll_s if preroll_s is None else preroll_s)

    async def stop_capture(self) -> Audio:
        capture = self._capture
        if capture is None or not capture.recording:
            return np.zeros(0, dtype=np.float32)
        audio, rate, capped = capture.take()
        if not self._keeps_open(capture):
            capture.close()
        if capped:
            log.info("utterance cut at %.0f s (audio.max_utterance_s)", self.settings.max_utterance_s)
        if not rate:
            return np.zeros(0, dtype=np.float32)
        return await asyncio.to_thread(to_16k, audio, rate, self.settings.max_utterance_s)

    def utterance_so_far(self) -> Audio:
        """The utterance captured so far as 16 kHz mono, while it goes on (blocking: call it off the loop)."""
        capture = self._capture
        if capture is None or not capture.recording:
            return np.zeros(0, dtype=np.float32)
        audio, rate = capture.so_far()
        return to_16k(audio, rate, self.settings.max_utterance_s) if rate else np.zeros(0, dtype=np.float32)

    def add_listener(self, listener: Callable[[Audio, int], None]) -> bool:
        """Hand the microphone's blocks to `listener` too (see Capture.add_listener); False with no microphone."""
        if self._capture is None:
            return False
        self._capture.add_listener(listener)
        return True

    def remove_listener(self, listener: Callable[[Audio, int], None]) -> None:
        if self._capture is not None:
            self._capture.remove_listener(listener)

    def cancel_capture(self) -> None:
        capture = self._capture
        if capture is not None and capture.recording:
            capture.cancel()
            if not self._keeps_open(capture):
                capture.close()

    # ------------------------------------------------------------------ playback

    def sink(self) -> PlaybackSink:
        if self._output is None or self._scanner is None:
            raise AudioError(f"cannot play: {self.output_problem or 'no output device'}")
        sink = PlaybackSink(self._scanner, self._output, self._threadsafe("output"))
        sink.listeners.extend(self._output_listeners)
        self._sinks.add(sink)
        return sink

    def earcon(self, name: str) -> None:
        if name not in NAMES:
            raise ValueError(f"unknown earcon {name!r}; one of {', '.join(NAMES)}")
        if self.settings.earcons and self._earcons is not None:
            self._earcons.play(name)

    # ------------------------------------------------------------------ devices

    def _threadsafe(self, kind: Kind) -> Callable[[str], None]:
        """A device-failure report that PortAudio's threads can call."""
        loop = self._loop
        assert loop is not None

        def report(reason: str) -> None:
            try:
                loop.call_soon_threadsafe(self._device_lost, kind, reason)
            except RuntimeError:  # the loop is closed: the daemon is going away anyway
                pass

        return report

    def _device_lost(self, kind: Kind, reason: str) -> None:
        device = self._input if kind == "input" else self._output
        if device is None:
            return
        self._lost = True
        if kind == "input":
            self._input = None
            if self._capture is not None:
                self._capture.close()  # an utterance in progress keeps its audio for stop_capture
        else:
            self._output = None
            if self._earcons is not None:
                self._earcons.device = None
        if self._set(kind, None, _failed(kind, device, reason)):
            self.emit(AudioChanged(self.status()))

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.recheck_s)
            if self.input_problem or self.output_problem:
                try:
                    await self._recheck()
                except Exception:  # a dead watcher would leave the daemon deaf for good
                    log.exception("looking for audio devices failed")

    async def _recheck(self) -> None:
        scanner = self._scanner
        if scanner is None or (self._capture is not None and self._capture.recording):
            return  # not while the user speaks; the next check comes soon
        async with self._changing:
            # A re-scan only when something may have changed: each one costs 0.1-0.5 s of probing.
            # Without one, looking again still catches a device that was busy and is free now.
            if self._lost or scanner.due():
                # The idle pre-roll stream is ours to close for it; a reply or an earcon playing
                # makes rescan() decline, and the next check tries again.
                if self._capture is not None:
                    self._capture.close()
                if await asyncio.to_thread(scanner.rescan):
                    self._lost = False
            if await self._resolve():
                self.emit(AudioChanged(self.status()))

    async def _resolve(self) -> bool:
        """Find both devices again and (re)open the pre-roll stream; whether anything changed."""
        scanner = self._scanner
        assert scanner is not None
        device, problem = await asyncio.to_thread(_find, scanner, self.settings.input_device, "input")
        capture = self._capture
        if capture is not None and not capture.recording and capture.device != device:
            capture.close()
            self._capture = capture = None
        if device is not None:
            if capture is None:
                capture = self._capture = Capture(
                    scanner, device, self._preroll_s(), self.settings.max_utterance_s, self._threadsafe("input")
                )
                for listener in self._input_listeners:
                    capture.add_listener(listener)
            if self._keeps_open(capture) and not capture.is_open and not capture.recording:
                try:
                    await asyncio.to_thread(capture.open)
                except AudioError as exc:
                    problem = _failed("input", device, exc.message)
                    device = None
        self._input = device
        changed = self._set("input", device, problem)

        device, problem = await asyncio.to_thread(_find, scanner, self.settings.output_device, "output")
        self._output = device
        if self._earcons is not None:
            self._earcons.device = device
        return self._set("output", device, problem) or changed

    def _set(self, kind: Kind, device: Device | None, problem: str | None) -> bool:
        """Record a device's state, logging a line when it changes; whether it changed."""
        name = device.name if device is not None else None
        old_name, old_problem = (
            (self.input_name, self.input_problem) if kind == "input" else (self.output_name, self.output_problem)
        )
        if problem is not None and old_problem is not None:
            problem = old_problem  # still missing: one sentence (and one log line) per outage
        if kind == "input":
            self.input_name, self.input_problem = name, problem
        else:
            self.output_name, self.output_problem = name, problem
        if (name, problem) == (old_name, old_problem):
            return False
        if problem is not None:
            # At open the daemon's ready lines say it; a device lost later is news worth a warning.
            (log.info if self._opening else log.warning)("audio %s: %s", kind, problem)
        elif old_problem is not None:
            log.info("audio %s: %s is back", kind, name)
        else:
            log.info("audio %s: %s", kind, name)
        return True


def _find(scanner: Scanner, spec: str | int | None, kind: Kind) -> tuple[Device | None, str | None]:
    try:
        return scanner.find(spec, kind), None
    except AudioError as exc:
        return None, exc.message


def _failed(kind: Kind, device: Device, reason: str) -> str:
    return (
        f'the {kind} device "{device.name}" stopped working ({reason}); '
        "check that it is plugged in and free, and it is picked up again within seconds"
    )
