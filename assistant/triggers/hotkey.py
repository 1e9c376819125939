"""The push-to-talk sources that can run here, in order of preference."""

from __future__ import annotations

import os

from assistant.triggers.evdev_source import EvdevSource
from assistant.triggers.source import HotkeySource
from assistant.triggers.x11_source import X11Source


def available_sources(key: str) -> list[HotkeySource]:
    """Sources for `key` in order of preference: evdev, then X11 when DISPLAY is set.

    Raises ValueError when `key` does not name keys (see keys.parse_combo).
    """
    sources: list[HotkeySource] = [EvdevSource(key)]
    if os.environ.get("DISPLAY"):
        sources.append(X11Source(key))
    return sources
