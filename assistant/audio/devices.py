"""Sound devices through PortAudio: listing them, choosing one by name or index, and re-scanning for hot-plugged ones."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from assistant.core.errors import AudioError

Kind = Literal["input", "output"]
Spec = str | int | None  # a name substring, an index, or None for the system default

S = TypeVar("S")

# A full Pa_Terminate + Pa_Initialize at most this often while nothing visible changed: a safety net
# for devices that appear without touching /dev/snd or the sound server's socket (an ALSA plugin, say).
FULL_RESCAN_S = 30.0


def portaudio() -> Any:
    """The sounddevice module; the first import runs Pa_Initialize, which enumerates the devices."""
    try:
        import sounddevice
    except OSError:  # sounddevice raises OSError when it cannot load libportaudio.so.2
        raise AudioError("PortAudio is not installed; install the Debian package libportaudio2") from None
    return sounddevice


@dataclass(frozen=True)
class Device:
    index: int
    name: str
    channels: int  # the most channels this device offers in the direction it was chosen for
    rate: int  # its default sample rate


def _channels_key(kind: Kind) -> str:
    return "max_input_channels" if kind == "input" else "max_output_channels"


def _default_index(sd: Any, kind: Kind) -> int | None:
    try:
        index = int(sd.query_devices(kind=kind)["index"])
    except sd.PortAudioError:  # "no default input device"
        return None
    return index if index >= 0 else None


@dataclass(frozen=True)
class DeviceInfo:
    """One device as `assistant devices` lists it."""

    index: int
    name: str
    inputs: int  # its most input channels (0: not an input)
    outputs: int
    rate: int  # its default sample rate
    default: str | None  # "input", "output", "input+output" for the system's default device, else None


def list_devices() -> list[DeviceInfo]:
    """Every device PortAudio sees, with its channel counts, default rate and whether it is a default."""
    sd = portaudio()
    devices = list(sd.query_devices())
    if not devices:
        raise AudioError(
            "PortAudio sees no sound devices; check that PulseAudio or PipeWire runs (`pactl info`) or plug in a sound card"
        )
    defaults = {"input": _default_index(sd, "input"), "output": _default_index(sd, "output")}
    rows = []
    for index, info in enumerate(devices):
        default = [kind for kind, value in defaults.items() if value == index]
        rows.append(
            DeviceInfo(
                index=index,
                name=str(info["name"]),
                inputs=int(info["max_input_channels"]),
                outputs=int(info["max_output_channels"]),
                rate=int(info["default_samplerate"]),
                default="+".join(default) or None,
            )
        )
    return rows


def find_device(spec: Spec, kind: Kind) -> Device:
    """The device `spec` names, or AudioError with one sentence naming it and what to do."""
    sd = portaudio()
    devices = list(sd.query_devices())
    key = _channels_key(kind)
    setting = f"audio.{kind}_device"
    if spec is None:
        index = _default_index(sd, kind)
        if index is None:
            usable = [i for i, d in enumerate(devices) if d[key] > 0]
            if not usable:
                raise AudioError(
                    f"no sound {kind} device found; plug one in, or check that PulseAudio or PipeWire runs (`pactl info`)"
                )
            index = usable[0]
    elif isinstance(spec, int):
        if not 0 <= spec < len(devices):
            raise AudioError(
                f"{kind} device {spec} does not exist; plug it in, or set {setting} in config.toml "
                "to one that `assistant devices` lists"
            )
        if devices[spec][key] <= 0:
            raise AudioError(f"device {spec} ({devices[spec]['name']}) has no {kind} channels; set {setting} to another")
        index = spec
    else:
        wanted = spec.casefold()
        named = [(i, str(d["name"]).casefold()) for i, d in enumerate(devices) if d[key] > 0]
        exact = [i for i, name in named if name == wanted]
        partial = [i for i, name in named if wanted in name]
        if not exact and not partial:
            raise AudioError(
                f'{kind} device "{spec}" not found; plug it in, or set {setting} in config.toml '
                "to one that `assistant devices` lists"
            )
        index = (exact or partial)[0]
    info = devices[index]
    return Device(index=index, name=str(info["name"]), channels=int(info[key]), rate=int(info["default_samplerate"]))


def pick_format(device: Device, kind: Kind, rate: int) -> tuple[int, int]:
    """A (rate, channels) the device accepts, preferring `rate` and mono.

    Mono first: the `pulse` and `default` ALSA devices report 32 channels only because the
    plugin accepts any layout, and many USB microphones are mono; stereo next, for onboard
    codecs that refuse mono; the device's own count last.
    """
    sd = portaudio()
    check = sd.check_input_settings if kind == "input" else sd.check_output_settings
    rates = list(dict.fromkeys([rate, device.rate, 48_000, 44_100, 16_000]))
    channel_counts = list(dict.fromkeys(c for c in (1, 2, device.channels) if 0 < c <= device.channels))
    for candidate in rates:
        for channels in channel_counts:
            try:
                check(device=device.index, samplerate=candidate, channels=channels, dtype="float32")
            except sd.PortAudioError:
                continue
            return candidate, channels
    raise AudioError(f'the {kind} device "{device.name}" accepts none of the rates {rates}; pick another with `assistant devices`')


def hardware_fingerprint() -> tuple[object, ...]:
    """Cheap signs that the device set may have changed: the ALSA device nodes and the sound servers' sockets."""
    marks: list[object] = []
    try:
        with os.scandir("/dev/snd") as entries:
            # A replugged card gets the same node names but new inodes (devtmpfs recreates them).
            marks.extend(sorted((e.name, e.inode()) for e in entries))
    except OSError:
        pass
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    server = os.environ.get("PULSE_SERVER", "")
    sockets = [server[len("unix:") :]] if server.startswith("unix:") else []
    sockets += [os.path.join(runtime, "pulse", "native"), os.path.join(runtime, "pipewire-0")] if runtime else []
    for path in sockets:
        try:
            # A restarted server leaves a new socket; the mtime tells it apart even if tmpfs reuses the inode.
            info = os.stat(path)
            marks.append((path, info.st_ino, info.st_mtime_ns))
        except OSError:
            marks.append((path, None))
    return tuple(marks)


class Scanner:
    """Serialises every PortAudio call that could race a re-scan, and re-scans only while none of our streams is open.

    PortAudio enumerates devices once, in Pa_Initialize: seeing a device plugged in later takes
    Pa_Terminate + Pa_Initialize, and Pa_Terminate closes every open stream underneath its owner
    (whose next call then crashes). So streams are opened and closed through here and counted.
    One Scanner per process: it cannot see streams that other code opened.
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._open = 0
        self._seen = hardware_fingerprint()
        self._scanned_at = time.monotonic()

    def devices(self) -> list[DeviceInfo]:
        with self._lock:
            return list_devices()

    def find(self, spec: Spec, kind: Kind) -> Device:
        with self._lock:
            return find_device(spec, kind)

    def pick_format(self, device: Device, kind: Kind, rate: int) -> tuple[int, int]:
        with self._lock:
            return pick_format(device, kind, rate)

    def open(self, factory: Callable[[], S]) -> S:
        """Run `factory` (which opens a stream) and count the stream as open."""
        with self._lock:
            stream = factory()
            self._open += 1
            return stream

    def close(self, stream: Any) -> None:
        """Abort (drop what is buffered) and close a stream opened through `open`."""
        with self._lock:
            try:
                stream.abort(ignore_errors=True)
                stream.close(ignore_errors=True)
            finally:
                self._open -= 1

    def due(self) -> bool:
        """Whether a re-scan could find something new: the hardware looks different, or it has been a while."""
        return hardware_fingerprint() != self._seen or time.monotonic() - self._scanned_at > FULL_RESCAN_S

    def rescan(self) -> bool:
        """Pa_Terminate + Pa_Initialize; False (and nothing done) while a stream is open. Blocks for ~0.1-0.5 s."""
        sd = portaudio()
        with self._lock:
            if self._open:
                return False
            seen = hardware_fingerprint()
            # sounddevice's _initialize points fd 2 at /dev/null for the duration, to hide ALSA's
            # probe noise; lines other threads write to stderr meanwhile are lost, which is one
            # reason this runs only when due() says the hardware changed.
            try:
                sd._terminate()
            except sd.PortAudioError:  # not initialised: an earlier _initialize failed
                pass
            sd._initialize()
            self._seen = seen
            self._scanned_at = time.monotonic()
            return True
