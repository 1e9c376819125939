"""Spoken commands the ASR misheard, put back where a user says them: at the end of a phrase.

whisper tiny.en writes "comma" as "comment", "comers" or "karma", and "scratch that" as "scratch mark" or
"crash mat", for voices it was not tuned on, even with the commands in its prompt (scripts/bench_dictate.py
--punctuation measures it per voice). Those are real words, so a mishearing is taken for the command only
where the command is said: the last words of a phrase (the key went up, or the user paused and the phrase
was committed), or a sentence of its own that Whisper wrote between two marks (its sign of a pause). And
never after a word that starts a noun phrase ("a comment", "no comment"): there it is the word meant.

The table is small on purpose, each entry seen in the measurements; a guess here turns words into marks.
"""

from __future__ import annotations

import re

# What tiny.en wrote for each command at a phrase's end, as regular expressions (a space: any spaces or commas
# between the words), from scripts/bench_dictate.py --punctuation (its 4 sentences x 4 voices x 3 prompts,
# 2026-12-04; --held-out checks them on other sentences and voices). Left out, though heard: "here" and "beer" for "period", "crash now" and "crash not" for
# "scratch that" (real words at a sentence's end, and scratch erases), and a bare "scratch" ("from scratch").
MISHEARD: dict[str, tuple[str, ...]] = {
    "comma": ("comments?", "comers", "karma"),
    "scratch that": ("scratch (?:that|mark|mat|match|met|now|not)", "crash (?:that|mark|matt?)"),
}

# A command never follows these: after them the word is a noun the user meant ("a comment", "the period",
# "no comment", "a long period"). Not "that", "her", "one": they also end a clause ("I said that period").
NOUN_BEFORE = frozenset(
    "a an the my your his its our their no any each every another long short whole same trial grace waiting".split()
)
_MARKS = r"[\s,.;:!?]*"


def _heard(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern.replace(" ", r"[\s,]+"), re.IGNORECASE)


class Restorer:
    """Rewrites a phrase's misheard commands (`heard`: command → what the ASR wrote) into the commands;
    `nouns`: the words after which a command's word is the noun itself."""

    def __init__(self, heard: dict[str, tuple[str, ...]] | None = None, nouns: frozenset[str] = NOUN_BEFORE) -> None:
        heard = MISHEARD if heard is None else heard
        self._nouns = nouns
        self._command = [(_heard(w), command) for command, words in heard.items() for w in words]
        words = "|".join(f"(?:{pattern.pattern})" for pattern, _ in self._command)
        # The phrase's last words, or a sentence of its own between two of Whisper's marks.
        self._at_end = re.compile(r"(?:^|(?<=[\s,.;:!?]))(" + words + r")" + _MARKS + r"$", re.IGNORECASE) if words else None
        self._alone = re.compile(r"(?<=[,.;:!?] )(" + words + r")(?=[,.;:!?])", re.IGNORECASE) if words else None

    def __call__(self, words: str) -> str:
        if self._at_end is None or self._alone is None:
            return words
        words = self._alone.sub(lambda m: self._replace(m, words), words)
        return self._at_end.sub(lambda m: self._replace(m, words), words, count=1)

    def _replace(self, match: re.Match[str], words: str) -> str:
        if self.names_a_thing(words[: match.start()]):
            return match.group(0)
        command = next(c for pattern, c in self._command if pattern.fullmatch(match.group(1)))
        return command + match.group(0)[len(match.group(1)) :]

    def names_a_thing(self, before: str) -> bool:
        """Whether a command's word after `before` is the noun itself ("a comment", "a long period"):
        `before` ends in a word that starts a noun phrase."""
        word = re.search(r"([\w']+)\s*$", before)
        return word is not None and word.group(1).lower() in self._nouns

    @classmethod
    def off(cls) -> Restorer:
        """The commands as heard, nothing restored and no word kept: the shaping before issue 36 (benchmarks)."""
        return cls({}, frozenset())

