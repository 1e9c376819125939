"""The control socket's methods for timers, reminders and the tool list (`assistant timers`, `reminders`, `tools`)."""

from __future__ import annotations

from dataclasses import dataclass

from assistant.api.protocol import method
from assistant.core.errors import AssistantError
from assistant.core.records import AlarmKind, CancelledAlarms, Reminder, Timer
from assistant.tools.alarm_log import AlarmLog, Rang
from assistant.tools.alarms import Alarms
from assistant.tools.registry import Registry, ToolInfo


@dataclass(frozen=True)
class AlarmsRang:
    kind: str  # timer or reminder
    limit: int = 20


@dataclass(frozen=True)
class Chosen:
    id: str  # an alarm's id, or "all"


class AlarmMethods:
    def __init__(self, alarms: Alarms, rang: AlarmLog, tools: Registry) -> None:
        self.alarms = alarms
        self.rang = rang
        self.tools = tools

    @method("alarms.rang", AlarmsRang)
    async def alarms_rang(self, request: AlarmsRang) -> list[Rang]:
        kinds: dict[str, AlarmKind] = {"timer": "timer", "reminder": "reminder"}
        if request.kind not in kinds:
            raise AssistantError(f"kind must be timer or reminder, not {request.kind!r}", "bad_params")
        return self.rang.recent(kinds[request.kind], request.limit)

    @method("timers")
    async def timers(self) -> list[Timer]:
        return [timer for timer in self._listing("timer") if isinstance(timer, Timer)]

    @method("timers.cancel", Chosen)
    async def timers_cancel(self, request: Chosen) -> CancelledAlarms:
        return self._cancel("timer", request.id)

    @method("reminders")
    async def reminders(self) -> list[Reminder]:
        return [reminder for reminder in self._listing("reminder") if isinstance(reminder, Reminder)]

    @method("reminders.cancel", Chosen)
    async def reminders_cancel(self, request: Chosen) -> CancelledAlarms:
        return self._cancel("reminder", request.id)

    @method("tools")
    async def tool_list(self) -> list[ToolInfo]:
        return [tool.describe() for tool in self.tools]

    def _listing(self, kind: AlarmKind) -> list[Timer | Reminder]:
        now = self.alarms.clock()
        return [alarm.describe(now) for alarm in self.alarms.list(kind)]

    def _cancel(self, kind: AlarmKind, wanted: str) -> CancelledAlarms:
        alarms = self.alarms
        chosen = alarms.list(kind) if wanted == "all" else [a for a in alarms.list(kind) if a.id == wanted]
        if not chosen and wanted != "all":
            raise AssistantError(f"there is no {kind} with id {wanted!r}; see `assistant {kind}s`", "not_found")
        for alarm in chosen:
            alarms.cancel(alarm.id)
        return CancelledAlarms(tuple(a.id for a in chosen))
