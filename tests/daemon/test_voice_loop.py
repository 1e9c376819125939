"""The full push-to-talk loop with the real daemon and real audio through a private PulseAudio.

The mic is a fifo-fed PulseAudio source; the speaker is a null sink recorded from its monitor.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from assistant.core.paths import Paths

from ..daemon_process import DaemonProcess
from ..pulse import Pulse, pulse  # noqa: F401  (the session fixture)
from ..speech import speak_16k, wer
from ..waiting import wait_for

pytestmark = pytest.mark.audio


@pytest.fixture
def voice(xdg: Paths, pulse: Pulse) -> Any:  # noqa: F811
    with DaemonProcess(xdg, env=pulse.env) as daemon:
        daemon.wait_warm()
        status = daemon.call("status")
        assert status["audio"]["input_problem"] is None, status["audio"]
        assert status["audio"]["output_problem"] is None, status["audio"]
        yield daemon


def last_turn(daemon: DaemonProcess, count: int) -> dict[str, Any]:
    turns = wait_for(lambda: (t := daemon.call("history")) and len(t) >= count and t, timeout=120, what=f"{count} turns in the history")
    return dict(turns[-1])


def speak_into_mic(pulse: Pulse, text: str) -> None:  # noqa: F811
    pulse.mic.feed(speak_16k(text))
    pulse.mic.wait()
    time.sleep(0.3)  # the fifo and the capture stream each hold a little audio


def test_press_speak_release_answers_out_loud(voice: DaemonProcess, pulse: Pulse, tmp_path: Path) -> None:  # noqa: F811
    question = "Why is the sky blue?"
    press = voice.cli("ptt", "press")
    assert press.returncode == 0 and press.stdout.strip() == "listening", press.stderr
    speak_into_mic(pulse, question)
    with pulse.record(tmp_path / "reply.wav") as recording:
        release = voice.cli("ptt", "release", "--json")
        assert release.returncode == 0, release.stderr
        assert json.loads(release.stdout)["state"] == "thinking"
        turn = last_turn(voice, 1)
        wait_for(lambda: voice.call("status")["state"] == "idle", timeout=120, what="the daemon to be idle")
    history = voice.json("history")
    assert wer(question, history[-1]["transcript"]) <= 0.25, history[-1]["transcript"]
    assert turn["reply"] and not turn["interrupted"] and turn["audio_path"] is None
    heard = voice.cli("transcribe", str(recording.path))
    assert heard.returncode == 0, heard.stderr
    assert wer(turn["reply"], heard.stdout) <= 0.3, (turn["reply"], heard.stdout)


def test_barge_in_stops_playback_and_keeps_only_what_was_heard(voice: DaemonProcess, pulse: Pulse) -> None:  # noqa: F811
    llm_pid = next(m["pid"] for m in voice.call("vram.status")["models"] if m["id"] == "smollm2-135m")
    asker = threading.Thread(
        target=lambda: voice.call("ask", text="Tell me a long story about a brave knight and a dragon.")
    )
    asker.start()
    wait_for(lambda: voice.call("status")["state"] == "speaking", timeout=120, interval=0.02, what="the reply to be spoken")
    time.sleep(0.5)
    press = voice.call("ptt.press")
    assert press["state"] == "listening"
    asker.join(60)
    turn = last_turn(voice, 1)
    assert turn["interrupted"]
    assert len(turn["reply"]) < len(turn["full_reply"]), turn
    assert voice.call("ptt.cancel") == {"cancelled": True}
    assert voice.call("status")["state"] == "idle"
    after = voice.call("ask", text="Say hello.")
    assert after["reply"] and not after["interrupted"]
    # Generation was stopped, not the model: the LLM worker survives a barge-in.
    assert next(m["pid"] for m in voice.call("vram.status")["models"] if m["id"] == "smollm2-135m") == llm_pid


def test_silent_utterance_makes_no_llm_call(voice: DaemonProcess, pulse: Pulse) -> None:  # noqa: F811
    voice.call("ptt.press")
    time.sleep(1.5)  # the mic feeder sends silence
    voice.call("ptt.release")
    turn = last_turn(voice, 1)
    assert turn["nothing_heard"] and turn["reply"] == "" and turn["transcript"] == ""
    # The press prefills the LLM's cache so a real question starts sooner, but silence generates nothing.
    assert turn["timings"]["llm_first_token_s"] is None and turn["full_reply"] == "", turn


def test_toggle_mode(voice: DaemonProcess, pulse: Pulse) -> None:  # noqa: F811
    assert voice.cli("ptt", "toggle").stdout.strip() == "listening"
    speak_into_mic(pulse, "How do I make a cup of tea?")
    assert voice.cli("ptt", "toggle").stdout.strip() == "thinking"
    turn = last_turn(voice, 1)
    assert wer("How do I make a cup of tea?", turn["transcript"]) <= 0.25, turn["transcript"]


def test_missing_input_device_keeps_text_turns_working(xdg: Paths, pulse: Pulse) -> None:  # noqa: F811
    xdg.config_file.write_text('[audio]\ninput_device = "no-such-mic"\n')
    with DaemonProcess(xdg, env=pulse.env) as daemon:
        audio = daemon.call("status")["audio"]
        assert "no-such-mic" in audio["input_problem"] and audio["output_problem"] is None
        press = daemon.cli("ptt", "press")
        assert press.returncode == 1 and "no-such-mic" in press.stderr and "Traceback" not in press.stderr
        answer = daemon.call("ask", text="Say hello.")
        assert answer["reply"] and answer["audio_path"] is None  # spoken through the sink
    log = daemon.log.read_text()
    assert log.count("no-such-mic") >= 1


def test_holding_the_hotkey_on_x11_runs_a_turn(xdg: Paths, pulse: Pulse) -> None:  # noqa: F811
    import os
    import subprocess

    from ..triggers.test_hotkey_x11 import MISSING, Xvfb

    if MISSING:
        pytest.skip(f"{' and '.join(MISSING)} not installed (Debian packages xvfb, xdotool)")
    xvfb = Xvfb()
    key = {**os.environ, "DISPLAY": xvfb.display}
    try:
        with DaemonProcess(xdg, env={**pulse.env, "DISPLAY": xvfb.display}, hotkeys=True) as daemon:
            daemon.wait_warm()
            wait_for(lambda: "listening to X display" in daemon.log.read_text(), timeout=30, what="the X11 hotkey source")
            subprocess.run(["xdotool", "keydown", "Control_R"], env=key, check=True)
            wait_for(lambda: daemon.call("status")["state"] == "listening", timeout=10, interval=0.02, what="the press to start listening")
            speak_into_mic(pulse, "How far away is the sun?")
            subprocess.run(["xdotool", "keyup", "Control_R"], env=key, check=True)
            turn = last_turn(daemon, 1)
            assert wer("How far away is the sun?", turn["transcript"]) <= 0.25, turn["transcript"]
            assert turn["reply"]
    finally:
        xvfb.stop()
