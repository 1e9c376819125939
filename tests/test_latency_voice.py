"""Voice turns through PulseAudio with the work done while the key is held: partial ASR, prefill, the timeline, status."""

from __future__ import annotations

import pytest

from .daemon import DaemonProcess
from .pulse import Pulse, pulse  # noqa: F401  (the session fixture)
from .speech import wer
from .test_voice_loop import last_turn, speak_into_mic, voice, wait_for  # noqa: F401  (voice is a fixture)

pytestmark = [pytest.mark.audio, pytest.mark.latency]

QUESTIONS = ("How far away is the sun?", "Tell me something about the moon.")


def test_voice_turns_transcribe_and_prefill_while_the_key_is_held(voice: DaemonProcess, pulse: Pulse) -> None:  # noqa: F811
    for count, question in enumerate(QUESTIONS, 1):
        assert voice.call("ptt.press")["state"] == "listening"
        speak_into_mic(pulse, question)  # at real-time pace, then a breath before the key goes up
        voice.call("ptt.release")
        turn = last_turn(voice, count)
        wait_for(lambda: voice.call("status")["state"] == "idle")
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
