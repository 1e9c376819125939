"""The control socket's methods for timers, reminders and the tool list (`assistant timers`, `reminders`, `tools`)."""

from __future__ import annotations

from typing import Any

from assistant.api.protocol import Param, method
from assistant.core.errors import AssistantError
from assistant.core.events import AlarmKind
from assistant.tools.alarm_log import AlarmLog
from assistant.tools.alarms import Alarms
from assistant.tools.registry import Registry


class AlarmMethods:
    def __init__(self, alarms: Alarms, rang: AlarmLog, tools: Registry) -> None:
        self.alarms = alarms
        self.rang = rang
        self.tools = tools

    @method("alarms.rang", kind=Param(str, required=True), limit=Param(int))
    async def alarms_rang(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        kind = params["kind"]
        if kind not in ("timer", "reminder"):
            raise AssistantError(f"kind must be timer or reminder, not {kind!r}", "bad_params")
        return self.rang.recent(kind, params.get("limit", 20))

    @method("timers")
    async def timers(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        return self._listing("timer")

    @method("timers.cancel", id=Param(str, required=True))
    async def timers_cancel(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._cancel("timer", params["id"])

    @method("reminders")
    async def reminders(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        return self._listing("reminder")

    @method("reminders.cancel", id=Param(str, required=True))
    async def reminders_cancel(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._cancel("reminder", params["id"])

    @method("tools")
    async def tool_list(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        return [tool.describe() for tool in self.tools]

    def _listing(self, kind: AlarmKind) -> list[dict[str, Any]]:
        now = self.alarms.clock()
        return [alarm.describe(now) for alarm in self.alarms.list(kind)]

    def _cancel(self, kind: AlarmKind, wanted: str) -> dict[str, Any]:
        alarms = self.alarms
        chosen = alarms.list(kind) if wanted == "all" else [a for a in alarms.list(kind) if a.id == wanted]
        if not chosen and wanted != "all":
            raise AssistantError(f"there is no {kind} with id {wanted!r}; see `assistant {kind}s`", "not_found")
        for alarm in chosen:
            alarms.cancel(alarm.id)
        return {"cancelled": [a.id for a in chosen]}
