"""The audio layer against a real PulseAudio server: capture from a fifo-fed mic, playback recorded off the sink's monitor."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from assistant.audio.devices import list_devices
from assistant.audio.earcons import NAMES, earcon_samples
from assistant.audio.io import AudioIO
from assistant.audio.settings import AudioSettings
from assistant.core.errors import AudioError
from assistant.core.speech import AudioChunk

from ..pulse import Pulse, pulse  # noqa: F401 - the fixture
from ..waiting import until

Events = list[tuple[str, dict[str, Any]]]


def run(body: Callable[[], Awaitable[None]], timeout: float = 60) -> None:
    async def bounded() -> None:
        async with asyncio.timeout(timeout):
            await body()

    asyncio.run(bounded())


def tone(hz: float, seconds: float, rate: int = 16_000, amplitude: float = 0.5) -> np.ndarray:
    return (amplitude * np.sin(2 * np.pi * hz * np.arange(int(seconds * rate)) / rate)).astype(np.float32)


def silence(seconds: float, rate: int = 16_000) -> np.ndarray:
    return np.zeros(int(seconds * rate), dtype=np.float32)


def rms(audio: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))) if len(audio) else 0.0


def dominant_hz(audio: np.ndarray, rate: int = 16_000) -> float:
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    return float(np.fft.rfftfreq(len(audio), 1 / rate)[int(np.argmax(spectrum))])


def loud_span(audio: np.ndarray, rate: int = 16_000, threshold: float = 0.02) -> tuple[float, float]:
    """(first, last) second of 10 ms frames louder than `threshold`."""
    frame = rate // 100
    levels = [rms(audio[i : i + frame]) for i in range(0, len(audio) - frame + 1, frame)]
    loud = [i for i, level in enumerate(levels) if level > threshold]
    assert loud, "no sound at all"
    return loud[0] * frame / rate, (loud[-1] + 1) * frame / rate


def best_match(haystack: np.ndarray, needle: np.ndarray) -> tuple[int, float]:
    """Where `needle` sits in `haystack` (sample offset) and the normalised correlation there."""
    size = 1 << int(np.ceil(np.log2(len(haystack) + len(needle))))
    corr = np.fft.irfft(np.fft.rfft(haystack, size) * np.conj(np.fft.rfft(needle, size)), size)
    lag = int(np.argmax(corr[: len(haystack) - len(needle) + 1]))
    window = haystack[lag : lag + len(needle)]
    return lag, float(np.dot(window, needle) / (np.linalg.norm(window) * np.linalg.norm(needle) + 1e-12))


async def opened(settings: AudioSettings, events: Events | None = None, recheck_s: float = 2.0) -> AudioIO:
    sink: Events = events if events is not None else []
    io = AudioIO(settings, lambda event: sink.append((event.name, event.data())), recheck_s)
    await io.open()
    return io


# ---------------------------------------------------------------------- devices


@pytest.mark.audio
def test_list_devices_shows_the_pulse_device_and_defaults(pulse: Pulse) -> None:
    rows = list_devices()
    by_name = {row.name: row for row in rows}
    assert by_name["pulse"].inputs > 0 and by_name["pulse"].outputs > 0
    assert all(isinstance(row.rate, int) and row.rate > 0 for row in rows)
    defaults = [row.default for row in rows if row.default]
    assert any("input" in d for d in defaults) and any("output" in d for d in defaults)

    async def body() -> None:
        io = await opened(AudioSettings(earcons=False))
        try:
            assert await asyncio.to_thread(io.list_devices) == rows  # the daemon's way: under the scan lock
        finally:
            io.close()

    run(body)


# ---------------------------------------------------------------------- capture


@pytest.mark.audio
def test_capture_returns_the_speech_with_the_preroll_before_the_press(pulse: Pulse) -> None:
    from ..speech import speak_16k

    speech = speak_16k("Turn on the lights in the kitchen, please.", pad_s=0.0)
    marker = tone(660, 0.25)
    result: dict[str, Any] = {}

    async def body() -> None:
        io = await opened(AudioSettings(preroll_s=0.5, earcons=False))
        try:
            assert io.input_problem is None and io.input_name is not None
            await asyncio.sleep(0.6)  # the ring fills with silence first
            pulse.mic.feed(marker)
            await asyncio.to_thread(pulse.mic.wait)
            await asyncio.sleep(0.1)  # through the server into the ring
            result["pressing"] = time.perf_counter()
            await io.start_capture()
            pulse.mic.feed(np.concatenate([silence(0.3), speech]))
            await asyncio.to_thread(pulse.mic.wait)
            await asyncio.sleep(0.5)
            result["audio"] = await io.stop_capture()
            result["released"] = time.perf_counter()
        finally:
            io.close()

    run(body)
    audio = result["audio"]
    assert audio.dtype == np.float32 and audio.ndim == 1
    preroll = 8000  # 0.5 s at 16 kHz
    # Length: the pre-roll, then all that was said while the key was down, and no more than the key was
    # down for (plus what was on its way from the server at the press). The figure: scripts/bench_playback.py.
    assert preroll + len(silence(0.3)) + len(speech) <= len(audio)
    assert len(audio) / 16_000 <= 0.5 + (result["released"] - result["pressing"]) + 0.15
    # The marker played before the press is in the pre-roll.
    assert rms(audio[:preroll]) > 0.1
    assert abs(dominant_hz(audio[:preroll]) - 660) < 20
    # Then the 0.3 s pause, then the speech itself, then quiet again.
    assert rms(audio[preroll : preroll + 3200]) < 0.01
    lag, match = best_match(audio[preroll:], speech)
    assert match > 0.8
    assert 0.25 < lag / 16_000 < 0.55
    assert rms(audio[-3200:]) < 0.01


@pytest.mark.audio
def test_capture_stops_at_max_utterance(pulse: Pulse, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="assistant.audio")
    result: dict[str, Any] = {}

    async def body() -> None:
        io = await opened(AudioSettings(preroll_s=0.0, max_utterance_s=1.0, earcons=False))
        try:
            await io.start_capture()  # without pre-roll the stream opens here
            pulse.mic.feed(tone(440, 2.0))
            await asyncio.to_thread(pulse.mic.wait)
            result["audio"] = await io.stop_capture()
        finally:
            io.close()

    run(body)
    audio = result["audio"]
    assert 16_000 - 2 <= len(audio) <= 16_000
    assert rms(audio[8000:]) > 0.2
    assert "utterance cut at 1 s" in caplog.text


# ---------------------------------------------------------------------- playback


@pytest.mark.audio
def test_playback_is_heard_on_the_sink_in_order(pulse: Pulse, tmp_path: Path) -> None:
    state: dict[str, Any] = {}

    async def body() -> None:
        io = await opened(AudioSettings(earcons=False))
        try:
            assert io.output_problem is None
            sink = state["sink"] = io.sink()
            await sink.play(AudioChunk(tone(440, 0.6, 22_050), 22_050), 0)
            await sink.play(AudioChunk(tone(880, 0.6, 22_050), 22_050), 1)
            await sink.finish()
        finally:
            io.close()

    with pulse.record(tmp_path / "out.wav") as recording:
        run(body)
    audio = recording.audio()
    start, end = loud_span(audio)
    assert 1.1 < end - start < 1.4  # finish() returned after the tail was heard, not before
    first = audio[int((start + 0.1) * 16_000) : int((start + 0.5) * 16_000)]
    second = audio[int((start + 0.7) * 16_000) : int((start + 1.1) * 16_000)]
    assert abs(dominant_hz(first) - 440) < 10 and abs(dominant_hz(second) - 880) < 10
    sink = state["sink"]
    assert sink.played_sentences() == 2
    assert sink.rate == 22_050 and sink.first_sample_time is not None


@pytest.mark.audio
def test_playback_resamples_a_rate_the_device_refuses(pulse: Pulse, tmp_path: Path) -> None:
    rate = 480_000  # above the pulse plugin's 384 kHz limit
    state: dict[str, Any] = {}

    async def body() -> None:
        io = await opened(AudioSettings(earcons=False))
        try:
            sink = state["sink"] = io.sink()
            samples = tone(440, 0.6, rate)
            for i in range(0, len(samples), rate // 10):  # in pieces, as a synthesizer streams
                await sink.play(AudioChunk(samples[i : i + rate // 10], rate), 0)
            await sink.finish()
        finally:
            io.close()

    with pulse.record(tmp_path / "out.wav") as recording:
        run(body)
    assert state["sink"].rate != rate
    audio = recording.audio()
    start, end = loud_span(audio)
    assert 0.5 < end - start < 0.75
    assert abs(dominant_hz(audio[int(start * 16_000) : int(end * 16_000)]) - 440) < 10


@pytest.mark.audio
@pytest.mark.parametrize("awaiting", ["finish", "slow-cleanup"])
def test_barge_in_stops_playback_before_the_task_has_unwound(pulse: Pulse, tmp_path: Path, awaiting: str) -> None:
    """Cancel the speaking task during the third sentence; with "slow-cleanup" the task is
    elsewhere (like the pipeline awaiting the TTS) and takes 0.5 s to unwind.

    Asserted as an order of events (the stop comes after the cancel and before the task has
    unwound; no sample goes out after it); how many ms it takes is scripts/bench_playback.py's."""
    state: dict[str, Any] = {}

    async def speak(sink: Any) -> None:
        for index, seconds in enumerate((0.4, 0.4, 4.0)):
            await sink.play(AudioChunk(tone(440 + 110 * index, seconds, 22_050), 22_050), index)
        if awaiting == "finish":
            await sink.finish()
        else:
            try:
                await asyncio.sleep(30)
            finally:
                await asyncio.sleep(0.5)
                state["unwound_at"] = time.perf_counter()

    async def body() -> None:
        io = await opened(AudioSettings(earcons=False))
        try:
            sink = state["sink"] = io.sink()
            task = asyncio.create_task(speak(sink))
            seen = []
            deadline = time.monotonic() + 10
            while sink.played_sentences() < 2 and time.monotonic() < deadline:
                seen.append(sink.played_sentences())
                await asyncio.sleep(0.01)
            state["seen"] = sorted(set(seen))
            await asyncio.sleep(0.5)
            cancelled_at = time.perf_counter()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            state.setdefault("unwound_at", time.perf_counter())
            state["cancelled_at"] = cancelled_at
            state["last_after_stop"] = sink.last_sample_time
            await asyncio.sleep(0.3)
            state["last_later"] = sink.last_sample_time
        finally:
            io.close()

    with pulse.record(tmp_path / "out.wav") as recording:
        run(body)
    sink, cancelled_at = state["sink"], state["cancelled_at"]
    assert state["seen"] == [0, 1]
    assert sink.played_sentences() == 2  # the third one was cut: it does not count
    assert sink.first_sample_time is not None and sink.stopped_time is not None
    # In this order: the first sample, the cancel, the stop, the task done unwinding (0.5 s after the
    # cancel with "slow-cleanup": the stop did not wait for it). The last sample went out before the stop.
    assert sink.first_sample_time < cancelled_at <= sink.stopped_time < state["unwound_at"]
    assert sink.last_sample_time < sink.stopped_time
    assert state["last_later"] == state["last_after_stop"]  # nothing more went to the device
    start, end = loud_span(recording.audio())
    assert end - start < 0.4 + 0.4 + 4.0  # the third sentence was cut, not played out


# ---------------------------------------------------------------------- missing and failing devices


@pytest.mark.audio
@pytest.mark.parametrize("spec", ["no-such-mic", 99])
def test_missing_input_device_is_a_problem_not_an_error(
    pulse: Pulse, caplog: pytest.LogCaptureFixture, spec: str | int
) -> None:
    caplog.set_level(logging.INFO, logger="assistant.audio")
    events: Events = []

    async def body() -> None:
        io = await opened(AudioSettings(input_device=spec, earcons=False), events, recheck_s=0.1)
        try:
            assert io.input_problem is not None and str(spec) in io.input_problem
            assert "assistant devices" in io.input_problem
            assert io.input_name is None
            assert io.output_problem is None and io.output_name is not None
            with pytest.raises(AudioError, match=str(spec)):
                await io.start_capture()
            await asyncio.sleep(0.5)  # a few watcher rounds: still one log line
        finally:
            io.close()

    run(body)
    assert [event for event, _ in events] == ["audio"]  # at open; the watcher rounds changed nothing
    status = events[0][1]
    assert status["input"] is None and str(spec) in status["input_problem"]
    assert status["output"] is not None and status["output_problem"] is None
    # One line for the outage, however many watcher rounds; at open it is INFO, since the daemon's
    # ready lines say it to the user (a device lost later is a WARNING: the next test).
    lines = [r for r in caplog.records if r.levelno >= logging.INFO and str(spec) in r.getMessage()]
    assert len(lines) == 1 and lines[0].levelno == logging.INFO


@pytest.mark.audio
def test_device_lost_mid_capture_keeps_serving_and_recovers(pulse: Pulse, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="assistant.audio")
    events: Events = []
    state: dict[str, Any] = {}

    async def body() -> None:
        io = await opened(AudioSettings(preroll_s=0.3, earcons=False), events, recheck_s=0.2)
        try:
            await io.start_capture()
            pulse.mic.feed(tone(440, 0.6))
            await asyncio.to_thread(pulse.mic.wait)
            await asyncio.sleep(0.2)
            pulse.kill()
            await until(lambda: io.input_problem is not None, timeout=10, what="the lost mic to be reported")
            assert io.input_problem is not None and "stopped working" in io.input_problem
            state["partial"] = await io.stop_capture()  # what came before the loss, no exception
            with pytest.raises(AudioError, match="cannot listen"):
                await io.start_capture()
            # The forced re-scan finds no server: the output is gone too, and so is every device.
            await until(lambda: io.output_problem is not None, timeout=10, what="the lost sink to be reported")
            assert io.output_problem is not None
            with pytest.raises(AudioError, match="no sound devices"):
                list_devices()
            await asyncio.to_thread(pulse.start)
            await until(lambda: io.input_problem is None and io.output_problem is None, timeout=10, what="both devices back")
            assert io.input_problem is None and io.output_problem is None
            await io.start_capture()
            pulse.mic.feed(tone(440, 0.5))
            await asyncio.to_thread(pulse.mic.wait)
            await asyncio.sleep(0.2)
            state["after"] = await io.stop_capture()
        finally:
            io.close()

    try:
        run(body)
    finally:
        if pulse.server is not None and pulse.server.poll() is not None:
            pulse.start()  # later tests need the server
    assert rms(state["partial"]) > 0.1
    assert rms(state["after"]) > 0.1
    problems = [data["input_problem"] for _, data in events]
    assert problems[0] is None and any(problems) and problems[-1] is None
    assert events[-1][1]["output_problem"] is None
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert sorted(w.split(":")[0] for w in warnings) == ["audio input", "audio output"]  # one line each
    assert "is back" in caplog.text


# ---------------------------------------------------------------------- earcons


@pytest.mark.parametrize("name", NAMES)
def test_earcon_samples_are_short_clean_and_scaled(name: str) -> None:
    samples = earcon_samples(name, 48_000, 0.3)
    assert samples.dtype == np.float32 and samples.ndim == 1
    assert 0.05 <= len(samples) / 48_000 <= 0.4
    assert abs(float(np.max(np.abs(samples))) - 0.3) < 1e-3
    assert abs(samples[0]) < 0.01 and abs(samples[-1]) < 0.01  # faded: no click
    np.testing.assert_allclose(earcon_samples(name, 48_000, 0.15), samples / 2, atol=1e-6)
    assert not np.any(earcon_samples(name, 48_000, 0.0))


def test_earcons_differ_in_the_promised_ways() -> None:
    rate = 48_000

    def pitch(samples: np.ndarray) -> tuple[float, float]:
        third = len(samples) // 3
        return dominant_hz(samples[:third], rate), dominant_hz(samples[-third:], rate)

    start_low, start_high = pitch(earcon_samples("start", rate, 1.0))
    stop_high, stop_low = pitch(earcon_samples("stop", rate, 1.0))
    assert start_low < start_high and stop_high > stop_low
    error = earcon_samples("error", rate, 1.0)
    frames = np.abs(error[: len(error) // 480 * 480]).reshape(-1, 480).max(axis=1) > 0.1
    bursts = int(np.sum(frames[1:] & ~frames[:-1])) + int(frames[0])
    assert bursts == 2 and dominant_hz(error, rate) < 300
    assert len(earcon_samples("nothing", rate, 1.0)) < len(earcon_samples("start", rate, 1.0))
    with pytest.raises(ValueError):
        earcon_samples("fanfare", rate, 1.0)


@pytest.mark.audio
@pytest.mark.parametrize("enabled", [True, False])
def test_earcon_is_heard_only_when_enabled(pulse: Pulse, tmp_path: Path, enabled: bool) -> None:
    async def body() -> None:
        io = await opened(AudioSettings(earcons=enabled, earcon_volume=0.5))
        try:
            io.earcon("start")
            await asyncio.sleep(0.8)
        finally:
            io.close()

    with pulse.record(tmp_path / "out.wav") as recording:
        run(body)
    audio = recording.audio()
    if enabled:
        start, end = loud_span(audio)
        assert 0.1 < end - start < 0.2  # the 0.12 s tone, tail included
        assert 600 < dominant_hz(audio[int(start * 16_000) : int(end * 16_000)]) < 1000
    else:
        assert rms(audio) < 1e-3
