"""Polling until something holds, or a deadline passes: the one loop the tests wait with.

`wait_for` is for plain tests and support code (threads, subprocesses, the daemon's socket);
`until` is the same inside an asyncio test, sleeping with `asyncio.sleep` so the loop runs on.
Both return the predicate's first truthy value, so a wait can hand back what it waited for.
On timeout both raise AssertionError naming `what` (a string, or a callable asked for one then,
for a message with the state at that moment) and the last value the predicate returned.
The predicate is asked at least once, and once more at the deadline.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

What = str | Callable[[], object]


def _timed_out(what: What, timeout: float, last: object) -> AssertionError:
    said = what() if callable(what) else what
    return AssertionError(f"timed out after {timeout:g} s waiting for {said}; last value: {last!r}")


def wait_for(predicate: Callable[[], T], timeout: float, interval: float = 0.1, what: What = "the condition") -> T:
    """Poll `predicate` every `interval` seconds until it returns something truthy; return that."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        left = deadline - time.monotonic()
        if left <= 0:
            raise _timed_out(what, timeout, value)
        time.sleep(min(interval, left))


async def until(predicate: Callable[[], T], timeout: float, interval: float = 0.05, what: What = "the condition") -> T:
    """`wait_for` for asyncio: the predicate is asked on the loop, between `asyncio.sleep`s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        left = deadline - time.monotonic()
        if left <= 0:
            raise _timed_out(what, timeout, value)
        await asyncio.sleep(min(interval, left))
