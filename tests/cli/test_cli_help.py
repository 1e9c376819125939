"""Every command's --help: it works from `cli.app` alone, says what the command does, and reads cleanly."""

from __future__ import annotations

import re
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from assistant.cli.app import app

pytestmark = pytest.mark.quick


def _commands(group: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    # Duck-typed: some typer releases bring a click of their own, so isinstance(click.Group) is no test.
    found = [(path, group)]
    for name, command in sorted(getattr(group, "commands", {}).items()):
        found += _commands(command, (*path, name))
    return found


COMMANDS = _commands(typer.main.get_command(app))


def test_the_app_has_every_command_without_main_running() -> None:
    names = {" ".join(path) for path, _ in COMMANDS}
    # The daemon's, the tools' and the wake word's commands live in their own modules.
    assert {"ask", "status", "ptt cancel", "timers", "reminders cancel", "wake on", "vram status", "logs"} <= names


@pytest.mark.parametrize("path", [path for path, _ in COMMANDS], ids=lambda p: " ".join(p) or "assistant")
def test_help_is_clean(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    # No type labels or braces where a person expects a name: `--verbose`, `TEXT`, not `<bool>`, `{text}`.
    assert not re.search(r"<(bool|str|int|float|path)>|\{[a-z_]+\}", result.output), result.output
    command = dict(COMMANDS)[path]
    assert (command.help or command.short_help or "").strip(), f"{' '.join(path)} has no help text"
    for param in command.params:
        if param.param_type_name == "option" and not param.hidden and param.name != "help":
            assert param.help, f"{' '.join(path)} {param.opts[0]} has no help text"
