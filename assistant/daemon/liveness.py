"""Whether the turn pipeline is stuck: what the systemd watchdog asks before each ping."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping

from assistant.core.events import TurnState
from assistant.daemon.systemd import SystemdNotifier

log = logging.getLogger(__name__)

# Beyond the longest worker stall deadline: time for a stalled worker to be killed and its turn to end.
STUCK_MARGIN_S = 60.0
BUSY_STATES = frozenset({TurnState.THINKING, TurnState.SPEAKING})


def stuck_after_s(stall_s: Mapping[str, float]) -> float:
    """How long a busy pipeline may go without any sign of progress before it counts as stuck.

    Workers that stall are killed at their own deadline, so a turn silent for longer than the longest of
    them plus a margin is wedged somewhere no deadline covers (a sound device, a lock, a bug).
    """
    return max(stall_s.values(), default=0.0) + STUCK_MARGIN_S


def pipeline_stuck(state: TurnState | str, progress: Iterable[float], now: float, limit_s: float) -> bool:
    """True when a turn is under way (thinking or speaking) and nothing moved for longer than limit_s.

    Args:
        state: the turn state.
        progress: monotonic times of the latest signs of progress (a state change or event, a worker message).
        now: the monotonic time now.
    """
    if state not in BUSY_STATES:
        return False
    latest = max(progress, default=None)
    return latest is None or now - latest > limit_s


async def ping_watchdog(systemd: SystemdNotifier, stuck: Callable[[], bool], stuck_s: Callable[[], float]) -> None:
    """Ping systemd's watchdog at its interval (none set: return), unless the pipeline is `stuck`: a stuck
    pipeline is as dead to the user as a dead loop, so the pings stop and systemd restarts us."""
    interval = systemd.watchdog_interval()
    if interval is None:
        return
    while True:
        if stuck():
            log.error("the turn has made no progress for over %.0f s; not pinging the watchdog", stuck_s())
        else:
            systemd.notify("WATCHDOG=1")
        await asyncio.sleep(interval)
