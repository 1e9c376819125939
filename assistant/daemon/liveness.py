"""Whether the turn pipeline is stuck: what the systemd watchdog asks before each ping."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from assistant.core.events import TurnState

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
