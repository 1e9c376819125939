"""The builtin tools, gathered for the registry: clock, timers, reminders, arithmetic, media and volume."""

from __future__ import annotations

from collections.abc import Callable

from .alarms import Alarms
from .arithmetic import arithmetic_tools
from .clock import clock_tools, local_now
from .media import media_tools
from .registry import Tool
from .reminders import reminder_tools
from .timers import timer_tools
from .volume import volume_tools


def builtin_tools(alarms: Alarms, morning_hour: Callable[[], int]) -> list[Tool]:
    return [
        *clock_tools(local_now),
        *timer_tools(alarms),
        *reminder_tools(alarms, morning_hour, local_now),
        *arithmetic_tools(),
        *media_tools(),
        *volume_tools(),
    ]
