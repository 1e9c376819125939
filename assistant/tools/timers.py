"""Timers: start, cancel, list and time left, kept by the daemon's alarms so they ring and survive a restart."""

from __future__ import annotations

from dataclasses import dataclass

from assistant.core.records import CancelledAlarms
from assistant.tools.alarms import Alarm, Alarms
from assistant.tools.numbers import parse_duration
from assistant.tools.registry import Tool, ToolResult, builtin_tool

MAX_TIMER_S = 24 * 3600.0
HOW_LONG = "A timer must run between 1 second and 24 hours. How long should it be?"
NOT_RUNNING = "I can't set timers here: only the running daemon can ring them. Start it with `assistant run`."


@dataclass(frozen=True)
class NewTimer:
    duration_s: float
    label: str = ""  # a name ("pasta"); empty: the timer is named by its length


@dataclass(frozen=True)
class TimerChoice:
    """Which timers to cancel: by id, by label (a name or a length), or all; none of them: the only one."""

    label: str = ""
    id: str = ""
    all: bool = False


@dataclass(frozen=True)
class TimerName:
    label: str = ""  # empty: every timer


def duration_words(seconds: float, adjective: bool = False) -> str:
    """5400 → "1 hour and 30 minutes"; adjective: 600 → "10-minute" (digits: the voice reads them out)."""
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [(hours, "hour"), (minutes, "minute"), (secs, "second")]
    parts = [(n, unit) for n, unit in parts if n]
    if not parts:
        return "0-second" if adjective else "0 seconds"
    if adjective:
        if len(parts) == 1:
            return f"{parts[0][0]}-{parts[0][1]}"
        return " ".join(f"{n} {unit}{'s' if n != 1 else ''}" for n, unit in parts)
    words = [f"{n} {unit}{'s' if n != 1 else ''}" for n, unit in parts]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def timer_name(alarm: Alarm) -> str:
    """How to name a timer in a sentence: "pasta timer" or "10-minute timer"."""
    return f"{alarm.label} timer" if alarm.label else f"{duration_words(alarm.duration_s, adjective=True)} timer"


def lateness(late_s: float) -> str:
    """How long ago, rounded as a person would say it: "6 seconds", "2 minutes", "1 hour and 5 minutes"."""
    return duration_words(round(late_s) if late_s < 60 else round(late_s / 60) * 60)


def announcement(alarm: Alarm, late_s: float) -> str:
    text = f"Your {timer_name(alarm)} is done."
    if late_s:
        text += f" It finished {lateness(late_s)} ago, while I was not running."
    return text


def _pick(alarms: Alarms, args: TimerChoice) -> tuple[list[Alarm], str | None]:
    """The timers an argument names (by id, label or duration), or a question when it is unclear."""
    timers = alarms.list("timer")
    if not timers:
        return [], "You have no timers running."
    if args.all:
        return timers, None
    if args.id:
        chosen = [t for t in timers if t.id == args.id]
        return chosen, None if chosen else f"There is no timer with the id {args.id}."
    if args.label:
        label = args.label.lower().removesuffix(" timer")
        seconds = parse_duration(label)
        chosen = [t for t in timers if t.label.lower() == label or (seconds is not None and t.duration_s == seconds)]
        return chosen, None if chosen else f"You have no {label} timer."
    if len(timers) == 1:
        return timers, None
    names = ", ".join(timer_name(t) for t in timers)
    return [], f"You have {len(timers)} timers: {names}. Which one?"


def timer_tools(alarms: Alarms) -> list[Tool]:
    async def start_timer(args: NewTimer) -> ToolResult:
        seconds = args.duration_s
        if not 1 <= seconds <= MAX_TIMER_S:
            return ToolResult(HOW_LONG, ok=False)
        if not alarms.running:
            return ToolResult(NOT_RUNNING, ok=False)
        label = args.label.strip().lower().removesuffix(" timer")
        alarm = alarms.add("timer", alarms.clock() + seconds, label=label, duration_s=seconds)
        said = f"{label.capitalize()} timer set for {duration_words(seconds)}." if label else (
            f"Timer set for {duration_words(seconds)}."
        )
        return ToolResult(said, alarm.describe(alarms.clock()))

    async def cancel_timer(args: TimerChoice) -> ToolResult:
        chosen, problem = _pick(alarms, args)
        if problem is not None:
            return ToolResult(problem, ok=False)
        for alarm in chosen:
            alarms.cancel(alarm.id)
        cancelled = CancelledAlarms(tuple(a.id for a in chosen))
        if len(chosen) == 1:
            return ToolResult(f"Cancelled your {timer_name(chosen[0])}.", cancelled)
        return ToolResult(f"Cancelled {len(chosen)} timers.", cancelled)

    async def list_timers(args: TimerName) -> ToolResult:
        now = alarms.clock()
        timers = alarms.list("timer")
        if args.label:
            timers, problem = _pick(alarms, TimerChoice(label=args.label))
            if problem is not None:
                return ToolResult(problem, ok=False)
        if not timers:
            return ToolResult("You have no timers running.", {"timers": []})
        parts = [f"{duration_words(max(1.0, t.due - now))} left on your {timer_name(t)}" for t in timers]
        text = ("There's " if len(parts) == 1 else f"You have {len(parts)} timers. ") + "; ".join(parts) + "."
        return ToolResult(text[0].upper() + text[1:], {"timers": [t.describe(now) for t in timers]})

    label = {"type": "string", "description": "The timer's name, e.g. pasta; or its length, e.g. 10 minutes."}
    return [
        builtin_tool(
            "start_timer",
            "Start a countdown timer that rings when it is done.",
            {
                "type": "object",
                "properties": {
                    "duration_s": {"type": "number", "description": "How long, in seconds."},
                    "label": {"type": "string", "description": "An optional name, e.g. pasta."},
                },
                "required": ["duration_s"],
            },
            NewTimer,
            start_timer,
            asks={"duration_s": HOW_LONG},
        ),
        builtin_tool(
            "cancel_timer",
            "Cancel a running timer (by name or length), or all of them.",
            {"type": "object", "properties": {"label": label, "id": {"type": "string"}, "all": {"type": "boolean"}}},
            TimerChoice,
            cancel_timer,
        ),
        builtin_tool(
            "list_timers",
            "The running timers and how much time is left on each (or on one, by name).",
            {"type": "object", "properties": {"label": label}},
            TimerName,
            list_timers,
        ),
    ]
