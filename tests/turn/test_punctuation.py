"""Spoken punctuation that survives a weak ASR: the commands tiny.en mishears, put back at a phrase's end,
and the real words close to them kept (scripts/bench_dictate.py --punctuation measures both per voice)."""

from __future__ import annotations

import asyncio
import re

import pytest

from assistant.core.paths import Paths
from assistant.turn.misheard import Restorer
from assistant.turn.shaping import Shaper

from ..espeak import MISSING, espeak

pytestmark = pytest.mark.dictation


def typed(transcript: str) -> str:
    return Shaper().phrase(transcript).text


@pytest.mark.quick
def test_a_misheard_command_at_the_end_of_a_phrase_is_the_command() -> None:
    # Transcripts tiny.en wrote (scripts/bench_dictate.py --punctuation).
    assert typed("The meeting moved to Thursday comment.") == "The meeting moved to Thursday,"
    assert typed("How long will the bill take comment?") == "How long will the bill take,"
    assert typed("And the report to the total team comers.") == "And the report to the total team,"
    assert typed("Call me when you land karma.") == "Call me when you land,"
    assert typed("The meeting moved to Thursday's crash mark.") == ""
    assert typed("Call me when you land, scratch, met.") == ""
    # Alone between two of Whisper's marks (a pause), inside the phrase too.
    assert typed("The meeting moved to Thursday. Comment. So please update it period") == (
        "The meeting moved to Thursday, So please update it."
    )
    shaper = Shaper()
    shaper.phrase("The meeting is on Monday.")
    assert shaper.phrase("Scratch mat.").erase == len("The meeting is on Monday.")


@pytest.mark.quick
def test_real_words_close_to_a_command_stay_words() -> None:
    assert typed("I left a comment.") == "I left a comment."
    assert typed("Leave a comment on it.") == "Leave a comment on it."
    assert typed("No comment.") == "No comment."
    assert typed("Comments are welcome.") == "Comments are welcome."
    assert typed("There is a scratch mark.") == "There is a scratch mark."
    assert typed("I started from scratch.") == "I started from scratch."
    # The commands' own words after a word that starts a noun phrase: the noun, not the mark.
    assert typed("It was a long period.") == "It was a long period."
    assert typed("We need a new line.") == "We need a new line."
    assert typed("The comma goes here.") == "The comma goes here."
    # ... and the commands themselves still work after an ordinary word.
    assert typed("Send the report period") == "Send the report."
    assert typed("I said that comma then left") == "I said that, then left"


@pytest.mark.quick
def test_off_restores_nothing_and_keeps_no_word() -> None:
    before = Shaper(restore=Restorer.off())
    assert before.phrase("The meeting moved to Thursday. Comment.").text == "The meeting moved to Thursday. Comment."
    assert Shaper(restore=Restorer.off()).phrase("It was a long period.").text == "It was a long."


@pytest.mark.skipif(MISSING, reason="espeak-ng is not installed")
def test_comma_said_at_the_end_of_a_phrase_by_espeak_lands_as_a_comma(xdg: Paths) -> None:
    """Two phrases whose "comma" tiny.en writes as "comment" and "karma" (scripts/bench_dictate.py
    --punctuation), through a dictation's final transcription and its shaping."""
    from assistant.config.settings import Config
    from assistant.turn.assistant import Assistant
    from assistant.turn.dictation import dictation_prompt
    from assistant.vram.meter import SimulatedMeter

    said = [espeak("Send the report to the whole team comma", "en-us", 130),
            espeak("Call me when you land comma", "en-us+m3", 150)]

    async def main() -> list[str]:
        assistant = Assistant.create(Config.load(xdg), SimulatedMeter(16.0), persist=False)
        try:
            return [(await assistant.pipeline.transcribe(clip, assistant.models.asr, dictation_prompt(()))).text
                    for clip in said]
        finally:
            await assistant.close()

    for transcript in asyncio.run(main()):
        text = typed(transcript)
        assert text.endswith(",") and not re.search(r"comm|karma", text, re.IGNORECASE), (transcript, text)
