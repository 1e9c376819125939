"""Hands-free end to end: the real daemon hears espeak-ng speech through a private PulseAudio, with no key touched.

The daemon listens to a "room" (tests/room.py) where the user's voice and, for the echo tests,
the assistant's own speaker meet.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from assistant.audio.wake import WakeDetector
from assistant.core.paths import Paths

from ..daemon_process import DaemonProcess
from ..espeak import CORPUS, MISSING, espeak, silence, with_noise
from ..pulse import Pulse, pulse  # noqa: F401  (the session fixture)
from ..room import Room, echo_canceller, recording_streams, remove_echo_canceller, speaker_in_room
from ..speech import names, speak_16k, wer
from ..waiting import wait_for

pytestmark = [
    pytest.mark.wake,
    pytest.mark.audio,
    pytest.mark.skipif(MISSING, reason="espeak-ng not installed (Debian package espeak-ng)"),
]

QUESTION = "Tell me a joke about cats."
QUESTION_WORDS = ("tell", "joke", "cat")
OWN_REPLY = "Sure. Okay nabu, the words you say to wake me."  # the Piper voice saying it wakes the model


@pytest.fixture(scope="module")
def hands_free(pulse: Pulse, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:  # noqa: F811
    root = tmp_path_factory.mktemp("wake")
    env = {}
    for var, sub in (("XDG_CONFIG_HOME", "config"), ("XDG_STATE_HOME", "state"), ("XDG_DATA_HOME", "data"), ("XDG_RUNTIME_DIR", "run")):
        (root / sub).mkdir(mode=0o700)
        env[var] = str(root / sub)
    room = Room(pulse)
    with pytest.MonkeyPatch.context() as mp:
        for var, value in env.items():
            mp.setenv(var, value)
        paths = Paths.from_env()
        paths.config_dir.mkdir(parents=True)
        # No pre-roll: with one the capture stream is open for push-to-talk anyway, and the test
        # that wake off closes the microphone would prove nothing.
        paths.config_file.write_text("[audio]\npreroll_s = 0\n\n[wake]\nno_speech_s = 2.5\n")
        try:
            with DaemonProcess(paths, env={**pulse.env, **env}) as daemon:
                daemon.wait_warm()
                yield daemon
        finally:
            room.close()


def feed(pulse: Pulse, audio: np.ndarray) -> None:  # noqa: F811
    pulse.mic.feed(audio)
    pulse.mic.wait(timeout=600)


def turn_count(daemon: DaemonProcess) -> int:
    return len(daemon.call("history", all=True))


def idle(daemon: DaemonProcess) -> None:
    wait_for(lambda: daemon.call("status")["state"] == "idle", timeout=180)


def test_off_by_default_then_on_opens_the_microphone(hands_free: DaemonProcess, pulse: Pulse) -> None:  # noqa: F811
    status = hands_free.json("wake", "status")
    assert status["enabled"] is False and status["word"] == "okay_nabu"
    assert recording_streams(pulse) == []  # nobody records the room until wake is on
    on = hands_free.cli("wake", "on")
    assert on.returncode == 0 and "listening for 'okay nabu'" in on.stdout, on.stderr
    assert len(recording_streams(pulse)) == 1
    assert hands_free.call("status")["wake"]["echo"] == "gate"  # no module-echo-cancel source here


def test_okay_nabu_then_a_question_runs_a_whole_turn(hands_free: DaemonProcess, pulse: Pulse) -> None:  # noqa: F811
    hands_free.call("wake.on")
    before, wakeups = turn_count(hands_free), hands_free.call("wake.status")["wakeups"]
    feed(pulse, np.concatenate([silence(0.5), espeak("okay nabu", "en-us", 150), silence(0.6), espeak(QUESTION, "en-us", 140), silence(2.0)]))
    wait_for(lambda: turn_count(hands_free) > before, timeout=180)
    turn = hands_free.call("history", all=True)[-1]
    assert turn["source"] == "voice" and turn["reply"] and not turn["error"], turn
    assert names(turn["transcript"], *QUESTION_WORDS), turn["transcript"]
    assert hands_free.call("wake.status")["wakeups"] == wakeups + 1
    idle(hands_free)


def test_a_wake_with_no_speech_ends_quietly_with_an_earcon(
    hands_free: DaemonProcess, pulse: Pulse, tmp_path: Path  # noqa: F811
) -> None:
    hands_free.call("wake.on")
    before = turn_count(hands_free)
    with pulse.record(tmp_path / "earcons.wav") as recording:
        feed(pulse, np.concatenate([silence(0.3), espeak("okay nabu", "en-gb", 150), silence(0.3)]))
        wait_for(lambda: hands_free.call("status")["state"] == "listening", timeout=10, interval=0.05)
        wait_for(lambda: hands_free.call("status")["state"] == "idle", timeout=30, interval=0.05)
        time.sleep(0.5)
    assert turn_count(hands_free) == before  # no turn, no LLM call
    audio = recording.audio()
    spectrum = np.abs(np.fft.rfft(audio))
    hz = np.fft.rfftfreq(len(audio), 1 / 16_000)
    nothing = spectrum[(hz > 510) & (hz < 530)].mean()  # the "nothing heard" earcon is 520 Hz
    assert nothing > 20 * spectrum[(hz > 1500) & (hz < 3000)].mean()


def test_push_to_talk_keeps_its_own_end_beside_the_wake_word(hands_free: DaemonProcess, pulse: Pulse) -> None:  # noqa: F811
    hands_free.call("wake.on")
    before = turn_count(hands_free)
    assert hands_free.call("ptt.press")["state"] == "listening"
    # A pause longer than silence_s: only the release ends a push-to-talk utterance.
    # (Piper's voice here: whisper tiny makes little of espeak-ng split in two.)
    feed(pulse, np.concatenate([speak_16k("How do I make"), silence(2.0), speak_16k("a cup of tea?")]))
    assert hands_free.call("status")["state"] == "listening"
    hands_free.call("ptt.release")
    wait_for(lambda: turn_count(hands_free) > before, timeout=180)
    turn = hands_free.call("history", all=True)[-1]
    assert wer("How do I make a cup of tea?", turn["transcript"]) <= 0.25, turn["transcript"]
    idle(hands_free)


def test_ordinary_speech_and_noise_never_wake_it(hands_free: DaemonProcess, pulse: Pulse) -> None:  # noqa: F811
    hands_free.call("wake.on")
    before, wakeups = turn_count(hands_free), hands_free.call("wake.status")["wakeups"]
    # About a minute of prose in three voices over room noise, in real time through the server
    # (scripts/bench_wake.py runs hours of it offline).
    sentences = CORPUS.split(". ")
    thirds = [". ".join(sentences[i::3]) for i in range(3)]
    speech = [espeak(text, voice, speed) for text, (voice, speed) in zip(thirds, (("en-us", 170), ("en-gb", 180), ("en-us+m3", 175)))]
    audio = with_noise(np.concatenate([np.concatenate([s, silence(0.5)]) for s in speech]), 0.01, seed=3)
    feed(pulse, audio)
    time.sleep(1.0)
    assert hands_free.call("wake.status")["wakeups"] == wakeups
    assert turn_count(hands_free) == before and hands_free.call("status")["state"] == "idle"


def test_its_own_voice_saying_okay_nabu_does_not_wake_it(
    hands_free: DaemonProcess, pulse: Pulse, tmp_path: Path  # noqa: F811
) -> None:
    hands_free.call("wake.on")
    before, status = turn_count(hands_free), hands_free.call("wake.status")
    with speaker_in_room(pulse), pulse.record(tmp_path / "reply.wav") as recording:
        said = hands_free.call("say", text=OWN_REPLY)
        assert said["spoken"] and not said["interrupted"]
        time.sleep(1.5)
        after = hands_free.call("wake.status")
    # The reply really carried the wake word into the room ...
    detector = WakeDetector("okay_nabu")
    assert detector.feed(recording.audio()), detector.peak
    # ... and the gate held it back: no wake-up, no turn.
    assert after["wakeups"] == status["wakeups"]
    assert after["own_voice_ignored"] > status["own_voice_ignored"]
    assert turn_count(hands_free) == before and hands_free.call("status")["state"] == "idle"


def test_beside_the_sound_servers_echo_canceller_it_does_not_wake_itself(hands_free: DaemonProcess, pulse: Pulse) -> None:  # noqa: F811
    hands_free.call("wake.off")
    module = echo_canceller(pulse)  # module-echo-cancel becomes the default source and sink
    try:
        on = hands_free.call("wake.on")  # turning on looks for the canceller again
        assert on["echo"] == "cancel+gate"
        before, wakeups = turn_count(hands_free), on["wakeups"]
        with speaker_in_room(pulse):
            said = hands_free.call("say", text=OWN_REPLY)
            assert said["spoken"] and not said["interrupted"]
            time.sleep(1.5)
        assert hands_free.call("wake.status")["wakeups"] == wakeups
        assert turn_count(hands_free) == before and hands_free.call("status")["state"] == "idle"
    finally:
        hands_free.call("wake.off")
        remove_echo_canceller(pulse, module)


def test_okay_nabu_over_a_reply_interrupts_it(hands_free: DaemonProcess, pulse: Pulse) -> None:  # noqa: F811
    hands_free.call("wake.on")
    before = turn_count(hands_free)
    # The user is nearer the microphone than the speaker is: the reply reaches it 20 dB below
    # their voice. (At 0 dB the detector cannot pick the word out of the overlap, and around
    # -15 dB it is hit and miss; scripts/bench_wake.py measures the rates.)
    with speaker_in_room(pulse, gain=10 ** (-20 / 20)):
        asker = threading.Thread(
            target=lambda: hands_free.call("ask", text="Tell me a long story about a brave knight and a dragon.")
        )
        asker.start()
        wait_for(lambda: hands_free.call("status")["state"] == "speaking", timeout=180, interval=0.02)
        feed(pulse, np.concatenate([espeak("okay nabu", "en-us", 150), silence(0.2)]))
        try:
            wait_for(lambda: hands_free.call("status")["state"] == "listening", timeout=10, interval=0.02)
        finally:
            asker.join(60)
    turns = hands_free.call("history", all=True)
    assert len(turns) == before + 1 and turns[-1]["interrupted"], turns[-1]
    hands_free.call("ptt.cancel")
    idle(hands_free)


def test_wake_off_closes_the_microphone(hands_free: DaemonProcess, pulse: Pulse) -> None:  # noqa: F811
    hands_free.call("wake.on")
    assert len(recording_streams(pulse)) == 1
    off = hands_free.cli("wake", "off")
    assert off.returncode == 0 and "wake word off" in off.stdout, off.stderr
    wait_for(lambda: recording_streams(pulse) == [], timeout=10)
    # A wake word now goes unheard.
    wakeups = hands_free.call("wake.status")["wakeups"]
    feed(pulse, np.concatenate([espeak("okay nabu", "en-us", 150), silence(1.0)]))
    assert hands_free.call("wake.status")["wakeups"] == wakeups and hands_free.call("status")["state"] == "idle"
    # Push-to-talk still works, and lets the stream go again afterwards.
    assert hands_free.call("ptt.press")["state"] == "listening"
    hands_free.call("ptt.cancel")
    wait_for(lambda: recording_streams(pulse) == [], timeout=10)


def test_follow_up_needs_no_wake_word(hands_free: DaemonProcess, pulse: Pulse, tmp_path: Path) -> None:  # noqa: F811
    hands_free.call("wake.off")  # this test's own daemon listens to the room
    xdg = {var: str(tmp_path / sub) for var, sub in (("XDG_CONFIG_HOME", "c"), ("XDG_STATE_HOME", "s"), ("XDG_DATA_HOME", "d"), ("XDG_RUNTIME_DIR", "r"))}
    for path in xdg.values():
        Path(path).mkdir(mode=0o700)
    with pytest.MonkeyPatch.context() as mp:
        for var, value in xdg.items():
            mp.setenv(var, value)
        paths = Paths.from_env()
    paths.config_dir.mkdir(parents=True)
    # On from the start, by the config; after each spoken reply it listens 6 s more.
    paths.config_file.write_text("[audio]\npreroll_s = 0\n\n[wake]\nenabled = true\nfollow_up_s = 6\n")
    with DaemonProcess(paths, env={**pulse.env, **xdg}) as daemon:
        daemon.wait_warm()
        assert daemon.call("wake.status")["enabled"] is True
        feed(pulse, np.concatenate([espeak("okay nabu", "en-us", 150), silence(0.6), espeak("What is the weather like on Mars?", "en-us", 140), silence(1.5)]))
        wait_for(lambda: turn_count(daemon) == 1, timeout=180)
        # The reply ends, and the follow-up window opens by itself.
        wait_for(lambda: daemon.call("status")["state"] == "listening", timeout=180, interval=0.05)
        feed(pulse, np.concatenate([silence(0.3), espeak(QUESTION, "en-us", 140), silence(1.5)]))
        wait_for(lambda: turn_count(daemon) == 2, timeout=180)
        second = daemon.call("history", all=True)[-1]
        assert names(second["transcript"], *QUESTION_WORDS), second["transcript"]
        assert daemon.call("wake.status")["wakeups"] == 1  # one wake word, two questions
