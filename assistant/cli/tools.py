"""CLI commands for the daemon's tools: `assistant timers`, `assistant reminders`, `assistant tools`."""

from __future__ import annotations

import datetime as dt

import typer

from assistant.cli.common import print_json, print_table
from assistant.cli.remote import JSON, remote

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
    rows = remote("alarms.rang", timeout=10, kind=kind)
    if as_json:
        print_json(rows)
        return
    if not rows:
        typer.echo(f"no {kind} has rung yet")
        return
    shown = [{**r, "rang": _clock(r["rang"]), "heard": r["heard"], "announcement": r["announcement"]} for r in rows]
    print_table(shown, ["id", "rang", "heard", "announcement"])


@timers_app.callback()
def timers(ctx: typer.Context, fired: bool = FIRED, as_json: bool = JSON) -> None:
    """List the running timers (id, label, time left, when each rings)."""
    if ctx.invoked_subcommand is not None:
        return
    if fired:
        _rang("timer", as_json)
        return
    rows = remote("timers", timeout=10)
    if as_json:
        print_json(rows)
        return
    if not rows:
        typer.echo("no timers")
        return
    shown = [{**r, "left": f"{int(r['remaining_s']) // 60}:{int(r['remaining_s']) % 60:02d}", "rings": _clock(r["due"])}
             for r in rows]
    print_table(shown, ["id", "label", "left", "rings"])


@timers_app.command("cancel")
def timers_cancel(timer_id: str = typer.Argument(..., metavar="ID|all", help="A timer id, or all."), as_json: bool = JSON) -> None:
    """Cancel one timer, or all of them."""
    result = remote("timers.cancel", timeout=10, id=timer_id)
    if as_json:
        print_json(result)
        return
    typer.echo(f"cancelled {len(result['cancelled'])} timer{'s' if len(result['cancelled']) != 1 else ''}")


@reminders_app.callback()
def reminders(ctx: typer.Context, fired: bool = FIRED, as_json: bool = JSON) -> None:
    """List the reminders (id, when, text)."""
    if ctx.invoked_subcommand is not None:
        return
    if fired:
        _rang("reminder", as_json)
        return
    rows = remote("reminders", timeout=10)
    if as_json:
        print_json(rows)
        return
    if not rows:
        typer.echo("no reminders")
        return
    print_table([{**r, "when": _clock(r["due"])} for r in rows], ["id", "when", "text"])


@reminders_app.command("cancel")
def reminders_cancel(reminder_id: str = typer.Argument(..., metavar="ID", help="A reminder id (or all)."), as_json: bool = JSON) -> None:
    """Cancel a reminder."""
    result = remote("reminders.cancel", timeout=10, id=reminder_id)
    if as_json:
        print_json(result)
        return
    typer.echo(f"cancelled {len(result['cancelled'])} reminder{'s' if len(result['cancelled']) != 1 else ''}")


@app.command("tools")
def tools(as_json: bool = JSON) -> None:
    """Every tool the assistant can use, with its source (builtin or mcp:SERVER)."""
    rows = remote("tools", timeout=10)
    if as_json:
        print_json(rows)
        return
    print_table(rows, ["name", "source", "description"])
