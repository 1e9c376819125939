"""The players a dictation pauses while the user speaks, resumed at its end (MPRIS, through tools/media.py)."""

from __future__ import annotations

import asyncio

from assistant.tools.media import pause_playing, resume


class PausedMedia:
    def __init__(self) -> None:
        self._players: list[str] = []

    async def pause(self) -> int:
        """Pause whatever plays (off the loop: D-Bus calls block); how many players were paused."""
        self._players = await asyncio.to_thread(pause_playing)
        return len(self._players)

    async def resume(self) -> None:
        players, self._players = self._players, []
        await asyncio.to_thread(resume, players)
