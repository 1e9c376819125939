"""Timers and reminders that belong to the daemon: kept in a private file, fired on time, fired late after downtime."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from assistant.core.atomic import write_json_atomic
from assistant.core.records import AlarmKind, FiredReminder, FiredTimer, Reminder, Timer

log = logging.getLogger(__name__)

# An alarm found this far past its due time while running (the machine slept through it) says it is late.
LATE_AFTER_S = 2.0


@dataclass(frozen=True)
class Alarm:
    id: str
    kind: AlarmKind
    due: float  # epoch seconds
    label: str = ""  # a timer's name ("pasta"), or ""
    text: str = ""  # a reminder's words ("call my mother")
    duration_s: float = 0.0  # a timer's length as asked

    def due_iso(self) -> str:
        return dt.datetime.fromtimestamp(self.due).astimezone().isoformat(timespec="seconds")

    def describe(self, now: float) -> Timer | Reminder:
        """As the socket and the tools show it: a timer with its time left, or a reminder."""
        if self.kind == "timer":
            return Timer(self.id, self.label, self.duration_s, self.due_iso(), round(max(0.0, self.due - now), 1))
        return Reminder(self.id, self.text, self.due_iso())

    def fired(self, now: float, late_s: float, announcement: str) -> FiredTimer | FiredReminder:
        """As the `timer.fired` and `reminder.fired` events tell it: how late it rang and what was said."""
        if self.kind == "timer":
            remaining = round(max(0.0, self.due - now), 1)
            return FiredTimer(self.id, self.label, self.duration_s, self.due_iso(), remaining, late_s, announcement)
        return FiredReminder(self.id, self.text, self.due_iso(), late_s, announcement)


def alarms_path(state_dir: Path) -> Path:
    return state_dir / "alarms.json"


Fire = Callable[[Alarm, float], Awaitable[None]]  # (alarm, seconds late)


class Alarms:
    """The store and the scheduler: one task sleeps until the next alarm is due.

    `path` None keeps alarms in memory only (offline runs). Until start() the alarms are kept but
    nothing fires: `running` says whether anyone is there to ring.
    """

    def __init__(
        self,
        path: Path | None,
        clock: Callable[[], float] = time.time,
        on_add: Callable[[Timer | Reminder], None] = lambda alarm: None,
    ) -> None:
        self.path = path
        self.clock = clock
        self._alarms: dict[str, Alarm] = {}
        self._fire: Fire | None = None
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._started = 0.0  # when start() ran: alarms due before it came due while nothing ran
        self._firing: set[asyncio.Task[None]] = set()
        self.on_add = on_add  # the daemon's events
        if path is not None:
            self._load(path)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def _load(self, path: Path) -> None:
        if not path.exists():
            return
        try:
            raw = json.loads(path.read_text())
            for item in raw:
                alarm = Alarm(**item)
                self._alarms[alarm.id] = alarm
        except (OSError, ValueError, TypeError) as exc:
            # Keep the unreadable file for the user to look at, and start with none rather than not at all.
            kept = path.with_name(path.name + ".unreadable")
            log.error("cannot read %s (%s); moved it to %s and starting with no timers or reminders", path, exc, kept)
            os.replace(path, kept)

    def _save(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.path.parent, 0o700)  # timers and reminders are the user's business alone
        write_json_atomic(self.path, [asdict(a) for a in sorted(self._alarms.values(), key=lambda a: a.due)])

    # ---------------------------------------------------------------- the store

    def add(self, kind: AlarmKind, due: float, label: str = "", text: str = "", duration_s: float = 0.0) -> Alarm:
        alarm = Alarm(uuid.uuid4().hex[:6], kind, due, label, text, duration_s)
        self._alarms[alarm.id] = alarm
        self._save()
        self._changed.set()
        self.on_add(alarm.describe(self.clock()))
        return alarm

    def cancel(self, alarm_id: str) -> Alarm | None:
        alarm = self._alarms.pop(alarm_id, None)
        if alarm is not None:
            self._save()
            self._changed.set()
        return alarm

    def list(self, kind: AlarmKind) -> list[Alarm]:
        return sorted((a for a in self._alarms.values() if a.kind == kind), key=lambda a: a.due)

    # ---------------------------------------------------------------- the scheduler

    def start(self, fire: Fire) -> None:
        """Begin firing; alarms that came due while nothing ran fire now, late."""
        self._fire = fire
        self._started = self.clock()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        for task in [self._task, *self._firing]:
            if task is not None:
                task.cancel()
        await asyncio.gather(*[t for t in [self._task, *self._firing] if t is not None], return_exceptions=True)
        self._task = None

    async def _run(self) -> None:
        while True:
            now = self.clock()
            for alarm in [a for a in self._alarms.values() if a.due <= now]:
                self._alarms.pop(alarm.id)
                self._save()  # fired once: a crash while it rings must not make it ring again at every start
                task = asyncio.get_running_loop().create_task(self._ring(alarm, max(0.0, now - alarm.due)))
                self._firing.add(task)
                task.add_done_callback(self._firing.discard)
            upcoming = min((a.due for a in self._alarms.values()), default=None)
            self._changed.clear()
            wait = None if upcoming is None else max(0.0, upcoming - self.clock())
            try:
                # Sleep in slices of at most a minute, so a system suspend or clock change is caught up.
                await asyncio.wait_for(self._changed.wait(), None if wait is None else min(wait, 60.0))
            except asyncio.TimeoutError:
                pass

    async def _ring(self, alarm: Alarm, late_s: float) -> None:
        assert self._fire is not None
        try:
            # Due before we started: it came due while nothing ran, however long ago. Otherwise late only
            # if the machine slept past it.
            missed = alarm.due < self._started or late_s > LATE_AFTER_S
            await self._fire(alarm, max(late_s, 1.0) if missed else 0.0)
        except asyncio.CancelledError:
            raise
        except Exception:  # one alarm's failure must not stop the others
            log.exception("alarm %s failed to ring", alarm.id)
