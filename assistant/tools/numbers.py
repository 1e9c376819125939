"""Numbers and durations in words, both ways: "an hour and a half" → 5400 s, and 84 → "eighty-four" for the voice (unicode-rbnf)."""

from __future__ import annotations

import functools
import re
from fractions import Fraction
from typing import Any

UNITS = {
    "zero": 0, "oh": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9,
}
TEENS = {
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
    "seventeen": 17, "eighteen": 18, "nineteen": 19,
}
TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
SCALES = {"thousand": 1000, "million": 1_000_000, "billion": 1_000_000_000}
# Whole phrases that are a number on their own ("half an hour", "a quarter of an hour", "a couple of minutes").
FRACTIONS = {
    ("half",): Fraction(1, 2), ("a", "half"): Fraction(1, 2), ("half", "a"): Fraction(1, 2),
    ("half", "an"): Fraction(1, 2), ("quarter",): Fraction(1, 4), ("a", "quarter"): Fraction(1, 4),
    ("three", "quarters"): Fraction(3, 4), ("a", "couple"): Fraction(2), ("couple",): Fraction(2),
    ("a",): Fraction(1), ("an",): Fraction(1), ("single",): Fraction(1), ("a", "single"): Fraction(1),
    ("a", "dozen"): Fraction(12), ("dozen",): Fraction(12),
}
DURATION_UNITS = {
    "second": 1, "seconds": 1, "sec": 1, "secs": 1,
    "minute": 60, "minutes": 60, "min": 60, "mins": 60,
    "hour": 3600, "hours": 3600, "hr": 3600, "hrs": 3600,
}
_DECIMAL = re.compile(r"^\d+(\.\d+)?$")


def words(text: str) -> list[str]:
    """Lowercase tokens: hyphens and commas inside numbers dropped ("twenty-five", "1,000" → "1000")."""
    text = re.sub(r"(?<=\d),(?=\d{3})", "", text.lower())
    text = re.sub(r"(?<=[a-z])-(?=[a-z])", " ", text)
    return re.findall(r"\d+(?:\.\d+)?|[a-z']+", text)


def parse_number(tokens: list[str]) -> Fraction | None:
    """The number these tokens say exactly, or None: "twenty five", "one hundred and five", "2.5", "one and a half"."""
    if not tokens:
        return None
    if tokens[-2:] in (["of", "a"], ["of", "an"]):  # "a quarter of an (hour)", "a couple of (minutes)"
        tokens = tokens[:-2]
    elif tokens[-1:] == ["of"]:
        tokens = tokens[:-1]
    if tuple(tokens) in FRACTIONS:
        return FRACTIONS[tuple(tokens)]
    for joiner, fraction in ((["and", "a", "half"], Fraction(1, 2)), (["and", "a", "quarter"], Fraction(1, 4))):
        if len(tokens) > 3 and tokens[-3:] == joiner:
            whole = parse_number(tokens[:-3])
            return None if whole is None else whole + fraction
    if len(tokens) == 1 and _DECIMAL.match(tokens[0]):
        return Fraction(tokens[0])
    if "point" in tokens:
        at = tokens.index("point")
        whole = parse_number(tokens[:at]) if at else Fraction(0)
        digits = [UNITS.get(t) if t in UNITS else (int(t) if t.isdigit() and len(t) == 1 else None) for t in tokens[at + 1 :]]
        if whole is None or not digits or any(d is None for d in digits):
            return None
        return whole + Fraction("0." + "".join(str(d) for d in digits))
    return _whole_number(tokens)


def _whole_number(tokens: list[str]) -> Fraction | None:
    total, current = 0, 0
    last = ""  # what the previous token was: unit, teen, tens, hundred, scale, and
    for token in tokens:
        if token in UNITS and token != "oh":
            if last in ("unit", "teen"):
                return None  # "five six" is two numbers, not eleven
            current += UNITS[token]
            last = "unit"
        elif token in TEENS:
            if last in ("unit", "teen", "tens"):
                return None
            current += TEENS[token]
            last = "teen"
        elif token in TENS:
            if last in ("unit", "teen", "tens"):
                return None
            current += TENS[token]
            last = "tens"
        elif token == "hundred":
            if last not in ("", "unit", "teen", "tens") or current % 100 == 0 and current:
                return None
            current = (current or 1) * 100
            last = "hundred"
        elif token in SCALES:
            if last == "and":
                return None
            total += (current or 1) * SCALES[token]
            current = 0
            last = "scale"
        elif token == "and" and last in ("hundred", "scale"):
            last = "and"
        elif token.isdigit() and last == "":
            current = int(token)
            last = "teen"  # a digit string takes no unit after it
        else:
            return None
    if last in ("", "and"):
        return None
    return Fraction(total + current)


def parse_duration(text: str) -> float | None:
    """Seconds in a spoken duration ("ninety seconds", "an hour and a half", "1 hour 20 minutes"), or None.

    Every word must be part of the duration: "ten minutes ago" is not one.
    """
    tokens = [t for t in words(text) if t not in ("for",)]
    total = Fraction(0)
    pos = 0
    found = False
    while pos < len(tokens):
        if tokens[pos] == "and" and found:
            pos += 1
            continue
        unit_at = next((i for i in range(pos, len(tokens)) if tokens[i] in DURATION_UNITS), None)
        if unit_at is None or unit_at == pos:
            return None
        amount = parse_number(tokens[pos:unit_at])
        if amount is None:
            return None
        unit = DURATION_UNITS[tokens[unit_at]]
        total += amount * unit
        pos = unit_at + 1
        found = True
        if tokens[pos : pos + 3] == ["and", "a", "half"]:  # "an hour and a half"
            total += Fraction(unit, 2)
            pos += 3
        elif tokens[pos : pos + 3] == ["and", "a", "quarter"]:
            total += Fraction(unit, 4)
            pos += 3
    if not found or total <= 0:
        return None
    return float(total)


# ---------------------------------------------------------------- numbers to words (for the voice)
# unicode-rbnf (CLDR's spell-out rules, as hassil uses them) says the numbers; only reading them from
# words is ours, above, because no library parses "an hour and a half" or "one hundred and five".


@functools.cache
def _english() -> Any:
    from unicode_rbnf import RbnfEngine

    return RbnfEngine.for_language("en")


def integer_words(n: int) -> str:
    """84 → "eighty-four", 1005 → "one thousand five"."""
    return str(_english().format_number(n).text)


def ordinal_words(n: int) -> str:
    """27 → "twenty-seventh"."""
    from unicode_rbnf import FormatPurpose

    return str(_english().format_number(n, purpose=FormatPurpose.ORDINAL).text)


def year_words(year: int) -> str:
    """2026 → "twenty twenty-six", as years are said."""
    from unicode_rbnf import FormatPurpose

    return str(_english().format_number(year, purpose=FormatPurpose.YEAR).text)


_TIME = re.compile(r"\b(\d{1,2}):(\d{2})\b")
_MONTH_DAY = re.compile(
    r"\b(January|February|March|April|May|June|July|August|September|October|November|December) (\d{1,2})\b"
    r"(?:, (\d{4})\b)?"
)
_NUMBER = re.compile(r"(?<![\w.])(-?)(\d+)(?:\.(\d+))?(%?)")


def spoken(text: str) -> str:
    """Digits read out in words, for the voice: "It's 10:06 PM" → "It's ten oh six PM"; the text keeps digits."""

    def clock(match: re.Match[str]) -> str:
        hour, minute = int(match[1]), int(match[2])
        if minute == 0:
            return f"{integer_words(hour)} o'clock" if not re.match(r"\s*[AP]M", text[match.end() :]) else integer_words(hour)
        return f"{integer_words(hour)} {'oh ' if minute < 10 else ''}{integer_words(minute)}"

    def number(match: re.Match[str]) -> str:
        sign, whole, decimals, percent = match[1], match[2], match[3], match[4]
        said = integer_words(int(whole))
        if decimals:
            said += " point " + " ".join(integer_words(int(d)) for d in decimals)
        return ("minus " if sign else "") + said + (" percent" if percent else "")

    text = _TIME.sub(clock, text)
    text = _MONTH_DAY.sub(lambda m: f"{m[1]} {ordinal_words(int(m[2]))}" + (f", {year_words(int(m[3]))}" if m[3] else ""), text)
    return _NUMBER.sub(number, text)
