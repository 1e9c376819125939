"""Timers and reminders as the daemon keeps them: a private file, restarts, late firing, dismissing a ringing alarm."""

from __future__ import annotations

import asyncio
import json
import stat
from pathlib import Path
from typing import Any

import pytest

from assistant.core.errors import AssistantError
from assistant.core.wire import to_json
from assistant.tools.alarms import Alarm, Alarms
from assistant.tools.ringer import Ringer
from assistant.tools.timers import announcement, timer_tools

pytestmark = pytest.mark.quick  # pure logic: runs on the light store


class Clock:
    """A clock the test moves by hand, so "the daemon was down for an hour" takes no hour."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_alarms_are_kept_in_a_private_file_and_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "state" / "assistant" / "alarms.json"
    clock = Clock()
    alarms = Alarms(path, clock)
    timer = alarms.add("timer", clock() + 600, label="pasta", duration_s=600)
    reminder = alarms.add("reminder", clock() + 3600, text="call my mother")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    again = Alarms(path, clock)
    assert again.list("timer") == [timer] and again.list("reminder") == [reminder]
    assert again.cancel(timer.id) == timer
    assert Alarms(path, clock).list("timer") == []


def test_the_socket_shapes(tmp_path: Path) -> None:
    clock = Clock()
    alarms = Alarms(None, clock)
    timer = alarms.add("timer", clock() + 90, label="", duration_s=90)
    clock.now += 30
    described = to_json(timer.describe(clock()))
    assert set(described) == {"id", "label", "duration_s", "due", "remaining_s"}
    assert described["remaining_s"] == 60 and described["duration_s"] == 90
    assert described["due"][-6] in "+-"  # ISO 8601 with its UTC offset
    reminder = to_json(alarms.add("reminder", clock() + 60, text="stretch").describe(clock()))
    assert set(reminder) == {"id", "text", "due"}


def test_an_unreadable_file_is_set_aside_not_lost(tmp_path: Path) -> None:
    path = tmp_path / "alarms.json"
    path.write_text("{not json")
    alarms = Alarms(path)
    assert alarms.list("timer") == []
    assert (tmp_path / "alarms.json.unreadable").read_text() == "{not json"


def test_an_alarm_due_during_downtime_fires_at_start_and_says_it_is_late(tmp_path: Path) -> None:
    path = tmp_path / "alarms.json"
    clock = Clock()
    before = Alarms(path, clock)
    before.add("reminder", clock() + 60, text="take the bread out")
    before.add("timer", clock() + 7200, duration_s=7200)
    clock.now += 3600  # the daemon was down for an hour
    fired: list[tuple[Alarm, float]] = []

    async def run() -> None:
        alarms = Alarms(path, clock)

        async def fire(alarm: Alarm, late_s: float) -> None:
            fired.append((alarm, late_s))

        alarms.start(fire)
        await asyncio.sleep(0.2)
        await alarms.close()
        assert [a.kind for a in alarms.list("timer")] == ["timer"]  # not due yet: still there

    asyncio.run(run())
    assert [(a.text, round(late)) for a, late in fired] == [("take the bread out", 3540)]
    assert json.loads(path.read_text())[0]["kind"] == "timer"  # a fired alarm is gone from the file


def test_a_timer_fires_on_time_and_a_press_dismisses_its_ringing() -> None:
    events: list[tuple[str, dict[str, Any]]] = []
    said: list[str] = []
    beeps: list[str] = []

    async def run() -> bool:
        alarms = Alarms(None)

        async def say(text: str) -> tuple[bool, str | None]:
            said.append(text)
            return True, None  # heard on the sound device, so no WAV

        ringer = Ringer(say, beeps.append, lambda title, body: None, lambda e: events.append((e.name, e.data())), lambda: 30.0)
        alarms.start(ringer.fire)
        start = timer_tools(alarms)[0]
        result = await start.run({"duration_s": 1})
        assert result.ok and alarms.list("timer")
        while not said:
            await asyncio.sleep(0.05)
        assert ringer.ringing
        dismissed = ringer.dismiss()
        await asyncio.sleep(0.05)
        assert not ringer.ringing
        await alarms.close()
        return dismissed

    assert asyncio.run(run())
    assert said == ["Your one-second timer is done."]  # through spoken(): the voice gets words
    assert [e for e, _ in events] == ["timer.fired"] and beeps[:1] == ["alarm"]
    fired = events[0][1]
    assert list(fired) == ["id", "label", "duration_s", "due", "remaining_s", "late_s", "announcement"]
    assert fired["announcement"] == "Your 1-second timer is done." and fired["late_s"] == 0.0  # digits: the text


def test_announcements() -> None:
    ten = Alarm("a", "timer", 0.0, duration_s=600)
    assert announcement(ten, 0.0) == "Your 10-minute timer is done."
    assert announcement(Alarm("b", "timer", 0.0, label="pasta", duration_s=60), 0.0) == "Your pasta timer is done."
    assert "ago" in announcement(ten, 3600.0)


def test_a_timer_cannot_be_set_when_nothing_would_ring_it() -> None:
    result = asyncio.run(timer_tools(Alarms(None))[0].run({"duration_s": 60}))
    assert not result.ok and "daemon" in result.text


def test_an_alarm_rings_even_when_its_announcement_cannot_be_spoken() -> None:
    beeps: list[str] = []

    async def run() -> bool:
        async def say(text: str) -> None:
            raise AssistantError("tts: the voice failed to load", code="model")  # a voice that cannot speak

        ringer = Ringer(say, beeps.append, lambda title, body: None, lambda e: None, lambda: 30.0)
        task = asyncio.create_task(ringer.fire(Alarm("t", "timer", 0.0, duration_s=60), 0.0))
        await asyncio.sleep(0.1)
        ringing = ringer.ringing
        ringer.dismiss()
        await task
        return ringing

    assert asyncio.run(run()), "the alarm stopped ringing because the voice failed"
    assert beeps[:1] == ["alarm"]
