"""The daemon's parts as steps: each starts in order, and shutdown undoes those that started, newest first."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Step:
    """One part of the daemon: how it starts and, where something must be undone, how it stops."""

    name: str
    start: Callable[[], Awaitable[None]]
    stop: Callable[[], Awaitable[None]] | None = None


async def undo(steps: list[Step]) -> None:
    """Stop each step in the order given; one part failing to close must not keep the others open."""
    for step in steps:
        if step.stop is None:
            continue
        try:
            await step.stop()
        except Exception:
            log.exception("stopping %s failed", step.name)
