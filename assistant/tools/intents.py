"""Local intents: sentence templates with slots that answer the common commands without the LLM, in milliseconds.

A template is words, `(a|b)` alternatives, `[a|b]` optional ones and `{slot}`s, as in Home Assistant's hassil.
A sentence matches only when the whole of it fits a template and every slot parses ("ten minutes" as a
duration, "twelve times seven" as arithmetic): a sentence that is not a command goes on to the LLM.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Union

from assistant.tools.arithmetic import is_arithmetic
from assistant.tools.numbers import parse_duration, parse_number
from assistant.tools.reminders import parse_when

# ---------------------------------------------------------------- templates


@dataclass(frozen=True)
class Slot:
    name: str


@dataclass(frozen=True)
class Choice:
    options: tuple[tuple[Element, ...], ...]  # an empty option makes it optional


Element = Union[str, Slot, Choice]


def compile_template(template: str) -> tuple[Element, ...]:
    tokens = re.findall(r"[()\[\]|]|\{\w+\}|[^\s()\[\]|{}]+", template)
    elements, pos = _sequence(tokens, 0, ")]")
    if pos != len(tokens):
        raise ValueError(f"unbalanced template {template!r}")
    return elements


def _sequence(tokens: list[str], pos: int, stops: str) -> tuple[tuple[Element, ...], int]:
    out: list[Element] = []
    while pos < len(tokens) and not (tokens[pos] in stops or tokens[pos] == "|"):
        token = tokens[pos]
        if token in "([":
            close = ")" if token == "(" else "]"
            options: list[tuple[Element, ...]] = []
            pos += 1
            while True:
                option, pos = _sequence(tokens, pos, close)
                options.append(option)
                if pos >= len(tokens):
                    raise ValueError("unclosed group in template")
                if tokens[pos] == close:
                    pos += 1
                    break
                pos += 1  # "|"
            if close == "]":
                options.append(())
            out.append(Choice(tuple(options)))
        elif token.startswith("{"):
            out.append(Slot(token[1:-1]))
            pos += 1
        else:
            out.append(token)
            pos += 1
    return tuple(out), pos


def _match(
    elements: tuple[Element, ...], tokens: list[str], pos: int, slots: dict[str, Any], parsers: dict[str, SlotParser]
) -> Iterator[dict[str, Any]]:
    """Every way the elements fit tokens[pos:] to the end, with parsed slots (backtracking)."""
    if not elements:
        if pos == len(tokens):
            yield slots
        return
    head, rest = elements[0], elements[1:]
    if isinstance(head, str):
        if pos < len(tokens) and tokens[pos] == head:
            yield from _match(rest, tokens, pos + 1, slots, parsers)
    elif isinstance(head, Choice):
        for option in head.options:
            yield from _match(option + rest, tokens, pos, slots, parsers)
    else:
        # Shortest span first, so that a later slot ("tomorrow morning") gets the longest span that parses.
        for end in range(pos + 1, len(tokens) + 1):
            value = parsers[head.name](tokens[pos:end])
            if value is not None:
                yield from _match(rest, tokens, end, {**slots, head.name: value}, parsers)


# ---------------------------------------------------------------- slots

SlotParser = Callable[[list[str]], Any]
NOT_A_NAME = {"a", "an", "the", "my", "timer", "timers", "for", "to", "of", "and", "all", "is", "it", "me", "on", "in"}


def _label(tokens: list[str]) -> str | None:
    ok = 1 <= len(tokens) <= 3 and all(t.isalpha() and t not in NOT_A_NAME for t in tokens)
    return " ".join(tokens) if ok else None


def _place(tokens: list[str]) -> str | None:
    return " ".join(tokens) if 1 <= len(tokens) <= 4 and all(t.isalpha() for t in tokens) else None


def _duration(tokens: list[str]) -> float | None:
    return parse_duration(" ".join(tokens))


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


def _percent(tokens: list[str]) -> int | None:
    if tokens[-1:] in (["percent"], ["%"]):
        tokens = tokens[:-1]
    value = parse_number(tokens)
    return int(value) if value is not None and value.denominator == 1 and 0 <= value <= 100 else None


SLOTS: dict[str, SlotParser] = {
    "duration": _duration, "label": _label, "place": _place, "expression": _expression, "when": _when,
    "text": _text, "percent": _percent,
}

# ---------------------------------------------------------------- intents

Args = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class Intent:
    tool: str
    templates: tuple[str, ...]
    args: Args = lambda slots: dict(slots)
    compiled: tuple[tuple[Element, ...], ...] = field(default=(), compare=False)


def _intent(tool: str, templates: Iterable[str], args: Args = lambda slots: dict(slots)) -> Intent:
    templates = tuple(templates)
    return Intent(tool, templates, args, tuple(compile_template(t) for t in templates))


def _timer_args(slots: dict[str, Any]) -> dict[str, Any]:
    return {"duration_s": slots["duration"], **({"label": slots["label"]} if "label" in slots else {})}


MUSIC = "(music|song|track|playback|player|audio)"
TIMER = "[the|my] [{label}] timer"
INTENTS = (
    _intent("get_time", [
        "what time is it [(in|at) {place}]", "what is the [current] time [(in|at) {place}]",
        "(tell|give) me the time [in {place}]", "[the] [current] time in {place}", "what is the time like in {place}",
        "do you (know|have) the time", "what time is it there in {place}", "what hour is it [in {place}]",
    ]),
    _intent("get_date", [
        "what is [the] date [today]", "what is today's date", "what is todays date", "what day is (it|today)",
        "what is the date in {place}", "what day of the week is it", "(tell|give) me [the] date", "what is today",
        "which day is (it|today)",
    ]),
    _intent("start_timer", [
        "(set|start|make|create) [a|an|the] {duration} timer", "(set|start|make|create) [a|an] timer (for|of) {duration}",
        "(set|start|make|create) [a|an] {label} timer (for|of) {duration}",
        "(set|start|make|create) [a|an] timer (for|of) {duration} (for|called|named) [the] {label}",
        "(set|start|create) [a|an] timer {duration}", "timer (for|of) {duration}", "{duration} timer",
        "(count down|countdown) [from] {duration}", "(wake|alert|tell) me in {duration}",
    ], _timer_args),
    _intent("cancel_timer", [
        f"(cancel|stop|delete|remove|clear|end|turn off) {TIMER}", "(cancel|stop|delete|remove) [the|my] {duration} timer",
    ], lambda s: {"label": s["label"]} if "label" in s else {"label": f"{s['duration']:g} seconds"} if s else {}),
    _intent("cancel_timer", [
        "(cancel|stop|delete|remove|clear) all [of] [the|my] timers", "(cancel|stop|delete|remove) [the|my] timers",
    ], lambda s: {"all": True}),
    _intent("list_timers", [
        f"how (much|long) [time] [is] (left|remaining) on {TIMER}", "how (much|long) [time] [is] (left|remaining)",
        f"how much longer (on|for) {TIMER}", f"how long until {TIMER} (goes off|rings|is done)",
        "what timers (do i have|are (set|running|on))", "(list|show) [me] [all] [the|my] timers", "[what are] my timers",
        "(do i have|are there) any timers [running|set]", f"time left on {TIMER}", f"check {TIMER}",
    ], lambda s: {"label": s["label"]} if "label" in s else {}),
    _intent("add_reminder", [
        "remind me to {text} {when}", "remind me {when} to {text}", "remind me (about|of) {text} {when}",
        "(set|create|add|make) [a] reminder to {text} {when}", "(set|create|add|make) [a] reminder {when} to {text}",
        "(set|create|add|make) [a] reminder (for|about) {text} {when}",
    ]),
    _intent("list_reminders", [
        "what reminders do i have", "(list|show) [me] [all] [the|my] reminders", "[what are] my reminders",
        "(do i have|are there) any reminders", "which reminders (do i have|are set)",
    ]),
    # One reminder, named or not: with several and no words to pick one, the tool asks which.
    _intent("cancel_reminder", ["(cancel|delete|remove|clear) [the|my] reminder [to {text}]"],
            lambda s: {"text": s["text"]} if "text" in s else {}),
    _intent("cancel_reminder", ["(cancel|delete|remove|clear) all [of] [the|my] reminders"], lambda s: {"all": True}),
    _intent("calculate", [
        "what is {expression}", "(calculate|compute|work out) {expression}", "how much is {expression}",
        "what does {expression} (equal|make|come to)", "{expression} equals", "{expression}",
    ], lambda s: {"expression": s["expression"]}),
    _intent("media_control", [f"(pause|stop) [the] {MUSIC}", "pause", "pause [it|this|playback]"],
            lambda s: {"action": "pause"}),
    _intent("media_control", [f"(play|resume|start|unpause) [the] {MUSIC}", "(resume|unpause) [it|playback]",
                              "play [some] music", "continue playing", "play", "resume"], lambda s: {"action": "play"}),
    _intent("media_control", [f"(next|skip) [the|this] [{MUSIC}]", f"skip to the next {MUSIC}", f"play the next {MUSIC}",
                              "skip [it|this]"], lambda s: {"action": "next"}),
    _intent("media_control", [f"(previous|last) {MUSIC}", f"(go back|back) [to the previous|a] {MUSIC}",
                              f"play the (previous|last) {MUSIC}"], lambda s: {"action": "previous"}),
    _intent("now_playing", [f"what {MUSIC} is (this|playing)", "what is playing [now]", "what is this song",
                            f"what is the name of this {MUSIC}", "who is (this|singing)", "what am i listening to"]),
    _intent("set_volume", ["(turn|crank) (it|the volume|the sound) up", "(turn|crank) up the (volume|sound)",
                           "volume up", "(increase|raise) the volume", "louder", "make it louder", "(speak|talk) louder"],
            lambda s: {"action": "up"}),
    _intent("set_volume", ["turn (it|the volume|the sound) down", "turn down the (volume|sound)", "volume down",
                           "(decrease|lower|reduce) the volume", "quieter", "make it quieter", "softer"],
            lambda s: {"action": "down"}),
    _intent("set_volume", ["mute [the] [sound|volume|audio|speakers]", "be quiet"], lambda s: {"action": "mute"}),
    _intent("set_volume", ["unmute [the] [sound|volume|audio|speakers]"], lambda s: {"action": "unmute"}),
    _intent("set_volume", ["(set|change|put) the volume to {percent}", "volume [to] {percent}",
                           "turn the volume (to|up to|down to) {percent}"],
            lambda s: {"action": "set", "percent": s["percent"]}),
)

# ---------------------------------------------------------------- the matcher

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


@dataclass(frozen=True)
class IntentMatch:
    tool: str
    arguments: dict[str, Any]
    template: str


class Matcher:
    def __init__(self, intents: Iterable[Intent] = INTENTS, slots: dict[str, SlotParser] | None = None) -> None:
        self.intents = tuple(intents)
        self.slots = slots or SLOTS

    def match(self, sentence: str, tools: Iterable[str] | None = None) -> IntentMatch | None:
        """The first intent whose template takes the whole sentence (only among `tools`, when given)."""
        allowed = set(tools) if tools is not None else None
        for tokens in _strip(normalize(sentence)):
            if not tokens or len(tokens) > 40:
                continue
            for intent in self.intents:
                if allowed is not None and intent.tool not in allowed:
                    continue
                for template, compiled in zip(intent.templates, intent.compiled):
                    for slots in _match(compiled, tokens, 0, {}, self.slots):
                        return IntentMatch(intent.tool, intent.args(slots), template)
        return None
