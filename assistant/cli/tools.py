"""CLI commands for the daemon's tools: `assistant timers`, `assistant reminders`, `assistant tools`."""

from __future__ import annotations

import datetime as dt

import typer

from assistant.cli.common import print_json, print_table
from assistant.cli.remote import JSON, remote, typed
from assistant.core.records import CancelledAlarms, Reminder, Timer
from assistant.tools.alarm_log import Rang
from assistant.tools.registry import ToolInfo

app = typer.Typer()  # its commands join the top-level `assistant` app (cli/app.py)
timers_app = typer.Typer(help="Running timers.", invoke_without_command=True)
reminders_app = typer.Typer(help="Reminders that are set.", invoke_without_command=True)
app.add_typer(timers_app, name="timers")
app.add_typer(reminders_app, name="reminders")


def _clock(iso: str) -> str:
    when = dt.datetime.fromisoformat(iso)
    today = dt.datetime.now(when.tzinfo).date()
    return f"{when:%H:%M:%S}" if when.date() == today else f"{when:%a %d %b %H:%M}"


FIRED = typer.Option(False, "--fired", help="The ones that rang instead, newest first, and whether anyone heard them.")


def _rang(kind: str, as_json: bool) -> None:
    result = remote("alarms.rang", timeout=10, kind=kind)
    if as_json:
        print_json(result)
        return
    rang: list[Rang] = typed(result, (list[Rang],))
    if not rang:
        typer.echo(f"no {kind} has rung yet")
        return
    shown = [{"id": r.id, "rang": _clock(r.rang), "heard": r.heard, "announcement": r.announcement} for r in rang]
    print_table(shown, ["id", "rang", "heard", "announcement"])


@timers_app.callback()
def timers(ctx: typer.Context, fired: bool = FIRED, as_json: bool = JSON) -> None:
    """List the running timers (id, label, time left, when each rings)."""
    if ctx.invoked_subcommand is not None:
        return
    if fired:
        _rang("timer", as_json)
        return
    result = remote("timers", timeout=10)
    if as_json:
        print_json(result)
        return
    running: list[Timer] = typed(result, (list[Timer],))
    if not running:
        typer.echo("no timers")
        return
    shown = [{"id": t.id, "label": t.label, "left": f"{int(t.remaining_s) // 60}:{int(t.remaining_s) % 60:02d}",
              "rings": _clock(t.due)} for t in running]
    print_table(shown, ["id", "label", "left", "rings"])


@timers_app.command("cancel")
def timers_cancel(timer_id: str = typer.Argument(..., metavar="ID|all", help="A timer id, or all."), as_json: bool = JSON) -> None:
    """Cancel one timer, or all of them."""
    result = remote("timers.cancel", timeout=10, id=timer_id)
    if as_json:
        print_json(result)
        return
    _cancelled(typed(result, (CancelledAlarms,)), "timer")


@reminders_app.callback()
def reminders(ctx: typer.Context, fired: bool = FIRED, as_json: bool = JSON) -> None:
    """List the reminders (id, when, text)."""
    if ctx.invoked_subcommand is not None:
        return
    if fired:
        _rang("reminder", as_json)
        return
    result = remote("reminders", timeout=10)
    if as_json:
        print_json(result)
        return
    found: list[Reminder] = typed(result, (list[Reminder],))
    if not found:
        typer.echo("no reminders")
        return
    print_table([{"id": r.id, "when": _clock(r.due), "text": r.text} for r in found], ["id", "when", "text"])


@reminders_app.command("cancel")
def reminders_cancel(reminder_id: str = typer.Argument(..., metavar="ID", help="A reminder id (or all)."), as_json: bool = JSON) -> None:
    """Cancel a reminder."""
    result = remote("reminders.cancel", timeout=10, id=reminder_id)
    if as_json:
        print_json(result)
        return
    _cancelled(typed(result, (CancelledAlarms,)), "reminder")


def _cancelled(result: CancelledAlarms, kind: str) -> None:
    typer.echo(f"cancelled {len(result.cancelled)} {kind}{'s' if len(result.cancelled) != 1 else ''}")


@app.command("tools")
def tools(as_json: bool = JSON) -> None:
    """Every tool the assistant can use, with its source (builtin or mcp:SERVER)."""
    result = remote("tools", timeout=10)
    if as_json:
        print_json(result)
        return
    listed: list[ToolInfo] = typed(result, (list[ToolInfo],))
    print_table([{"name": t.name, "source": t.source, "description": t.description} for t in listed],
                ["name", "source", "description"])
