"""Voice turns through PulseAudio with the work done while the key is held: partial ASR, prefill, the timeline, status."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from ..daemon_process import DaemonProcess
from ..pulse import Pulse, pulse  # noqa: F401  (the session fixture)
from ..speech import normalize, speak_16k, wer
from ..daemon.test_voice_loop import last_turn, speak_into_mic, voice  # noqa: F401  (voice is a fixture)
from ..waiting import wait_for

pytestmark = [pytest.mark.audio, pytest.mark.latency]

QUESTIONS = ("How far away is the sun?", "Tell me something about the moon.")


def test_voice_turns_transcribe_and_prefill_while_the_key_is_held(voice: DaemonProcess, pulse: Pulse) -> None:  # noqa: F811
    for count, question in enumerate(QUESTIONS, 1):
        assert voice.call("ptt.press")["state"] == "listening"
        speak_into_mic(pulse, question)  # at real-time pace, then a breath before the key goes up
        voice.call("ptt.release")
        turn = last_turn(voice, count)
        wait_for(lambda: voice.call("status")["state"] == "idle", timeout=120)
        assert wer(question, turn["transcript"]) <= 0.25, turn["transcript"]
        assert turn["reply"] and not turn["error"], turn
        t = turn["timings"]
        assert t["asr_partials"] >= 1, t  # the utterance was transcribed at its end, before the release
        assert t["prompt_reused"] > 0 and t["prompt_evaluated"] > 0, t  # the prefill was in the KV cache
        assert t["first_sample_s"] is not None and t["asr_s"] <= t["first_sample_s"], t

    latency = voice.call("status")["latency"]
    assert latency["turns"] == len(QUESTIONS)
    assert 0 < latency["p50_s"] <= latency["p95_s"], latency
    shown = voice.cli("status")
    assert shown.returncode == 0 and "p50" in shown.stdout and "p95" in shown.stdout, shown.stdout
    log = voice.log.read_text()
    assert log.count("release 0.000 → asr tail done") == len(QUESTIONS), log[-2000:]
    assert "first sample at the device" in log


def test_a_user_who_waits_before_letting_go_hears_the_reply_made_while_the_key_was_held(
    voice: DaemonProcess, pulse: Pulse  # noqa: F811
) -> None:
    question = "Why is the sky blue?"
    assert voice.call("ptt.press")["state"] == "listening"
    speak_into_mic(pulse, question)
    time.sleep(2.0)  # the partial, the LLM's first sentence and its synthesis all fit in this pause
    voice.call("ptt.release")
    turn = last_turn(voice, 1)
    wait_for(lambda: voice.call("status")["state"] == "idle", timeout=120)
    assert wer(question, turn["transcript"]) <= 0.25 and turn["reply"] and not turn["error"], turn
    t = turn["timings"]
    assert t["speculations"] >= 1 and t["speculation_ahead_s"] is not None, t  # the guess was the reply played
    assert t["llm_first_sentence_s"] < 0, t  # written before the key went up
    history = voice.call("history")
    assert [h["transcript"] for h in history] == [turn["transcript"]]  # one turn, no trace of a second
    ahead = voice.call("status")["latency"]["answered_ahead"]
    assert ahead["turns"] == 1 and ahead["hit_rate"] == 1.0, ahead
    shown = voice.cli("status")
    assert "answered ahead: 100%" in shown.stdout, shown.stdout


def test_a_guess_for_words_that_changed_is_never_heard_stored_or_done(
    voice: DaemonProcess, pulse: Pulse, tmp_path: Path  # noqa: F811
) -> None:
    """A pause long enough for a guess, then more words: the guess (a timer; then an LLM reply) leaves no trace."""
    for count, (first, then) in enumerate(
        [("Set a timer for ten minutes.", "Why is the sky blue?"), ("Why is the sky blue?", "Tell me about the moon.")], 1
    ):
        assert voice.call("ptt.press")["state"] == "listening"
        time.sleep(0.5)  # the start earcon is over
        with pulse.record(tmp_path / f"held-{count}.wav") as recording:
            speak_into_mic(pulse, first)
            time.sleep(2.0)  # long enough for the guess to get as far as it may
            speak_into_mic(pulse, then)
        held = recording.audio()
        voice.call("ptt.release")
        turn = last_turn(voice, count)
        wait_for(lambda: voice.call("status")["state"] == "idle", timeout=120)
        t = turn["timings"]
        # A guess for the first words, dropped when the user spoke again. One for the whole may follow, or not:
        # under load the release can come before its partial, and then the words are transcribed after it.
        assert t["speculations_dropped"] >= 1 and t["speculation_wasted_s"] > 0, t
        assert wer(f"{first} {then}", turn["transcript"]) <= 0.3, turn["transcript"]
        assert turn["tools"] == [], turn["tools"]  # the timer was a guess: never started
        assert held.size and float(np.max(np.abs(held))) < 0.01  # nothing was played while the key was held
    assert voice.call("timers") == []
    history = voice.call("history")
    assert len(history) == 2 and all(not h["tools"] for h in history), history


def test_answering_ahead_waits_for_words_that_sound_finished(voice: DaemonProcess, pulse: Pulse) -> None:  # noqa: F811
    """At "Set a timer for, um," the end-of-turn model hears unfinished words: no guess starts there. After
    "ten minutes." it hears them finished: the guess started then is the reply, and its snapshot's
    transcript is final at the release (no second ASR pass)."""
    assert voice.call("ptt.press")["state"] == "listening"
    time.sleep(0.5)  # the start earcon is over
    pulse.mic.feed(np.concatenate([speak_16k("Set a timer for, um,", pad_s=0.0), np.zeros(24_000, dtype=np.float32)]))
    pulse.mic.wait()
    speak_into_mic(pulse, "ten minutes.")
    time.sleep(2.0)  # the partial, the verdict and the guess all fit in this pause
    voice.call("ptt.release")
    turn = last_turn(voice, 1)
    wait_for(lambda: voice.call("status")["state"] == "idle", timeout=120)
    words = normalize(str(turn["transcript"]))
    assert "timer" in words and ("ten" in words or "10" in words) and "minutes" in words, turn["transcript"]
    t = turn["timings"]
    assert t["speculations_skipped"] >= 1, t  # the pause after "um," was not guessed at
    assert t["speculation_ahead_s"] is not None, t  # the guess at the finished words was the reply
    assert t["asr_tail_audio_s"] == 0, t  # its transcript was final: nothing transcribed after the release
    assert [round(timer["duration_s"] / 60) for timer in voice.call("timers")] == [10]  # and it acted, once
    log = voice.log.read_text()
    assert "0.00 s of tail" in log and "heard as unfinished by the end-of-turn model" in log, log[-2000:]
    voice.call("timers.cancel", id="all")
