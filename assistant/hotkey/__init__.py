"""Push-to-talk sources: each turns a held key or key combination into press and release events."""

from __future__ import annotations

import os
from typing import Callable, Literal, Protocol

Action = Literal["press", "release"]
# Called on the event loop thread, once per transition of the whole combination.
Emit = Callable[[Action], None]


class HotkeySource(Protocol):
    """One way of watching the keyboard; the daemon uses the first whose check() passes."""

    name: str

    def check(self) -> str | None:
        """None if usable here, else one sentence saying why not and what to do."""
        ...

    async def run(self, emit: Emit) -> None:
        """Listen until cancelled; device trouble is logged and retried, never raised."""
        ...


def available_sources(key: str) -> list[HotkeySource]:
    """Sources for `key` in order of preference: evdev, then X11 when DISPLAY is set.

    Raises ValueError when `key` does not name keys (see keys.parse_combo).
    """
    # Imported here because the source modules import Action from this package.
    from .evdev_source import EvdevSource
    from .x11_source import X11Source

    sources: list[HotkeySource] = [EvdevSource(key)]
    if os.environ.get("DISPLAY"):
        sources.append(X11Source(key))
    return sources
