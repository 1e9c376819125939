"""The builtin tools, gathered for the registry: clock, timers, reminders, arithmetic, media and volume."""

from __future__ import annotations

from collections.abc import Callable

from assistant.tools.alarms import Alarms
from assistant.tools.arithmetic import arithmetic_tools
from assistant.tools.clock import clock_tools, local_now
from assistant.tools.media import media_tools
from assistant.tools.registry import Tool
from assistant.tools.reminders import reminder_tools
from assistant.tools.timers import timer_tools
from assistant.tools.volume import volume_tools


def builtin_tools(alarms: Alarms, morning_hour: Callable[[], int]) -> list[Tool]:
    return [
        *clock_tools(local_now),
        *timer_tools(alarms),
        *reminder_tools(alarms, morning_hour, local_now),
        *arithmetic_tools(),
        *media_tools(),
        *volume_tools(),
    ]
