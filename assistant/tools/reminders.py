"""Reminders: "remind me to call my mother tomorrow morning", kept and fired by the daemon's alarms like timers."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from assistant.core.records import CancelledAlarms
from assistant.tools.alarms import Alarm, Alarms
from assistant.tools.clock import clock_time
from assistant.tools.numbers import parse_duration, parse_number, words
from assistant.tools.registry import NoArguments, Tool, ToolResult, builtin_tool
from assistant.tools.timers import NOT_RUNNING, lateness

WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
# Hours for the parts of a day; the morning's comes from config.toml ([tools] morning_hour).
DAY_PARTS = {"afternoon": 15, "evening": 18, "night": 21}
AM = (["am"], ["a", "m"], ["in", "the", "morning"])
PM = (["pm"], ["p", "m"], ["in", "the", "afternoon"], ["in", "the", "evening"], ["at", "night"], ["tonight"])


@dataclass(frozen=True)
class NewReminder:
    text: str  # what to remind of, as the user said it ("call my mother")
    when: str  # in words ("tomorrow morning") or ISO 8601


@dataclass(frozen=True)
class ReminderChoice:
    """Which reminders to cancel: by id, by words from the text, or all; none of them: the only one."""

    id: str = ""
    text: str = ""
    all: bool = False


ABOUT_WHAT = "What should I remind you about?"
WHEN = 'When should I remind you? Say a time like "at 5 pm" or "in two hours".'


def _take(tokens: list[str], pos: int, options: tuple[list[str], ...]) -> int:
    """How many tokens at pos match one of options (0 if none)."""
    for option in options:
        if tokens[pos : pos + len(option)] == option:
            return len(option)
    return 0


def _clock(tokens: list[str]) -> tuple[int, int, str] | None:
    """(hour, minute, "am"|"pm"|"") from "5", "5 30 pm", "five thirty", "half past five", "noon", "17 00"."""
    meridiem = ""
    for marks, name in ((AM, "am"), (PM, "pm")):
        for mark in marks:
            if len(tokens) > len(mark) and tokens[-len(mark) :] == mark:
                tokens, meridiem = tokens[: -len(mark)], name
                break
    if tokens[-1:] == ["o'clock"]:
        tokens = tokens[:-1]
    if tokens in (["noon"], ["midday"]):
        return 12, 0, "pm"
    if tokens == ["midnight"]:
        return 0, 0, "am"
    for head, minutes in ((["half", "past"], 30), (["quarter", "past"], 15), (["a", "quarter", "past"], 15)):
        if tokens[: len(head)] == head:
            hour = parse_number(tokens[len(head) :])
            return None if hour is None or hour.denominator != 1 else (int(hour), minutes, meridiem)
    for head in (["quarter", "to"], ["a", "quarter", "to"]):
        if tokens[: len(head)] == head:
            hour = parse_number(tokens[len(head) :])
            return None if hour is None or hour.denominator != 1 else ((int(hour) - 1) % 24, 45, meridiem)
    if not tokens:
        return None
    hour = parse_number(tokens[:1])
    rest = tokens[1:]
    if rest[:1] == ["oh"]:
        rest = rest[1:]
    minute = parse_number(rest) if rest else 0
    if hour is None or minute is None or hour.denominator != 1 or minute.denominator != 1:
        return None
    if not (0 <= hour <= 23 and 0 <= minute <= 59) or (meridiem and not 1 <= hour <= 12):
        return None
    return int(hour), int(minute), meridiem


def parse_when(phrase: str, now: dt.datetime, morning_hour: int = 8) -> dt.datetime | None:
    """When a spoken time phrase means, after `now` (aware): "in two hours", "at 5 pm", "tomorrow morning", "on Monday"."""
    tokens = words(phrase)
    if not tokens:
        return None
    if tokens[0] == "in" and (seconds := parse_duration(" ".join(tokens[1:]))) is not None:
        return now + dt.timedelta(seconds=seconds)
    day: dt.date | None = None
    part: int | None = None
    clock: tuple[int, int, str] | None = None
    pos = 0
    while pos < len(tokens):
        token = tokens[pos]
        if token in ("today", "tonight") and day is None:
            day = now.date()
            part = DAY_PARTS["night"] if token == "tonight" and part is None else part
            pos += 1
        elif token == "tomorrow" and day is None:
            day, pos = now.date() + dt.timedelta(days=1), pos + 1
        elif token in ("on", "next", "this") and day is None and tokens[pos + 1 : pos + 2] and tokens[pos + 1] in WEEKDAYS:
            pos += 1  # "on Monday", "next Monday": the weekday follows
        elif token in WEEKDAYS and day is None:
            ahead = (WEEKDAYS.index(token) - now.weekday()) % 7 or 7
            day, pos = now.date() + dt.timedelta(days=ahead), pos + 1
        elif (n := _take(tokens, pos, (["this"], ["in", "the"]))) and tokens[pos + n : pos + n + 1] and (
            tokens[pos + n] in (*DAY_PARTS, "morning")
        ):
            if token == "this" and day is None:
                day = now.date()  # "this morning" said in the afternoon is past, not tomorrow's
            pos += n
        elif token == "morning" and part is None and clock is None:
            part, pos = morning_hour, pos + 1
        elif token in DAY_PARTS and part is None and clock is None:
            part, pos = DAY_PARTS[token], pos + 1
        elif token == "at" and clock is None:
            end = pos + 1
            # The clock runs up to the next day word: "at 5 pm tomorrow".
            while end < len(tokens) and tokens[end] not in ("today", "tomorrow", "tonight", "on", *WEEKDAYS):
                end += 1
            clock = _clock(tokens[pos + 1 : end])
            if clock is None:
                return None
            pos = end
        else:
            return None
    if day is None and part is None and clock is None:
        return None
    hour, minute = (part if part is not None else morning_hour), 0
    if clock is not None:
        hour, minute, meridiem = clock
        if meridiem == "pm" and hour < 12:
            hour += 12
        elif meridiem == "am" and hour == 12:
            hour = 0
        elif not meridiem and part is not None and part >= 12 and hour < 12:
            hour += 12  # "tomorrow evening at 7"
        elif not meridiem and hour < 12 and day is not None and day != now.date() and hour <= 6:
            hour += 12  # "tomorrow at 5": five in the afternoon, not before dawn
    when = dt.datetime.combine(day or now.date(), dt.time(hour, minute), tzinfo=now.tzinfo)
    if when <= now and day is None:
        if clock is not None and not clock[2] and hour < 12 and when + dt.timedelta(hours=12) > now:
            when += dt.timedelta(hours=12)  # "at 5" said at 3 pm: this afternoon
        else:
            when += dt.timedelta(days=1)
    return when if when > now else None


def when_words(when: dt.datetime, now: dt.datetime) -> str:
    """ "at 8:00 AM tomorrow", "at 5:00 PM on Monday" (digits: the voice reads them out)."""
    days = (when.date() - now.date()).days
    day = "today" if days == 0 else "tomorrow" if days == 1 else f"on {when:%A}" if days < 7 else f"on {when:%A, %B} {when.day}"
    return f"at {clock_time(when)} {day}"


def reminder_tools(alarms: Alarms, morning_hour: Callable[[], int], now: Callable[[], dt.datetime]) -> list[Tool]:
    async def add_reminder(args: NewReminder) -> ToolResult:
        text = args.text.strip().rstrip(".")
        phrase = args.when.strip()
        if not text:
            return ToolResult(ABOUT_WHAT, ok=False)
        moment = now()
        when = _when(phrase, moment, morning_hour())
        if when is None:
            return ToolResult(f"I didn't understand when \"{phrase}\" is. Say a time like \"at 5 pm\" or \"in two hours\".", ok=False)
        if not alarms.running:
            return ToolResult(NOT_RUNNING.replace("timers", "reminders"), ok=False)
        alarm = alarms.add("reminder", when.timestamp(), text=text)
        said = f"OK, I'll remind you to {second_person(text)} {when_words(when, moment)}."
        return ToolResult(said, alarm.describe(alarms.clock()))

    async def list_reminders(args: NoArguments) -> ToolResult:
        found = alarms.list("reminder")
        moment = now()
        if not found:
            return ToolResult("You have no reminders.", {"reminders": []})
        parts = [f"{second_person(r.text)} {when_words(_at(r, moment), moment)}" for r in found]
        head = "You have 1 reminder: " if len(parts) == 1 else f"You have {len(parts)} reminders: "
        return ToolResult(head + "; ".join(parts) + ".", {"reminders": [r.describe(alarms.clock()) for r in found]})

    async def cancel_reminder(args: ReminderChoice) -> ToolResult:
        found = alarms.list("reminder")
        if args.id:
            found = [r for r in found if r.id == args.id]
        elif args.text:
            wanted = args.text.lower()
            found = [r for r in found if wanted in r.text.lower()]
        elif not args.all and len(found) > 1:
            return ToolResult(f"You have {len(found)} reminders. Which one should I cancel?", ok=False)
        if not found:
            return ToolResult("There is no such reminder.", ok=False)
        for reminder in found:
            alarms.cancel(reminder.id)
        what = f"your reminder to {second_person(found[0].text)}" if len(found) == 1 else f"{len(found)} reminders"
        return ToolResult(f"Cancelled {what}.", CancelledAlarms(tuple(r.id for r in found)))

    return [
        builtin_tool(
            "add_reminder",
            "Remind the user of something at a time: absolute (at 5 pm, tomorrow morning, on Monday) or relative (in two hours).",
            {
                "type": "object",
                "properties": {
                    "text": {"type": "string", "description": "What to remind of, e.g. call my mother."},
                    "when": {"type": "string", "description": "When, in words or ISO 8601."},
                },
                "required": ["text", "when"],
            },
            NewReminder,
            add_reminder,
            asks={"text": ABOUT_WHAT, "when": WHEN},
        ),
        builtin_tool("list_reminders", "The reminders that are set.", {"type": "object", "properties": {}}, NoArguments,
                     list_reminders),
        builtin_tool(
            "cancel_reminder",
            "Cancel a reminder, by id or by words from its text, or all of them.",
            {"type": "object", "properties": {"id": {"type": "string"}, "text": {"type": "string"}, "all": {"type": "boolean"}}},
            ReminderChoice,
            cancel_reminder,
        ),
    ]


_PERSON = {"my": "your", "me": "you", "mine": "yours", "myself": "yourself", "i": "you", "i'm": "you're", "am": "are"}


def second_person(text: str) -> str:
    """The user's words said back to them: "call my mother" → "call your mother"."""
    return " ".join(_PERSON.get(word.lower(), word) for word in text.split())


def reminder_announcement(alarm: Alarm, late_s: float) -> str:
    text = f"Reminder: {second_person(alarm.text)}."
    if late_s:
        text += f" This was due {lateness(late_s)} ago, while I was not running."
    return text


def _at(alarm: Alarm, now: dt.datetime) -> dt.datetime:
    return dt.datetime.fromtimestamp(alarm.due, tz=now.tzinfo)


def _when(phrase: str, now: dt.datetime, morning_hour: int) -> dt.datetime | None:
    try:
        when = dt.datetime.fromisoformat(phrase)  # the LLM route may pass ISO 8601
    except ValueError:
        return parse_when(phrase, now, morning_hour)
    when = when if when.tzinfo is not None else when.replace(tzinfo=now.tzinfo)
    return when if when > now else None
