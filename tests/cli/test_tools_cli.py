"""`assistant timers`, `reminders` and `tools` read the daemon's replies as their records (core/wire.py):
the tables come from the typed replies, `--json` prints the reply as it came."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from assistant.cli import tools as tools_cli
from assistant.cli.app import app
from assistant.core.records import CancelledAlarms, Reminder, Timer
from assistant.core.wire import to_json
from assistant.tools.alarm_log import Rang
from assistant.tools.registry import ToolInfo

pytestmark = pytest.mark.quick

DUE = "2026-12-05T09:00:00+00:00"
REPLIES: dict[str, object] = {
    "timers": [Timer("a1", "pasta", 600.0, DUE, 125.0)],
    "reminders": [Reminder("b2", "call my mother", DUE)],
    "timers.cancel": CancelledAlarms(("a1",)),
    "reminders.cancel": CancelledAlarms(("b2", "c3")),
    "alarms.rang": [Rang("a1", "timer", DUE, DUE, 0.0, "Your pasta timer is done.", heard=False)],
    "tools": [ToolInfo("get_time", "The current time.", {"type": "object"}, "builtin")],
}


@pytest.fixture(autouse=True)
def daemon(monkeypatch: pytest.MonkeyPatch) -> None:
    """The replies as they come off the socket: JSON, through the one codec."""

    def remote(method: str, timeout: float | None = None, **params: Any) -> Any:
        return json.loads(json.dumps(to_json(REPLIES[method])))

    monkeypatch.setattr(tools_cli, "remote", remote)


def run(*args: str) -> str:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output


def test_the_tables_are_read_from_the_typed_replies() -> None:
    assert "a1  pasta  2:05" in run("timers")
    assert "call my mother" in run("reminders")
    assert run("timers", "cancel", "a1").strip() == "cancelled 1 timer"
    assert run("reminders", "cancel", "all").strip() == "cancelled 2 reminders"
    fired = run("timers", "--fired")
    assert "Your pasta timer is done." in fired and " no " in fired
    assert "get_time  builtin  The current time." in run("tools")


def test_json_is_the_reply_as_it_came() -> None:
    assert json.loads(run("timers", "--json")) == to_json(REPLIES["timers"])
    assert json.loads(run("tools", "--json"))[0] == {
        "name": "get_time", "description": "The current time.", "parameters": {"type": "object"}, "source": "builtin",
    }
