"""The words sent while an utterance is spoken: only what two passes in a row agree on, then the rest."""

from __future__ import annotations

import pytest

from assistant.turn.live_words import LiveWords

pytestmark = pytest.mark.quick


def test_words_go_out_once_two_passes_agree_and_the_final_pass_sends_the_rest() -> None:
    words = LiveWords()
    assert words.partial("The quick brown fox jump") is None  # one pass: nothing is agreed yet
    assert words.partial("The quick brown fox jumps over") == "The quick brown fox"  # "jump" ≠ "jumps": held back
    assert words.partial("the quick brown fox jumps over the lazy") == " jumps over"  # case aside, they agree
    assert words.final("The quick brown fox jumps over the lazy dog.") == " the lazy dog."
    assert " ".join(words.sent) == "The quick brown fox jumps over the lazy dog."


def test_a_final_pass_that_disagrees_sends_nothing_more_and_nothing_is_sent_twice() -> None:
    words = LiveWords()
    words.partial("Set a timer")
    assert words.partial("Set a timer for") == "Set a timer"
    assert words.final("Sit a timer for ten minutes.") is None  # the transcript event carries the truth
    again = LiveWords()
    again.partial("Hello there")
    assert again.partial("Hello there") == "Hello there"
    assert again.partial("Hello there") is None and again.final("Hello there") is None
