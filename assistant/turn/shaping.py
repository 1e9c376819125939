"""Dictated words into text worth typing: spoken punctuation, "scratch that", replacements, and the
capitals and spaces that continue what the previous phrase typed.

Pure text in, an `Edit` out (characters to erase, then text to type), so it is tested without a desktop.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from assistant.keyboard.typing import Edit
from assistant.turn.misheard import Restorer

# Said as words, typed as marks. Whisper writes "comma" as a word, or already as "," (and often adds its
# own punctuation around the word): the command swallows the punctuation next to it.
MARKS = {
    "new paragraph": "\n\n",
    "new line": "\n",
    "full stop": ".",
    "period": ".",
    "comma": ",",
    "question mark": "?",
    "exclamation mark": "!",
    "exclamation point": "!",
    "semicolon": ";",
    "colon": ":",
}
# The commands that are also nouns at a sentence's end ("a long period", "a new line", "a comma"): after a
# word that starts a noun phrase they stay words. Not "question mark" or "new paragraph": said after "the"
# they were the commands, the ASR having lost the noun before them ("park the [car] question mark").
NOUNS = frozenset({"period", "comma", "new line", "full stop", "colon"})
_PUNCT = r"[\s,.;:!?]*"
_COMMAND = re.compile(
    _PUNCT + r"\b(" + "|".join(re.escape(k).replace(r"\ ", r"\s+") for k in MARKS) + r")\b" + _PUNCT, re.IGNORECASE
)
_SCRATCH = re.compile(r"\bscratch\s+that\b[\s,.;:!?]*", re.IGNORECASE)
SENTENCE_END = (".", "!", "?", "\n")


class Shaper:
    """One dictation's phrases, each shaped to continue the text the earlier ones typed."""

    def __init__(self, replace: Mapping[str, str] | None = None, restore: Restorer | None = None) -> None:
        self._restore = restore or Restorer()  # the ASR's usual mishearings of the commands, at a phrase end
        self._replace = [
            (re.compile(r"\b" + re.escape(spoken) + r"\b", re.IGNORECASE), written)
            for spoken, written in sorted((replace or {}).items(), key=lambda kv: -len(kv[0]))
        ]
        self._phrases: list[str] = []  # what each phrase typed, for "scratch that"

    @property
    def typed(self) -> str:
        return "".join(self._phrases)

    def phrase(self, transcript: str) -> Edit:
        """The edit for one more phrase of the dictation."""
        erase = 0
        words = self._restore(" ".join(transcript.split()))
        scratches = list(_SCRATCH.finditer(words))
        if scratches:
            before = words[: scratches[-1].start()]
            words = words[scratches[-1].end() :]
            if not before.strip(" ,.;:!?") and self._phrases:
                erase = len(self._phrases.pop())  # "scratch that" alone: the previous phrase goes
        text = self._marks(words, self._restore)
        for pattern, written in self._replace:
            text = pattern.sub(written, text)
        text = self._continue(text)
        if text:
            self._phrases.append(text)
        return Edit(erase, text)

    @staticmethod
    def _marks(words: str, restore: Restorer) -> str:
        parts: list[str] = []
        done = 0
        for match in _COMMAND.finditer(words):
            command = " ".join(match.group(1).lower().split())
            said = match.group(0)[: match.start(1) - match.start()]
            if command in NOUNS and not re.search(r"[,.;:!?]", said) and restore.names_a_thing(words[: match.start()]):
                continue  # "a long period", "a new line": the word itself
            # The command swallows the punctuation Whisper put around it (and a space a kept word left).
            parts += [words[done : match.start()].rstrip(" ,.;:!?"), MARKS[command]]
            parts += [] if MARKS[command].startswith("\n") else [" "]
            done = match.end()
        text = "".join(parts) + words[done:]
        text = re.sub(r" +\n", "\n", text)
        text = re.sub(r"\n +", "\n", text)
        # A sentence the user ended out loud ("period", "new line") starts with a capital, as Whisper's own do.
        text = re.sub(r"([.!?] |\n)([^\W\d_])", lambda m: m.group(1) + m.group(2).upper(), text)
        return text.rstrip(" ")

    def _continue(self, text: str) -> str:
        if not text:
            return ""
        before = self.typed
        starts_sentence = not before or before.endswith(SENTENCE_END) or before.rstrip(" ").endswith(SENTENCE_END)
        first = re.search(r"[^\W\d_]", text)
        if first is not None and text[: first.start()].strip(" \n") == "":
            word = re.match(r"[\w']+", text[first.start() :])
            token = word.group(0) if word else ""
            if starts_sentence:
                text = text[: first.start()] + text[first.start()].upper() + text[first.start() + 1 :]
            elif token not in ("I", "I'm", "I'll", "I've", "I'd") and not token.isupper():
                # Whisper starts every phrase with a capital; mid-sentence the next phrase continues it.
                text = text[: first.start()] + text[first.start()].lower() + text[first.start() + 1 :]
        if before and not before.endswith((" ", "\n")) and not text.startswith((" ", "\n", ",", ".", ";", ":", "!", "?")):
            text = " " + text
        return text
