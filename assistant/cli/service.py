"""`assistant service …`: the systemd user unit (install/service.py does the work)."""

from __future__ import annotations

import typer

from assistant.cli.common import guarded, print_json
from assistant.cli.remote import JSON

app = typer.Typer()  # its group joins the top-level `assistant` app (cli/app.py)
service_app = typer.Typer(help="The systemd user service.", no_args_is_help=True)
app.add_typer(service_app, name="service")


@service_app.command("install")
def service_install(
    no_start: bool = typer.Option(False, "--no-start", help="Write the unit only."), as_json: bool = JSON
) -> None:
    """Write ~/.config/systemd/user/assistant.service and enable it."""
    from assistant.install.service import install

    _steps(guarded(lambda: install(start=not no_start)), as_json)


@service_app.command("refresh")
def service_refresh(as_json: bool = JSON) -> None:
    """Rewrite the installed unit if it runs this checkout and has changed (scripts/install.sh runs this)."""
    from assistant.install.service import refresh

    _steps(guarded(refresh), as_json)


@service_app.command("uninstall")
def service_uninstall(as_json: bool = JSON) -> None:
    """Stop and disable the service and remove its unit file."""
    from assistant.install.service import uninstall

    _steps(guarded(uninstall), as_json)


def _steps(lines: list[str], as_json: bool) -> None:
    if as_json:
        print_json({"steps": lines})
        return
    for line in lines:
        typer.echo(line)


@service_app.command("status")
def service_status(as_json: bool = JSON) -> None:
    """Whether the unit is installed and running, and what it runs."""
    from assistant.install.service import status as unit_status

    line = guarded(unit_status)
    print_json({"status": line}) if as_json else typer.echo(line)


@service_app.command("restart")
def service_restart(as_json: bool = JSON) -> None:
    """Restart the service: what a change to a restart-only part of config.toml needs."""
    from assistant.install.service import restart

    _steps(guarded(restart), as_json)
