"""Spoken punctuation that survives a weak ASR: the commands tiny.en mishears, put back at a phrase's end,
and the real words close to them kept (scripts/bench_dictate.py --punctuation measures both per voice)."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from assistant.core.paths import Paths
from assistant.turn.misheard import Restorer
from assistant.turn.shaping import Shaper

from ..espeak import MISSING, espeak, silence

pytestmark = pytest.mark.dictation


def typed(transcript: str) -> str:
    return Shaper().phrase(transcript).text


@pytest.mark.quick
def test_a_misheard_command_at_the_end_of_a_phrase_is_the_command() -> None:
    assert typed("The meeting moved to Thursday. Comment.") == "The meeting moved to Thursday,"
    assert typed("Call me when you land, come on.") == "Call me when you land,"
    assert typed("Send the report to the whole team. Periods.") == "Send the report to the whole team."
    assert typed("How long will the build take? Question marks.") == "How long will the build take?"
    assert typed("Call me when you land newline") == "Call me when you land\n"
    # Alone between two of Whisper's marks (a pause), inside the phrase too.
    assert typed("The meeting moved to Thursday. Comment. So please update it period") == (
        "The meeting moved to Thursday, So please update it."
    )
    shaper = Shaper()
    shaper.phrase("The meeting is on Monday.")
    assert shaper.phrase("Scratched that.").erase == len("The meeting is on Monday.")


@pytest.mark.quick
def test_real_words_close_to_a_command_stay_words() -> None:
    assert typed("I left a comment.") == "I left a comment."
    assert typed("Leave a comment on it.") == "Leave a comment on it."
    assert typed("No comment.") == "No comment."
    assert typed("Come on, let's go.") == "Come on, let's go."
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
    from assistant.config.settings import Config
    from assistant.turn.assistant import Assistant
    from assistant.turn.dictation import dictation_prompt
    from assistant.vram.meter import SimulatedMeter

    speech = espeak("The meeting moved to Thursday comma", "en-us", 130)

    async def main() -> str:
        assistant = Assistant.create(Config.load(xdg), SimulatedMeter(16.0), persist=False)
        try:
            clip = np.concatenate([silence(0.3), speech, silence(0.3)])
            return (await assistant.pipeline.transcribe(clip, assistant.models.asr, dictation_prompt(()))).text
        finally:
            await assistant.close()

    transcript = asyncio.run(main())
    assert typed(transcript) == "The meeting moved to Thursday,", transcript
