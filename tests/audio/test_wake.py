"""The wake word's parts on real models and real espeak-ng speech: detector, VAD, end-of-speech rules, listening thread, echo gate, config."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assistant.audio.echo import PlaybackGate
from assistant.audio.files import resample
from assistant.audio.vad import FRAME_S, Endpointer, EndpointRules, Vad
from assistant.audio.wake import WORDS, Detection, WakeDetector, default_cutoff
from assistant.audio.wake_listener import WakeListener
from assistant.config.settings import load_settings
from assistant.core.errors import ConfigError

from ..espeak import CORPUS, MISSING, espeak, silence, with_noise
from ..speech import speak_16k
from ..waiting import wait_for

needs_espeak = pytest.mark.skipif(MISSING, reason="espeak-ng not installed (Debian package espeak-ng)")


def blocks(audio: np.ndarray, size: int) -> list[np.ndarray]:
    return [audio[i : i + size] for i in range(0, len(audio), size)]


# ---------------------------------------------------------------------------- detector


@needs_espeak
@pytest.mark.parametrize("voice", ["en-us", "en-gb", "en-us+m3"])
def test_espeak_okay_nabu_wakes_the_default_model(voice: str) -> None:
    detector = WakeDetector("okay_nabu")
    assert detector.threshold == default_cutoff("okay_nabu") == 0.85
    audio = np.concatenate([silence(0.5), espeak("okay nabu", voice, 150), silence(1.0)])
    found = [d for block in blocks(audio, 480) for d in detector.feed(block)]
    assert len(found) == 1, detector.peak
    # Recognised after the word began, within half a second of its end.
    spoken = np.nonzero(np.abs(audio) > 0.02)[0]
    assert spoken[0] < found[0].sample < spoken[-1] + 8000


@needs_espeak
def test_ordinary_speech_and_noise_do_not_wake() -> None:
    detector = WakeDetector("okay_nabu")
    audio = with_noise(espeak(CORPUS[:400], "en-us", 160), 0.01)
    assert detector.feed(audio) == []
    assert detector.peak < detector.threshold


def test_every_shipped_word_loads_and_a_higher_threshold_is_kept() -> None:
    for word in WORDS:
        detector = WakeDetector(word)
        assert 0.5 < detector.threshold < 1.0
        assert detector.feed(silence(0.5)) == []
        detector.close()
    assert WakeDetector("alexa", 0.99).threshold == 0.99
    with pytest.raises(ValueError, match="one of okay_nabu"):
        WakeDetector("computer")


# ---------------------------------------------------------------------------- end of speech


@needs_espeak
def test_vad_scores_speech_above_silence() -> None:
    vad = Vad()
    vad.feed(silence(0.8))  # warm-up
    speech = vad.feed(espeak("Tell me a joke about cats.", "en-us", 140))
    quiet = vad.feed(with_noise(silence(1.0), 0.005))
    # The model hangs on for about 0.2 s after speech stops (silence_s counts from there).
    assert np.median(speech) > 0.5 > max(quiet[30:])


def run(rules: EndpointRules, frames: list[float]) -> tuple[str | None, float]:
    endpointer = Endpointer(rules)
    for p in frames:
        outcome = endpointer.push(p)
        if outcome is not None:
            return outcome, endpointer.elapsed_s
    return None, endpointer.elapsed_s


RULES = EndpointRules(silence_s=0.7, no_speech_s=3.0, max_s=10.0, min_speech_s=0.2)


@settings(max_examples=200, deadline=None)
@given(lead=st.integers(0, 250), speech=st.integers(20, 500))
def test_speech_then_silence_ends_after_the_silence(lead: int, speech: int) -> None:
    frames = [0.0] * lead + [0.9] * speech + [0.0] * 200
    outcome, at = run(RULES, frames)
    if (lead + speech) * FRAME_S >= RULES.max_s:
        assert outcome == "max"
    else:
        assert outcome == "end"
        assert at == pytest.approx((lead + speech) * FRAME_S + RULES.silence_s, abs=0.011)


@settings(max_examples=200, deadline=None)
@given(blips=st.lists(st.tuples(st.integers(1, 19), st.integers(1, 60)), max_size=30))
def test_blips_shorter_than_min_speech_never_count(blips: list[tuple[int, int]]) -> None:
    # Earcons, clicks and coughs: runs of "speech" shorter than min_speech_s (20 frames).
    frames = [p for on, off in blips for p in [0.9] * on + [0.1] * off] + [0.0] * 400
    outcome, at = run(RULES, frames)
    assert outcome == "no_speech" and at == pytest.approx(RULES.no_speech_s, abs=0.011)


def test_max_length_cuts_endless_speech() -> None:
    assert run(RULES, [0.9] * 2000) == ("max", pytest.approx(RULES.max_s, abs=0.011))


def test_unknown_scores_while_warming_up_are_not_speech() -> None:
    assert run(RULES, [-1.0] * 400)[0] == "no_speech"


# ---------------------------------------------------------------------------- the thread


class Heard:
    def __init__(self) -> None:
        self.wakes: list[Detection] = []
        self.ends: list[str] = []
        self.event = threading.Event()

    def wake(self, detection: Detection, arrived: float) -> None:
        self.wakes.append(detection)
        self.event.set()

    def end(self, outcome: str) -> None:
        self.ends.append(outcome)
        self.event.set()


@needs_espeak
def test_listening_wakes_then_ends_the_utterance_at_a_device_rate() -> None:
    heard = Heard()
    listening = WakeListener(WakeDetector("okay_nabu"), heard.wake, heard.end)
    try:
        rate = 44_100  # the rate a PulseAudio ALSA device delivers, not the model's 16 kHz
        wake = resample(np.concatenate([silence(0.3), espeak("okay nabu", "en-gb", 150), silence(0.2)]), 16_000, rate)
        for block in blocks(wake, 441 * 2):
            listening.listener(block, rate)
        assert heard.event.wait(10) and len(heard.wakes) == 1
        heard.event.clear()
        listening.endpoint(EndpointRules(silence_s=0.7, no_speech_s=4.0, max_s=20.0))
        question = np.concatenate([silence(0.4), espeak("Tell me a joke about cats.", "en-us", 140), silence(1.5)])
        for block in blocks(resample(question, 16_000, rate), 441 * 2):
            listening.listener(block, rate)
        assert heard.event.wait(10) and heard.ends == ["end"]
        # Back to the wake word by itself; nobody speaks this time, so the wait ends quietly.
        heard.event.clear()
        listening.endpoint(EndpointRules(silence_s=0.7, no_speech_s=1.0, max_s=20.0))
        for block in blocks(with_noise(silence(2.0), 0.003), 320):
            listening.listener(block, 16_000)
        assert heard.event.wait(10) and heard.ends == ["end", "no_speech"]
        assert listening.busy_s > 0
    finally:
        listening.close()


# ---------------------------------------------------------------------------- echo gate


def test_playback_gate_holds_back_only_the_assistants_own_wake_word() -> None:
    import time

    gate = PlaybackGate("okay_nabu", 0.0)
    try:
        start = time.monotonic()
        assert not gate.played_recently(start)
        reply = speak_16k("Sure. Okay nabu, the words you say to wake me.")
        for block in blocks(reply, 800):
            gate.listener(block, 16_000)
        # A mic block that arrived as the reply finished. The question is asked about that moment,
        # not about whenever the detector thread gets through its queue (seconds behind on a loaded
        # machine, since the whole reply is handed over at once here).
        fed = time.monotonic()
        wait_for(lambda: gate.own_voice(fed), 30, interval=0.05, what="the detector to catch up")
        assert gate.played_recently(fed) and gate.own_voice(fed)
        # A detection long after the reply is the user's.
        assert not gate.own_voice(fed + 5.0)
    finally:
        gate.close()


def test_playback_gate_passes_a_reply_without_the_word() -> None:
    import time

    gate = PlaybackGate("okay_nabu", 0.0)
    try:
        for block in blocks(speak_16k("The capital of France is Paris."), 800):
            gate.listener(block, 16_000)
        time.sleep(1.0)
        assert gate.played_recently(time.monotonic()) and not gate.own_voice(time.monotonic())
    finally:
        gate.close()


# ---------------------------------------------------------------------------- config


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[wake]\nword = "computer"', "field 'word' must be one of okay_nabu, hey_jarvis, alexa, hey_mycroft"),
        ("[wake]\nthreshold = 1.5", "field 'threshold' must be in [0, 1)"),
        ("[wake]\nsilence_s = 0", "field 'silence_s' must be more than 0 seconds"),
        ("[wake]\nfollow_up_s = -1", "field 'follow_up_s' must be 0 (off) or more"),
        ('[wake]\necho = "magic"', "field 'echo' must be auto, gate or cancel"),
        ('[wake]\nenabled = "yes"', "field 'enabled' must be bool"),
        ("[wake]\nsensitivity = 3", "unknown field 'sensitivity'"),
    ],
)
def test_bad_wake_settings_are_one_line_errors(tmp_path: Path, toml: str, message: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(toml + "\n")
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert message in info.value.message and "\n" not in info.value.message


def test_wake_settings_default_off_and_parse(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    assert not load_settings(path).wake.enabled
    path.write_text('[wake]\nenabled = true\nword = "hey_jarvis"\nthreshold = 0.9\nsilence_s = 1\nfollow_up_s = 4\n')
    wake = load_settings(path).wake
    assert (wake.enabled, wake.word, wake.threshold, wake.silence_s, wake.follow_up_s) == (True, "hey_jarvis", 0.9, 1.0, 4.0)


# ---------------------------------------------------------------------------- doctor and CLI


def test_doctor_reports_the_wake_word(config: object) -> None:
    from assistant.cli.doctor import wake_checks

    checks = {c.name: c for c in wake_checks(config)}  # type: ignore[arg-type]
    assert checks["wake word"].ok and "'okay nabu', threshold 0.70, off at start" in checks["wake word"].detail
    assert checks["wake echo"].ok and "own voice kept out by" in checks["wake echo"].detail


def test_wake_cli_without_a_daemon_says_so(xdg: object) -> None:
    import os
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "assistant", "wake", "status"], capture_output=True, text=True, timeout=60, env=os.environ.copy()
    )
    assert proc.returncode == 2 and "not running" in proc.stderr and "Traceback" not in proc.stderr
