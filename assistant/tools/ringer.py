"""What happens when a timer or reminder comes due: the alarm earcon, the spoken announcement, a notification."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from assistant.core.errors import AssistantError
from assistant.core.events import AlarmFired, Emit
from assistant.tools.alarm_log import AlarmLog, Rang
from assistant.tools.alarms import Alarm
from assistant.tools.numbers import spoken
from assistant.tools.reminders import reminder_announcement
from assistant.tools.timers import announcement

log = logging.getLogger(__name__)

RING_INTERVAL_S = 2.0


class Ringer:
    """Rings fired alarms until a press dismisses them, or for `ring_s` seconds.

    Each part gets only what it uses: `say` is the daemon's say path (Turns.say), `earcon` plays a
    tone, `notify` sends a desktop notification, `emit` broadcasts a subscribe event.
    """

    def __init__(
        self,
        say: Callable[[str], Awaitable[tuple[bool, str | None]]],
        earcon: Callable[[str], None],
        notify: Callable[[str, str], None],
        emit: Emit,
        ring_s: Callable[[], float],
        clock: Callable[[], float] = time.time,
        record: AlarmLog | None = None,
    ) -> None:
        self.say = say
        self.record = record if record is not None else AlarmLog(None)
        self.earcon = earcon
        self.notify = notify
        self.emit = emit
        self.ring_s = ring_s
        self.clock = clock
        self._ringing: set[asyncio.Task[Any]] = set()

    @property
    def ringing(self) -> bool:
        return any(not task.done() for task in self._ringing)

    def dismiss(self) -> bool:
        """Stop every ringing alarm; True if one was ringing (a press then only dismisses)."""
        tasks = [task for task in self._ringing if not task.done()]
        for task in tasks:
            task.cancel()
        return bool(tasks)

    def _record(self, alarm: Alarm, late_s: float, text: str, heard: bool, audio_path: object) -> None:
        if heard:
            log.info("%s %s rang: %s", alarm.kind, alarm.id, text)
        else:
            # Nobody may have heard it: this line, the alarm log and the notification are its trace.
            where = f"; the announcement is in {audio_path}" if audio_path else ""
            log.warning("%s %s rang with no sound device to play it: %s%s", alarm.kind, alarm.id, text, where)
        rang = _iso(self.clock())
        path = str(audio_path) if audio_path else None
        self.record.append(Rang(alarm.id, alarm.kind, alarm.due_iso(), rang, round(late_s, 1), text, heard, path))

    async def fire(self, alarm: Alarm, late_s: float) -> None:
        if alarm.kind == "timer":
            text, title = announcement(alarm, late_s), "Timer done"
        else:
            text, title = reminder_announcement(alarm, late_s), "Reminder"
        self.emit(AlarmFired(alarm.fired(self.clock(), round(late_s, 1), text)))
        self.notify(title, text)
        task = asyncio.current_task()
        assert task is not None
        self._ringing.add(task)
        recorded = False
        try:
            self.earcon("alarm")
            heard, audio_path = False, None
            try:
                heard, audio_path = await self.say(spoken(text))
            except AssistantError as exc:
                # No voice (it failed to load, no output device): the alarm must still ring.
                log.warning("%s %s: cannot announce it (%s); ringing anyway", alarm.kind, alarm.id, exc.message)
            self._record(alarm, late_s, text, heard, audio_path)
            recorded = True
            deadline = self.clock() + self.ring_s()
            while self.clock() < deadline:
                await asyncio.sleep(RING_INTERVAL_S)
                self.earcon("alarm")
        except asyncio.CancelledError:
            log.info("%s %s dismissed", alarm.kind, alarm.id)
            if not recorded:
                self._record(alarm, late_s, text, True, None)  # a press dismissed it: someone was there
        finally:
            self._ringing.discard(task)


def _iso(now: float) -> str:
    return dt.datetime.fromtimestamp(now).astimezone().isoformat(timespec="seconds")
