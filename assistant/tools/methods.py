"""The control socket's methods for timers, reminders and the tool list (`assistant timers`, `reminders`, `tools`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from assistant.core.errors import AssistantError
from assistant.tools.alarms import Alarms
from assistant.tools.registry import Registry

Handler = Callable[[dict[str, Any]], Awaitable[Any]]


def tool_methods(alarms: Alarms, tools: Registry) -> dict[str, Handler]:
    def listing(kind: str) -> Handler:
        async def handler(params: dict[str, Any]) -> list[dict[str, Any]]:
            now = alarms.clock()
            return [alarm.describe(now) for alarm in alarms.list(kind)]

        return handler

    def cancelling(kind: str) -> Handler:
        async def handler(params: dict[str, Any]) -> dict[str, Any]:
            wanted = params["id"]
            chosen = alarms.list(kind) if wanted == "all" else [a for a in alarms.list(kind) if a.id == wanted]
            if not chosen and wanted != "all":
                raise AssistantError(f"there is no {kind} with id {wanted!r}; see `assistant {kind}s`", "not_found")
            for alarm in chosen:
                alarms.cancel(alarm.id)
            return {"cancelled": [a.id for a in chosen]}

        return handler

    async def tool_list(params: dict[str, Any]) -> list[dict[str, Any]]:
        return [tool.describe() for tool in tools]

    return {
        "timers": listing("timer"),
        "timers.cancel": cancelling("timer"),
        "reminders": listing("reminder"),
        "reminders.cancel": cancelling("reminder"),
        "tools": tool_list,
    }
