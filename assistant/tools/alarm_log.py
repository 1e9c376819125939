"""The timers and reminders that rang: a private JSONL file, so one that rang unheard is still on record.

`assistant timers --fired` and `assistant reminders --fired` read it. It keeps the newest KEEP entries.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from assistant.core.jsonl import append_line
from assistant.core.records import AlarmKind
from assistant.core.wire import from_json, to_json

log = logging.getLogger(__name__)

KEEP = 200


@dataclass(frozen=True)
class Rang:
    id: str
    kind: AlarmKind
    due: str  # ISO time it was due
    rang: str  # ISO time it rang
    late_s: float
    announcement: str
    heard: bool  # False: no sound device played it (the announcement went to a WAV, or the voice failed)
    audio_path: str | None = None  # the WAV the announcement went to, when it was not played


def alarm_log_path(state_dir: Path) -> Path:
    return state_dir / "alarms-rang.jsonl"


class AlarmLog:
    """Appends what rang; `path` None keeps it in memory (offline runs, tests)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._memory: list[Rang] = []

    def append(self, entry: Rang) -> None:
        if self.path is None:
            self._memory = [*self._memory, entry][-KEEP:]
            return
        try:
            append_line(self.path, to_json(entry), KEEP)
        except OSError as exc:
            log.error("cannot record the alarm in %s: %s", self.path, exc)

    def recent(self, kind: AlarmKind, limit: int = 20) -> list[Rang]:
        """The newest first."""
        entries = self._memory if self.path is None else self._read()
        return [e for e in reversed(entries) if e.kind == kind][:limit]

    def _read(self) -> list[Rang]:
        assert self.path is not None
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return []
        except OSError as exc:
            log.error("cannot read %s: %s", self.path, exc)
            return []
        entries = []
        for line in text.splitlines():
            try:
                entries.append(from_json(Rang, json.loads(line)))
            except (ValueError, RecursionError):  # a WireError is a ValueError
                continue  # a line cut by a crash mid-write, or edited by hand
        return entries
