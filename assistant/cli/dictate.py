"""`assistant dictate press|release|toggle|cancel|last`: dictation for compositor bindings, as `assistant ptt …`."""

from __future__ import annotations

import typer

from assistant.cli.common import fail, print_json
from assistant.cli.remote import JSON, remote, typed
from assistant.turn.dictation import Dictated
from assistant.turn.outcomes import Cancelled, DictationStarted

app = typer.Typer()  # its group joins the top-level `assistant` app (cli/app.py)
dictate_app = typer.Typer(help="Dictation: the words you say are typed into the focused window.", no_args_is_help=True)
app.add_typer(dictate_app, name="dictate")


def _said(result: object, as_json: bool) -> None:
    if as_json:
        print_json(result)
        return
    # Dictated has defaults for every field, so it fits any object: it is tried last.
    reply = typed(result, (DictationStarted, Cancelled, Dictated))
    if isinstance(reply, Dictated):
        if reply.nothing_heard:
            typer.echo("nothing heard: nothing typed")
        elif reply.error:
            raise fail(reply.error)
        else:
            typer.echo(f"typed with {reply.typed_with}: {reply.text!r}")
    elif isinstance(reply, DictationStarted):
        typer.echo(reply.state.value)
    else:
        typer.echo("cancelled" if reply.cancelled else "nothing to cancel")


@dictate_app.command("press")
def dictate_press(as_json: bool = JSON) -> None:
    """Start dictating: speak, then `assistant dictate release`."""
    _said(remote("dictate.press", timeout=30), as_json)


@dictate_app.command("release")
def dictate_release(as_json: bool = JSON) -> None:
    """Stop, and type what was said into the focused window."""
    _said(remote("dictate.release", timeout=120), as_json)


@dictate_app.command("toggle")
def dictate_toggle(as_json: bool = JSON) -> None:
    """Press if idle, release if dictating: for shortcuts that have no key-up."""
    _said(remote("dictate.toggle", timeout=120), as_json)


@dictate_app.command("cancel")
def dictate_cancel(as_json: bool = JSON) -> None:
    """Stop dictating and type nothing."""
    _said(remote("dictate.cancel", timeout=30), as_json)


@dictate_app.command("last")
def dictate_last(as_json: bool = JSON) -> None:
    """The last dictation's text, typed or not (a failed one is never lost)."""
    result = remote("dictate.last", timeout=10)
    if as_json:
        print_json(result)
    elif result is None:
        typer.echo("no dictation yet")
    else:
        typer.echo(result["text"])
