"""Hands-free turns ended by meaning: the real daemon, the real end-of-turn model, speech through a private PulseAudio.

The assertions are on the words and on why each turn ended, never on its times
(scripts/bench_endpoint.py measures those).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import numpy as np
import pytest

from assistant.audio import smart_turn
from assistant.audio.settings import TurnSettings
from assistant.cli.doctor import end_of_turn_check
from assistant.config.settings import Settings, WakeSettings
from assistant.core.paths import Paths
from assistant.triggers.handsfree import HandsFree

from ..daemon_process import DaemonProcess
from ..espeak import MISSING, espeak, silence
from ..pulse import Pulse, pulse  # noqa: F401  (the session fixture)
from ..speech import normalize, speak_16k, wer
from ..waiting import wait_for


@pytest.fixture(scope="module")
def hands_free(pulse: Pulse, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:  # noqa: F811
    root = tmp_path_factory.mktemp("end-of-turn")
    env = {}
    for var, sub in (("XDG_CONFIG_HOME", "config"), ("XDG_STATE_HOME", "state"), ("XDG_DATA_HOME", "data"), ("XDG_RUNTIME_DIR", "run")):
        (root / sub).mkdir(mode=0o700)
        env[var] = str(root / sub)
    with pytest.MonkeyPatch.context() as mp:
        for var, value in env.items():
            mp.setenv(var, value)
        paths = Paths.from_env()
        paths.config_dir.mkdir(parents=True)
        paths.config_file.write_text("[audio]\npreroll_s = 0\n\n[wake]\nenabled = true\nno_speech_s = 2.5\n")
        with DaemonProcess(paths, env={**pulse.env, **env}) as daemon:
            daemon.wait_warm()
            wait_for(lambda: daemon.call("wake.status")["enabled"], timeout=60)
            yield daemon


def turns(daemon: DaemonProcess) -> list[dict[str, object]]:
    return list(daemon.call("history", all=True))


def wake_then(pulse: Pulse, *parts: np.ndarray) -> None:  # noqa: F811
    pulse.mic.feed(np.concatenate([silence(0.5), espeak("okay nabu", "en-us", 150), silence(0.6), *parts, silence(3.0)]))
    pulse.mic.wait(timeout=600)


def idle(daemon: DaemonProcess) -> None:
    wait_for(lambda: daemon.call("status")["state"] == "idle", timeout=180)


pytestmark = [
    pytest.mark.wake,
    pytest.mark.audio,
    pytest.mark.skipif(MISSING, reason="espeak-ng not installed (Debian package espeak-ng)"),
]


def test_a_pause_mid_request_keeps_one_turn_and_the_whole_request_acts(hands_free: DaemonProcess, pulse: Pulse) -> None:  # noqa: F811
    before = len(turns(hands_free))
    # "Set a timer for, um," then a full second of quiet: longer than the 0.7 s a fixed silence allows.
    wake_then(pulse, speak_16k("Set a timer for, um,", pad_s=0.0), silence(1.0), speak_16k("ten minutes.", pad_s=0.0))
    wait_for(lambda: len(turns(hands_free)) > before, timeout=180)
    idle(hands_free)
    after = turns(hands_free)
    assert len(after) == before + 1, after[before:]  # one turn, not one cut at "for"
    turn = after[-1]
    words = normalize(str(turn["transcript"]))
    assert "timer" in words and ("ten" in words or "10" in words) and "minutes" in words, turn["transcript"]
    assert turn["end"] == "model" and turn["end_probability"] is not None, turn
    timers = hands_free.call("timers")
    assert [round(t["duration_s"] / 60) for t in timers] == [10], timers
    hands_free.call("timers.cancel", id="all")


def test_a_complete_question_ends_by_the_model_not_by_silence(hands_free: DaemonProcess, pulse: Pulse) -> None:  # noqa: F811
    before = len(turns(hands_free))
    wake_then(pulse, speak_16k("What time is it?", pad_s=0.0))
    wait_for(lambda: len(turns(hands_free)) > before, timeout=180)
    idle(hands_free)
    turn = turns(hands_free)[-1]
    assert wer("What time is it?", str(turn["transcript"])) <= 0.25, turn["transcript"]
    assert turn["end"] == "model", turn
    assert isinstance(turn["end_probability"], float) and turn["end_probability"] >= 0.5, turn
    status = hands_free.call("wake.status")
    assert status["end"] == "model", status


# ---------------------------------------------------------------------------- without the model


def test_without_the_model_turns_end_by_silence_and_doctor_says_why(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(smart_turn, "DISTRIBUTION", "pipecat-ai-not-installed")
    handsfree = HandsFree(WakeSettings(silence_s=0.7), None, None, 30.0, lambda event: None, TurnSettings())  # type: ignore[arg-type]
    smart_turn.shared.cache_clear()  # the process's model, as a daemon without the package would find it
    try:
        with caplog.at_level(logging.WARNING):
            asyncio.run(handsfree._load_end_model())
    finally:
        smart_turn.shared.cache_clear()
    assert handsfree.end_model is None and handsfree.rules.pause_s is None and handsfree.rules.silence_s == 0.7
    assert handsfree.end_problem is not None and "scripts/install.sh" in handsfree.end_problem
    assert "fixed silence" in caplog.text
    check = end_of_turn_check(Settings())
    assert not check.ok and "scripts/install.sh" in check.detail


def test_with_the_model_the_rules_ask_it_at_each_pause() -> None:
    handsfree = HandsFree(WakeSettings(), None, None, 30.0, lambda event: None, TurnSettings(pause_s=0.25, max_silence_s=1.5))  # type: ignore[arg-type]
    asyncio.run(handsfree._load_end_model())
    assert handsfree.end_model is not None, handsfree.end_problem
    assert handsfree.rules.pause_s == 0.25 and handsfree.rules.silence_s == 1.5


def test_end_silence_in_the_config_keeps_the_fixed_silence_without_loading_the_model() -> None:
    handsfree = HandsFree(WakeSettings(silence_s=0.9), None, None, 30.0, lambda event: None, TurnSettings(end="silence"))  # type: ignore[arg-type]
    asyncio.run(handsfree._load_end_model())
    assert handsfree.end_model is None and handsfree.end_problem is None
    assert handsfree.rules.pause_s is None and handsfree.rules.silence_s == 0.9
