"""The tools end to end: the real daemon and models, speech through the private PulseAudio, a real session bus.

Run alone with `pytest -m tools`.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import threading
import time
import zoneinfo
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assistant.api.client import Client
from assistant.core.paths import Paths
from assistant.tools.clock import clock_time

from ..daemon_process import DaemonProcess
from ..pulse import Pulse, pulse  # noqa: F401  (the session fixture)
from ..speech import speak_16k
from ..tool_services import Desktop, SessionBus
from ..waiting import wait_for

pytestmark = [pytest.mark.tools, pytest.mark.audio]


def private_tree(root: Path) -> tuple[Paths, dict[str, str]]:
    """An XDG tree of the test's own, and the environment that points the daemon and the CLI at it."""
    env = {}
    for var, sub in (("XDG_CONFIG_HOME", "config"), ("XDG_STATE_HOME", "state"), ("XDG_DATA_HOME", "data"),
                     ("XDG_RUNTIME_DIR", "run")):
        (root / sub).mkdir(mode=0o700, parents=True, exist_ok=True)
        env[var] = str(root / sub)
    paths = Paths(root / "config" / "assistant", root / "state" / "assistant", root / "data" / "assistant",
                  root / "run" / "assistant")
    paths.config_dir.mkdir(parents=True, exist_ok=True)
    return paths, env


class Events:
    """Every subscribe event, collected on a thread."""

    def __init__(self, socket: Path) -> None:
        self.seen: list[tuple[str, dict[str, Any]]] = []
        self.client = Client(socket, timeout=None)
        self.client.connect()
        self.thread = threading.Thread(target=self._listen, daemon=True)
        self.thread.start()
        time.sleep(0.3)

    def _listen(self) -> None:
        try:
            for event in self.client.events():
                self.seen.append((event.event, event.data))
        except Exception:
            pass

    def close(self) -> None:
        self.client.close()

    def index(self, name: str) -> int | None:
        return next((i for i, (event, _) in enumerate(self.seen) if event == name), None)

    def spoke_after(self, name: str) -> bool:
        """After event `name`, the daemon went to speaking and back to idle."""
        start = self.index(name)
        if start is None:
            return False
        states = [data.get("state") for event, data in self.seen[start:] if event == "state"]
        return "speaking" in states and "idle" in states[states.index("speaking") :]


@pytest.fixture(scope="module")
def desk(pulse: Pulse, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DaemonProcess, Desktop]]:  # noqa: F811
    root = tmp_path_factory.mktemp("tools")
    bus = SessionBus(root)
    desktop = Desktop(bus.address)
    paths, env = private_tree(root)
    paths.config_file.write_text("[tools]\nalarm_ring_s = 30.0\n")
    daemon = DaemonProcess(paths, env={**pulse.env, **env, "DBUS_SESSION_BUS_ADDRESS": bus.address})
    with daemon:
        daemon.wait_warm()
        assert daemon.call("status")["audio"]["output_problem"] is None
        yield daemon, desktop
    desktop.close()
    bus.close()


def ask(daemon: DaemonProcess, text: str) -> dict[str, Any]:
    record: dict[str, Any] = daemon.json("ask", "--no-speak", text)
    return record


def test_spoken_timer_is_listed_rings_out_loud_and_a_press_dismisses_it(
    desk: tuple[DaemonProcess, Desktop], pulse: Pulse, tmp_path: Path  # noqa: F811
) -> None:
    daemon, desktop = desk
    events = Events(daemon.paths.socket)
    listings: list[list[dict[str, Any]]] = []
    polling = threading.Event()

    def poll() -> None:
        while not polling.is_set():
            proc = daemon.cli("timers", "--json", timeout=30)
            if proc.returncode == 0:
                listings.append(json.loads(proc.stdout))

    assert daemon.cli("ptt", "press").stdout.strip() == "listening"
    pulse.mic.feed(speak_16k("Set a timer for three seconds."))
    pulse.mic.wait()
    time.sleep(0.3)
    poller = threading.Thread(target=poll)
    with pulse.record(tmp_path / "timer.wav") as recording:
        poller.start()
        assert daemon.cli("ptt", "release").returncode == 0
        wait_for(lambda: events.index("timer.fired") is not None, timeout=180, what="the timer to fire")
        wait_for(lambda: events.spoke_after("timer.fired"), timeout=180, what="the ring to be spoken")
    polling.set()
    poller.join(60)
    events.close()

    turn = daemon.call("history")[-1]
    assert [(t["name"], t["route"], t["arguments"]) for t in turn["tools"]] == [
        ("start_timer", "intent", {"duration_s": 3.0})
    ], turn
    assert turn["llm"] == "" and turn["reply"] == "Timer set for 3 seconds."
    shown = [timer for listing in listings for timer in listing]
    assert shown and all(t["duration_s"] == 3.0 and 0 <= t["remaining_s"] <= 3 for t in shown), listings
    names = [event for event, _ in events.seen]
    assert names.index("timer.started") < names.index("timer.fired")
    assert "tool.called" in names
    heard = daemon.cli("transcribe", str(recording.path)).stdout.lower()
    assert "timer" in heard and "done" in heard, heard  # "done" is only in the announcement, not the reply
    assert ("Timer done", "Your 3-second timer is done.") in desktop.notifications
    # Still ringing (alarm_ring_s = 30): a press stops it, and only stops it.
    press = daemon.call("ptt.press")
    assert press == {"state": "idle", "dismissed": True}
    assert daemon.call("timers") == []
    assert daemon.call("ptt.press")["state"] == "listening"  # the next press listens again
    daemon.call("ptt.cancel")


def tokyo_reply(moment: dt.datetime) -> str:
    """What the clock should say at that moment in Tokyo: the weekday too when it is another day there."""
    day = f", on {moment:%A}" if moment.date() != moment.astimezone().date() else ""
    return f"It's {clock_time(moment)} in Tokyo{day}."


def test_the_four_spoken_requests_get_correct_answers_and_the_timer_and_reminder_exist(
    desk: tuple[DaemonProcess, Desktop], pulse: Pulse  # noqa: F811
) -> None:
    daemon, _ = desk
    tokyo = zoneinfo.ZoneInfo("Asia/Tokyo")
    turns: dict[str, dict[str, Any]] = {}
    for request in ("What time is it in Tokyo?", "Set a timer for ten minutes.", "What is twelve times seven?",
                    "Remind me to call my mother tomorrow morning."):
        count = len(daemon.call("history"))
        assert daemon.call("ptt.press")["state"] == "listening"
        pulse.mic.feed(speak_16k(request))
        pulse.mic.wait()
        time.sleep(0.3)
        before = dt.datetime.now(tokyo)
        daemon.call("ptt.release")
        turn = wait_for(lambda: (h := daemon.call("history")) and len(h) > count and h[-1], timeout=180, what="the spoken turn")
        wait_for(lambda: daemon.call("status")["state"] == "idle", timeout=180, what="the daemon to be idle")
        turns[request] = {**turn, "before": before, "after": dt.datetime.now(tokyo)}
    for turn in turns.values():
        assert [t["route"] for t in turn["tools"]] == ["intent"] and turn["llm"] == "", turn
        assert not turn["interrupted"] and turn["audio_path"] is None  # spoken through the sink
    tokyo_turn = turns["What time is it in Tokyo?"]
    assert tokyo_turn["reply"] in {tokyo_reply(tokyo_turn[k]) for k in ("before", "after")}
    assert turns["Set a timer for ten minutes."]["reply"] == "Timer set for 10 minutes."
    assert turns["What is twelve times seven?"]["reply"] == "12 times 7 is 84."
    assert turns["Remind me to call my mother tomorrow morning."]["reply"].startswith(
        "OK, I'll remind you to call your mother at 8:00 AM"
    )
    assert [t["duration_s"] for t in daemon.json("timers")] == [600.0]
    assert [r["text"] for r in daemon.json("reminders")] == ["call my mother"]
    daemon.call("timers.cancel", id="all")
    daemon.call("reminders.cancel", id="all")


def test_time_in_tokyo_arithmetic_and_the_tool_list(desk: tuple[DaemonProcess, Desktop]) -> None:
    daemon, _ = desk
    tokyo = zoneinfo.ZoneInfo("Asia/Tokyo")
    before = dt.datetime.now(tokyo)
    answer = ask(daemon, "What time is it in Tokyo?")
    after = dt.datetime.now(tokyo)
    assert answer["reply"] in {tokyo_reply(before), tokyo_reply(after)}
    assert answer["tools"][0]["route"] == "intent" and answer["llm"] == ""
    assert ask(daemon, "What is twelve times seven?")["reply"] == "12 times 7 is 84."
    assert ask(daemon, "what's 15 percent of 80")["reply"] == "15 percent of 80 is 12."
    unknown = ask(daemon, "What time is it in Narnia?")
    assert unknown["reply"].endswith("?") and not unknown["tools"][0]["ok"]
    tools = daemon.json("tools")
    assert {"get_time", "start_timer", "add_reminder", "calculate", "media_control", "set_volume"} <= {
        t["name"] for t in tools
    }
    assert {t["source"] for t in tools} == {"builtin"}


def test_pause_the_music_calls_the_players_pause(desk: tuple[DaemonProcess, Desktop]) -> None:
    daemon, desktop = desk
    desktop.calls.clear()
    assert ask(daemon, "Pause the music.")["reply"] == "Paused."
    assert desktop.calls == ["Pause"]
    assert ask(daemon, "next song")["reply"] == "Skipped to the next track."
    assert desktop.calls == ["Pause", "Next"]
    playing = ask(daemon, "What's playing?")
    assert playing["reply"] == "Bohemian Rhapsody by Queen (paused)."


def sink(pulse: Pulse, what: str) -> str:  # noqa: F811
    result = subprocess.run(
        ["pactl", f"get-sink-{what}", "spk"], env={**os.environ, **pulse.env}, capture_output=True, text=True, check=True
    )
    return result.stdout


def test_volume_on_the_private_pulseaudio_sink(desk: tuple[DaemonProcess, Desktop], pulse: Pulse) -> None:  # noqa: F811
    daemon, _ = desk
    try:
        assert ask(daemon, "Set the volume to thirty percent.")["reply"] == "The volume is 30%."
        assert "30%" in sink(pulse, "volume")
        assert ask(daemon, "Turn the volume up.")["reply"] == "The volume is 40%."
        assert "40%" in sink(pulse, "volume")
        assert ask(daemon, "mute")["reply"] == "Muted."
        assert "yes" in sink(pulse, "mute")
    finally:
        env = {**os.environ, **pulse.env}
        subprocess.run(["pactl", "set-sink-mute", "spk", "0"], env=env, check=False)
        subprocess.run(["pactl", "set-sink-volume", "spk", "100%"], env=env, check=False)


def test_timers_and_reminders_survive_a_restart_and_a_missed_reminder_fires_late(tmp_path: Path) -> None:
    paths, env = private_tree(tmp_path / "home")
    with DaemonProcess(paths, "--no-audio", env=env) as daemon:
        timer = ask(daemon, "Set a pasta timer for ten minutes.")
        assert timer["reply"] == "Pasta timer set for 10 minutes.", timer
        ask(daemon, "remind me to call my mother tomorrow morning")
        # Last, and the daemon stopped at once: its ten seconds run out while it is down.
        reminder = ask(daemon, "Remind me in ten seconds to stretch my legs.")
        assert reminder["reply"].startswith("OK, I'll remind you to stretch your legs at "), reminder
        daemon.stop()
    assert oct(paths.state_dir.stat().st_mode & 0o777) == "0o700"
    assert oct((paths.state_dir / "alarms.json").stat().st_mode & 0o777) == "0o600"
    assert not list(paths.replies_dir.glob("say-*.wav")), "the reminder rang before the daemon stopped"
    time.sleep(11)
    with DaemonProcess(paths, "--no-audio", env=env) as daemon:
        timers = daemon.json("timers")
        assert [(t["label"], t["duration_s"]) for t in timers] == [("pasta", 600.0)]
        table = daemon.cli("timers").stdout
        assert "pasta" in table and timers[0]["id"] in table
        assert 0 < timers[0]["remaining_s"] < 600
        assert dt.datetime.fromisoformat(timers[0]["due"]).utcoffset() is not None
        reminders = daemon.json("reminders")
        assert [r["text"] for r in reminders] == ["call my mother"]  # the missed one fired, and is gone
        due = dt.datetime.fromisoformat(reminders[0]["due"])
        assert due.utcoffset() is not None and (due.hour, due.minute) == (8, 0)
        # With no sound device the late reminder's announcement went to a WAV file: hear it.
        spoken = wait_for(lambda: sorted(paths.replies_dir.glob("say-*.wav")), timeout=120)
        heard = daemon.cli("transcribe", str(spoken[-1])).stdout.lower()
        assert "stretch" in heard and "ago" in heard, heard
        bad = daemon.cli("reminders", "cancel", "nope")
        assert bad.returncode == 1 and "assistant reminders" in bad.stderr and "Traceback" not in bad.stderr
        assert daemon.cli("timers", "cancel", "all").stdout.strip() == "cancelled 1 timer"
        assert daemon.json("timers") == []


def test_media_with_no_player_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    from assistant.tools.media import media_tools

    bus = SessionBus(tmp_path)
    try:
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", bus.address)
        control, now_playing = media_tools()
        result = asyncio.run(control.run({"action": "pause"}))
        assert not result.ok and result.text.startswith("I can't") and "player" in result.text
        assert not asyncio.run(now_playing.run({})).ok
    finally:
        bus.close()


def test_a_reminder_that_rings_with_no_sound_device_leaves_a_log_line_and_a_record(tmp_path: Path) -> None:
    paths, env = private_tree(tmp_path / "home")
    with DaemonProcess(paths, "--no-audio", env=env) as daemon:
        reply = ask(daemon, "Remind me in three seconds to water the plants.")
        assert reply["reply"].startswith("OK, I'll remind you to water the plants"), reply
        rang = wait_for(lambda: daemon.json("reminders", "--fired"), timeout=60)
        assert [(r["heard"], r["announcement"]) for r in rang] == [(False, rang[0]["announcement"])]
        assert "water the plants" in rang[0]["announcement"]
        assert rang[0]["audio_path"] and Path(rang[0]["audio_path"]).is_file()  # where the announcement went
        table = daemon.cli("reminders", "--fired").stdout
        assert "water the plants" in table and " no " in table  # HEARD: no
        logs = daemon.cli("logs").stdout
        assert "rang with no sound device to play it" in logs and "water the plants" in logs, logs
        assert daemon.json("timers", "--fired") == []
    assert oct((paths.state_dir / "alarms-rang.jsonl").stat().st_mode & 0o777) == "0o600"
    assert oct(paths.log_file.stat().st_mode & 0o777) == "0o600"
