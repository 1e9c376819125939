"""Ending by meaning, the pure part: when the end-of-speech rules call a pause a pause (the model is asked there)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assistant.audio.vad import FRAME_S, Endpointer, EndpointRules

pytestmark = pytest.mark.quick

PAUSE_S = 0.2
RULES = EndpointRules(silence_s=2.0, no_speech_s=3.0, max_s=30.0, min_speech_s=0.2, pause_s=PAUSE_S)


def signals(rules: EndpointRules, frames: list[float]) -> list[tuple[str, float]]:
    endpointer = Endpointer(rules)
    found: list[tuple[str, float]] = []
    for p in frames:
        signal = endpointer.push(p)
        if signal is not None:
            found.append((signal, endpointer.elapsed_s))
            if signal != "pause":
                break
    return found


@settings(max_examples=200, deadline=None)
@given(
    runs=st.lists(st.tuples(st.integers(25, 200), st.integers(0, 150)), min_size=1, max_size=6),
)
def test_each_pause_after_speech_is_signalled_once_when_it_reaches_pause_s(runs: list[tuple[int, int]]) -> None:
    frames = [p for speech, quiet in runs for p in [0.9] * speech + [0.0] * quiet] + [0.0] * 300
    found = signals(RULES, frames)
    pauses = [at for signal, at in found if signal == "pause"]
    # Every gap of at least pause_s (20 frames) is one pause; the final silence is one more.
    gaps = [quiet for _, quiet in runs[:-1] if quiet >= 20] + [runs[-1][1] + 300]
    assert len(pauses) == len(gaps)
    # The silence still ends the utterance, after the longest pause allowed.
    assert found[-1][0] == "end"
    speech_end = sum(s + q for s, q in runs) * FRAME_S - runs[-1][1] * FRAME_S
    assert found[-1][1] == pytest.approx(speech_end + RULES.silence_s, abs=0.011)
    assert pauses[-1] == pytest.approx(speech_end + PAUSE_S, abs=0.011)


def test_no_pause_before_any_speech_and_none_without_pause_s() -> None:
    [(signal, at)] = signals(RULES, [0.0] * 400)
    assert signal == "no_speech" and at == pytest.approx(RULES.no_speech_s, abs=0.011)
    silence_only = EndpointRules(silence_s=0.7, no_speech_s=3.0, max_s=30.0)
    found = signals(silence_only, [0.9] * 50 + [0.0] * 100)
    assert [s for s, _ in found] == ["end"]


def test_a_blip_shorter_than_min_speech_does_not_start_a_new_pause() -> None:
    # Speech, a pause (signalled), a cough shorter than min_speech_s, more quiet: still the one pause.
    frames = [0.9] * 50 + [0.0] * 30 + [0.9] * 5 + [0.0] * 300
    assert [s for s, _ in signals(RULES, frames)] == ["pause", "end"]
