"""A turn's result on its own: a guess's work taken over whole, and its times moved to the release."""

from __future__ import annotations

import dataclasses

import pytest

from assistant.tools.registry import ToolCallRecord
from assistant.turn.results import Models, Timings, TurnResult

pytestmark = pytest.mark.quick


def test_a_turn_takes_over_every_field_of_its_guess_but_its_own_id_and_watcher() -> None:
    heard: list[str] = []
    guess = TurnResult(
        id="guess",
        transcript="what time is it",
        reply="It is noon.",
        full_reply="It is noon. Anything else?",
        sentences=["It is noon."],
        timings=Timings(asr_s=0.1, total_s=1.0),
        nothing_heard=True,
        interrupted=True,
        llm="smollm2",
        refused=True,
        tools=[ToolCallRecord(name="clock", arguments={}, result="noon", ok=True, ms=3.0, route="intent")],
    )
    turn = TurnResult(id="turn", on_sentence=heard.append)
    turn.take_over(guess)
    for field in dataclasses.fields(TurnResult):
        if field.name in ("id", "on_sentence"):
            continue
        # A field added to TurnResult and forgotten in take_over reads as its default here.
        assert getattr(turn, field.name) == getattr(guess, field.name), field.name
    assert turn.id == "turn"
    turn.add_sentence("Later.")
    assert heard == ["Later."]


def test_a_guess_s_times_move_to_count_from_the_release_and_unset_ones_stay_unset() -> None:
    timings = Timings(asr_s=0.2, llm_first_token_s=0.5, first_audio_s=0.9, total_s=2.0, first_sample_s=0.95)
    timings.count_from(-0.4)
    assert timings.llm_first_token_s == pytest.approx(0.1)
    assert timings.first_audio_s == pytest.approx(0.5)
    assert timings.total_s == pytest.approx(1.6)
    assert timings.first_sample_s == pytest.approx(0.55)
    assert timings.asr_s == 0.2  # measured from the release already
    assert timings.llm_first_sentence_s is None and timings.tts_first_chunk_s is None


def test_models_are_read_and_chosen_by_kind() -> None:
    models = Models(asr="a", llm="l", tts="t")
    models.choose("llm", "other")
    assert (models.of("asr"), models.of("llm"), models.of("tts")) == ("a", "other", "t")
