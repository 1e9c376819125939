"""`assistant wake on|off|status`: the wake word, switched at run time through the daemon."""

from __future__ import annotations

import typer

from assistant.cli.common import print_json
from assistant.cli.remote import JSON, remote, typed
from assistant.core.events import WakeStatus

app = typer.Typer()  # its group joins the top-level `assistant` app (cli/app.py)
wake_app = typer.Typer(help="The wake word: hands-free listening (off by default).", no_args_is_help=True)
app.add_typer(wake_app, name="wake")


def _show(result: object, as_json: bool) -> None:
    if as_json:
        print_json(result)
        return
    wake: WakeStatus = typed(result, (WakeStatus,))
    if not wake.enabled:
        typer.echo(f"wake word off (the microphone is not kept open for it); `assistant wake on` listens for {wake.phrase!r}")
        return
    echo = {
        "cancel": "the sound server's echo canceller",
        "gate": "a gate on the playback signal",
        "cancel+gate": "the sound server's echo canceller and a gate on the playback signal",
    }.get(wake.echo or "", wake.echo)
    follow = f", follow-up window {wake.follow_up_s:g} s" if wake.follow_up_s else ""
    typer.echo(f"listening for {wake.phrase!r} (threshold {wake.threshold or 0.0:.2f}{follow}); own voice kept out by {echo}")
    if wake.end == "model":
        typer.echo("a turn ends when the end-of-turn model judges the words complete at a pause")
    else:
        typer.echo(f"a turn ends after a fixed silence{f' ({wake.end_problem})' if wake.end_problem else ''}")
    typer.echo(f"wake-ups {wake.wakeups}, own voice ignored {wake.own_voice_ignored}, CPU {wake.cpu_s:.1f} s")


@wake_app.command("on")
def wake_on(as_json: bool = JSON) -> None:
    """Open the microphone and listen for the wake word."""
    _show(remote("wake.on", timeout=30), as_json)


@wake_app.command("off")
def wake_off(as_json: bool = JSON) -> None:
    """Stop listening for the wake word and close the microphone."""
    _show(remote("wake.off", timeout=30), as_json)


@wake_app.command("status")
def wake_status(as_json: bool = JSON) -> None:
    """Whether the wake word is on, which word, and what it has heard."""
    _show(remote("wake.status", timeout=10), as_json)
