"""`assistant vram`: the arbiter's view of a running daemon, and the policy replayed on a trace."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import typer

from assistant.api.client import NOT_RUNNING, NotRunning, call
from assistant.cli.common import fail, load_config, print_json, print_table, vram_summary
from assistant.cli.remote import JSON, typed
from assistant.core.errors import AssistantError
from assistant.core.paths import Paths
from assistant.vram.snapshot import VramSnapshot

vram_app = typer.Typer(help="The VRAM arbiter.", no_args_is_help=True)


@vram_app.command("status")
def vram_status(as_json: bool = JSON) -> None:
    """Per model: state, device, declared vs measured GB, leases, loads; then recent loads and evictions."""
    try:
        result = call(Paths.from_env().socket, "vram.status", timeout=10)
    except NotRunning:
        from assistant.cli.offline import model_rows

        rows = model_rows(load_config())
        print_json(rows) if as_json else print_table(rows, ["id", "kind", "vram_gb", "present"])
        raise fail(f"catalog view only: {NOT_RUNNING}", 2) from None
    except AssistantError as exc:
        raise fail(exc.message) from None
    if as_json:
        print_json(result)
        return
    snap: VramSnapshot = typed(result, (VramSnapshot,))
    typer.echo(f"{vram_summary(snap, snap.models)}; reserve {snap.reserve_gb:.2f} GB")
    cols = ["id", "kind", "state", "device", "declared_gb", "measured_gb", "leases", "load_count", "load_seconds"]
    print_table(snap.models, cols)
    for event in snap.events:
        when = datetime.datetime.fromtimestamp(event.time).strftime("%H:%M:%S")
        typer.echo(f"  {when} {event.event:<8} {event.model:<22} {event.reason}")


@vram_app.command("simulate")
def vram_simulate(trace: Path = typer.Argument(..., help="A trace JSON file.")) -> None:
    """Run the VRAM policy on a trace, with no processes, GPUs or clocks: one JSON line per step."""
    from assistant.vram.simulate import TraceError, load_trace, simulate

    try:
        steps = simulate(load_trace(trace))
    except TraceError as exc:
        raise fail(str(exc)) from None
    for step in steps:
        typer.echo(json.dumps(step))
