"""Local intents: our builtin commands, matched without the LLM, in milliseconds, by hassil (Home Assistant's parser).

The sentences are data, in hassil's format (sentences/en.yaml): words, `(a|b)` alternatives, `[a|b]`
optional ones, `{slot}`s and `<rules>`. A sentence matches only when the whole of it fits one and every
wildcard slot parses ("ten minutes" as a duration, "twelve times seven" as arithmetic, "tomorrow
morning" as a time): a sentence that is not a command goes on to the LLM. Reading the slots stays here,
because no library reads "an hour and a half" or "the square root of two" (hassil's number lists read
whole numbers in a range, which is what the volume's percent uses).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from assistant.tools.arithmetic import is_arithmetic
from assistant.tools.numbers import parse_duration
from assistant.tools.reminders import parse_when

if TYPE_CHECKING:
    from hassil import RecognizeResult

SENTENCES = Path(__file__).with_name("sentences")

# ---------------------------------------------------------------- the wildcard slots, read after a match

# A slot's value as a tool takes it: words (a name, a place, a time said), a number, a yes or no.
SlotValue = str | int | float | bool
# A slot's reading of its words: its value, or the arguments it gives (a reminder's task and time);
# None: the words are not such a slot, so this match does not count.
SlotParser = Callable[[list[str]], SlotValue | Mapping[str, SlotValue] | None]
NOT_A_NAME = {"a", "an", "the", "my", "timer", "timers", "for", "to", "of", "and", "all", "is", "it", "me", "on", "in"}


def _label(tokens: list[str]) -> str | None:
    ok = 1 <= len(tokens) <= 3 and all(t.isalpha() and t not in NOT_A_NAME for t in tokens)
    return " ".join(tokens) if ok else None


def _place(tokens: list[str]) -> str | None:
    return " ".join(tokens) if 1 <= len(tokens) <= 4 and all(t.isalpha() for t in tokens) else None


def _duration(tokens: list[str]) -> Mapping[str, SlotValue] | None:
    seconds = parse_duration(" ".join(tokens))
    return None if seconds is None else {"duration_s": seconds}


def _timer_length(tokens: list[str]) -> Mapping[str, SlotValue] | None:
    """A timer named by its length ("cancel the ten minute timer"): the label the timers tool gave it."""
    seconds = parse_duration(" ".join(tokens))
    return None if seconds is None else {"label": f"{seconds:g} seconds"}


def _expression(tokens: list[str]) -> str | None:
    text = " ".join(tokens)
    return text if is_arithmetic(text) else None


def _when(tokens: list[str]) -> str | None:
    import datetime as dt

    text = " ".join(tokens)
    # Any fixed moment will do to tell whether it parses; the tool works out the real time when it runs.
    moment = dt.datetime(2000, 1, 3, 12, 0, tzinfo=dt.timezone.utc)
    return text if parse_when(text, moment) is not None or parse_when(text, moment.replace(hour=1)) else None


def _text(tokens: list[str]) -> str | None:
    return " ".join(tokens) if tokens and tokens[0] not in ("to", "about", "me") else None


def _reminder(tokens: list[str]) -> Mapping[str, SlotValue] | None:
    """The task and then its time, as one wildcard (hassil cannot split two in a row): the shortest task
    whose rest is a time, so "call my mother tomorrow morning" is ("call my mother", "tomorrow morning")."""
    for cut in range(1, len(tokens)):
        text, when = _text(tokens[:cut]), _when(tokens[cut:])
        if text is not None and when is not None:
            return {"text": text, "when": when}
    return None


# By slot name (sentences/en.yaml): a value is the argument of that name; a mapping gives the arguments it names.
SLOTS: dict[str, SlotParser] = {
    "duration": _duration, "timer_length": _timer_length, "label": _label, "place": _place,
    "expression": _expression, "when": _when, "text": _text, "reminder": _reminder,
}

# ---------------------------------------------------------------- what a sentence is before matching

PREFIXES = (
    ("hey",), ("ok",), ("okay",), ("so",), ("um",), ("uh",), ("please",), ("can", "you"), ("could", "you"),
    ("would", "you"), ("will", "you"), ("i", "want", "you", "to"), ("i'd", "like", "you", "to"), ("just",),
    ("can", "you", "tell", "me"), ("could", "you", "tell", "me"), ("do", "you", "know"), ("tell", "me"),
    ("quick", "question"),
)
SUFFIXES = (("please",), ("thanks",), ("thank", "you"), ("for", "me"), ("right", "now"), ("now",), ("today",))
CONTRACTIONS = {"what's": "what is", "whats": "what is", "it's": "it is", "that's": "that is", "i'm": "i am",
                "who's": "who is", "how's": "how is", "there's": "there is", "'til": "until", "till": "until"}


def normalize(sentence: str) -> list[str]:
    """Lowercase tokens without punctuation; numbers, times, symbols and contractions kept or expanded."""
    text = sentence.lower().replace("’", "'")
    text = re.sub(r"(?<=[a-z])-(?=[a-z])", " ", text)
    text = re.sub(r"(?<=\d),(?=\d{3})", "", text)
    tokens = re.findall(r"\d+(?:[.:]\d+)?|[a-z][a-z']*|[-+*/×÷^%()]", text)
    out: list[str] = []
    for token in tokens:
        token = token.strip("'")
        out.extend(CONTRACTIONS.get(token, token).split())
    return out


def _strip(tokens: list[str]) -> Iterator[list[str]]:
    """The sentence without politeness at either end ("could you", "please"), then as said."""
    trimmed = list(tokens)
    changed = True
    while changed:
        changed = False
        for prefix in sorted(PREFIXES, key=len, reverse=True):
            if len(trimmed) > len(prefix) and tuple(trimmed[: len(prefix)]) == prefix:
                trimmed, changed = trimmed[len(prefix) :], True
        for suffix in SUFFIXES:
            if len(trimmed) > len(suffix) and tuple(trimmed[-len(suffix) :]) == suffix:
                trimmed, changed = trimmed[: -len(suffix)], True
    # Trimmed first: "what time is it in Tokyo right now" must not take "tokyo right now" as the place.
    yield trimmed
    if trimmed != tokens:
        yield tokens


# ---------------------------------------------------------------- the matcher


@dataclass(frozen=True)
class IntentMatch:
    tool: str
    arguments: dict[str, SlotValue]
    template: str


class Matcher:
    """Our sentences in one language, loaded and indexed once."""

    def __init__(self, language: str = "en", slots: dict[str, SlotParser] | None = None) -> None:
        import yaml
        from hassil import Intents

        with (SENTENCES / f"{language}.yaml").open(encoding="utf-8") as text:
            self._intents = Intents.from_dict(yaml.safe_load(text))
        self.slots = slots or SLOTS
        # Where two sentences fit, the one written first wins: the order of the file is its priority.
        self._rank = {
            id(sentence): rank
            for rank, sentence in enumerate(
                sentence for intent in self._intents.intents.values() for data in intent.data for sentence in data.sentences
            )
        }
        # hassil compiles its patterns at the first match, and spells out a number list's words at the
        # first use: both at start, not in the user's first turn.
        self.match("volume to fifty percent")

    def tools(self) -> list[str]:
        return list(self._intents.intents)

    def match(self, sentence: str, tools: Iterable[str] | None = None) -> IntentMatch | None:
        """The first intent whose sentence takes the whole of `sentence` (only among `tools`, when given)."""
        from hassil import recognize_all

        allowed = set(tools) if tools is not None else None
        for tokens in _strip(normalize(sentence)):
            if not tokens or len(tokens) > 40:
                continue
            found: list[tuple[int, IntentMatch]] = []
            for result in recognize_all(" ".join(tokens), self._intents):
                if allowed is not None and result.intent.name not in allowed:
                    continue
                arguments = self._arguments(result)
                if arguments is not None:
                    template = (result.intent_sentence.text or "") if result.intent_sentence is not None else ""
                    rank = self._rank.get(id(result.intent_sentence), len(self._rank))
                    found.append((rank, IntentMatch(result.intent.name, arguments, template)))
            if found:
                return min(found, key=lambda pair: pair[0])[1]
        return None

    def _arguments(self, result: RecognizeResult) -> dict[str, SlotValue] | None:
        """The tool's arguments from a match: fixed slots as written, wildcards read; None if one does not read."""
        arguments: dict[str, SlotValue] = {}
        for name, entity in result.entities.items():
            parser = self.slots.get(name) if entity.is_wildcard else None
            if parser is None:
                arguments[name] = entity.value
                continue
            value = parser(normalize(str(entity.value)))
            if value is None:
                return None
            if isinstance(value, Mapping):
                arguments.update(value)
            else:
                arguments[name] = value
        return arguments

