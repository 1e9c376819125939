"""The reply's output stream opened ahead of the first chunk: open before any audio, heard as usual, closed if unused."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from assistant.audio.io import AudioIO
from assistant.audio.settings import AudioSettings
from assistant.core.speech import AudioChunk

from ..pulse import Pulse, pulse  # noqa: F401 - the fixture
from .test_audio import dominant_hz, loud_span, opened, run, tone
from ..waiting import until

pytestmark = [pytest.mark.audio, pytest.mark.latency]


def playing_streams(pulse: Pulse) -> int:  # noqa: F811
    """Streams connected to the server's sinks (the fixture's own keep-awake stream included)."""
    out = subprocess.run(
        ["pactl", "list", "short", "sink-inputs"], env={**os.environ, **pulse.env}, capture_output=True, text=True, timeout=10
    )
    return len([line for line in out.stdout.splitlines() if line.strip()])


def test_a_prepared_stream_is_open_before_the_first_chunk_and_plays_it(pulse: Pulse, tmp_path: Path) -> None:  # noqa: F811
    seen: dict[str, Any] = {}

    async def body() -> None:
        io: AudioIO = await opened(AudioSettings(earcons=False))
        try:
            before = await asyncio.to_thread(playing_streams, pulse)
            sink = io.sink()
            sink.prepare(22_050)
            await until(lambda: playing_streams(pulse) > before, timeout=10, what="the prepared stream to open")
            seen["open_before_audio"] = playing_streams(pulse) - before
            seen["no_sample_yet"] = sink.first_sample_time is None
            await sink.play(AudioChunk(tone(440, 0.5, 22_050), 22_050), 0)
            await sink.play(AudioChunk(tone(880, 0.5, 22_050), 22_050), 1)
            await sink.finish()
            seen["played"] = sink.played_sentences()
        finally:
            io.close()

    with pulse.record(tmp_path / "out.wav") as recording:
        run(body)
    assert seen == {"open_before_audio": 1, "no_sample_yet": True, "played": 2}
    audio = recording.audio()
    start, end = loud_span(audio)
    assert 0.9 < end - start < 1.2
    assert abs(dominant_hz(audio[int((start + 0.1) * 16_000) : int((start + 0.4) * 16_000)]) - 440) < 10
    assert abs(dominant_hz(audio[int((start + 0.6) * 16_000) : int((start + 0.9) * 16_000)]) - 880) < 10


def test_a_prepared_stream_closes_when_its_turn_ends_without_audio(pulse: Pulse) -> None:  # noqa: F811
    counts: dict[str, int] = {}

    async def body() -> None:
        io = await opened(AudioSettings(earcons=False))
        try:
            counts["before"] = await asyncio.to_thread(playing_streams, pulse)

            async def turn_with_nothing_heard() -> None:
                io.sink().prepare(22_050)
                await until(lambda: playing_streams(pulse) > counts["before"], timeout=10, what="the prepared stream to open")
                counts["during"] = playing_streams(pulse)

            await asyncio.create_task(turn_with_nothing_heard())
            await until(lambda: playing_streams(pulse) == counts["before"], timeout=10, what="the unused stream to close")
            counts["after"] = await asyncio.to_thread(playing_streams, pulse)
        finally:
            io.close()

    run(body)
    assert counts["during"] == counts["before"] + 1 and counts["after"] == counts["before"], counts
