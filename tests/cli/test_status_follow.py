"""`assistant status --follow`: what a panel shows, line by line as the daemon's events arrive."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from assistant.api.protocol import Event
from assistant.cli.follow import Format, Presence
from assistant.core.wire import from_json, to_json
from assistant.daemon.replies import DaemonStatus

from ..daemon_process import DaemonProcess
from ..pulse import Pulse, pulse  # noqa: F401  (the session fixture)
from ..daemon.test_voice_loop import last_turn, speak_into_mic, voice  # noqa: F401  (voice is a fixture)
from ..waiting import wait_for


@pytest.mark.quick
def test_the_view_follows_each_event_and_ignores_the_rest() -> None:
    vram = {"meter": "simulated", "total_gb": 16.0, "used_gb": 0.0, "free_gb": 16.0, "reserve_gb": 0.5, "budget_gb": 15.5}
    view = Presence.of(from_json(DaemonStatus, {
        "state": "idle", "models": {"asr": "a", "llm": "b", "tts": "c"}, "wake": {"enabled": False},
        "audio": {"input_problem": None, "output_problem": None}, "last_turn": None,
        "pid": 1, "uptime_s": 1.0, "llm": "b", "vram": vram, "resident": [], "conversation": 1, "latency": {}}))
    assert to_json(view.as_json()) == {"state": "idle", "models": {"asr": "a", "llm": "b", "tts": "c"}, "wake": False,
                                       "dictating": False, "error": None}
    steps = [
        (Event("state", {"state": "dictating"}), {"state": "dictating", "dictating": True}),
        (Event("llm", {"id": "q", "previous": "b"}), {"models": {"asr": "a", "llm": "q", "tts": "c"}}),
        (Event("wake", {"enabled": True}), {"wake": True}),
        (Event("turn", {"error": "the ASR worker crashed"}), {"error": "the ASR worker crashed"}),
        (Event("turn", {"error": None}), {"error": None}),
        (Event("audio", {"input_problem": "no microphone", "output_problem": None}), {"error": "no microphone"}),
    ]
    for event, expected in steps:
        before = to_json(view.as_json())
        view = view.after(event)
        assert to_json(view.as_json()) == {**before, **expected}, event
    assert view.after(Event("tool.called", {"name": "x"})) is view  # nothing shown changed: no line
    bar = json.loads(Presence("idle", {"llm": "q"}, error="no microphone").line(Format.WAYBAR))
    assert bar["class"] == bar["alt"] == "error" and "no microphone" in bar["tooltip"] and "llm: q" in bar["tooltip"]
    assert json.loads(Presence("listening").line(Format.WAYBAR))["class"] == "listening"


def follower(daemon: DaemonProcess, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "assistant", "status", "--follow", *args], stdout=subprocess.PIPE,
                            text=True, env=daemon.env)


def lines_of(proc: subprocess.Popen[str]) -> list[dict[str, object]]:
    proc.terminate()
    out, _ = proc.communicate(timeout=10)
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_a_whole_voice_turn_shows_every_state_in_order(voice: DaemonProcess, pulse: Pulse) -> None:  # noqa: F811
    plain, bar = follower(voice), follower(voice, "--format", "waybar")
    time.sleep(1.5)  # both have their first line out and are subscribed
    voice.call("ptt.press")
    speak_into_mic(pulse, "Why is the sky blue?")
    voice.call("ptt.release")
    turn = last_turn(voice, 1)
    wait_for(lambda: voice.call("status")["state"] == "idle", timeout=120)
    time.sleep(0.5)
    states = [line["state"] for line in lines_of(plain)]
    assert states == ["idle", "listening", "thinking", "speaking", "idle"], states
    classes = [line["class"] for line in lines_of(bar)]
    assert classes == ["idle", "listening", "thinking", "speaking", "idle"], classes
    assert turn["reply"] and not turn["error"]


def test_a_follower_says_when_the_daemon_goes(voice: DaemonProcess) -> None:
    plain = follower(voice)
    time.sleep(1.5)
    voice.stop()
    out, _ = plain.communicate(timeout=30)
    shown = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert shown[0]["state"] == "idle" and shown[-1]["state"] == "stopped" and plain.returncode == 2, out
