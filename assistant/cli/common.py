"""What every command module shares: one-line errors at the CLI boundary, JSON and table output."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, Union

import typer

from assistant.config.settings import Config
from assistant.core.errors import AssistantError
from assistant.core.wire import to_json
from assistant.vram.snapshot import ModelRow, VramFigures

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T")
# A row of a table: a record, or a mapping from a reply not read as its type yet.
Row = Union["DataclassInstance", Mapping[str, object]]


def fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def guarded(fn: Callable[[], T]) -> T:
    """Run a command body, turning domain errors (and Ctrl+C) into one line and an exit code."""
    try:
        return fn()
    except AssistantError as exc:
        raise fail(exc.message) from None
    except OSError as exc:  # a file the command writes or reads: the OS's own sentence, on one line
        where = f" {exc.filename}" if exc.filename else ""
        raise fail(f"cannot use{where}: {exc.strerror or exc}") from None
    except KeyboardInterrupt:
        raise fail("interrupted", 130) from None


def shown(path: Path) -> str:
    """A path on one line of output: quoted and escaped when it holds a line break or another control character."""
    text = str(path)
    return text if text.isprintable() else repr(text)


def wav_out(path: Path, option: str = "--out") -> Path:
    """A path a WAV can be written to, checked before any work: one line for each way it cannot be."""
    if path.is_dir():
        raise fail(f"{option} {shown(path)} is a directory; give a file name ending in .wav, such as {shown(path / 'reply.wav')}")
    if path.suffix.lower() != ".wav":
        raise fail(f"{option} {shown(path)}: only WAV is written; give a file name ending in .wav")
    parent = path.parent
    if not parent.is_dir():
        raise fail(f"{option} {shown(path)}: the directory {shown(parent)} does not exist; create it first")
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise fail(f"{option} {shown(path)}: not writable here; choose another place")
    return path


def run_async(coro_fn: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return guarded(lambda: asyncio.run(coro_fn()))


def load_config() -> Config:
    return guarded(Config.load)


# The daemon's own graceful deadline (lifecycle.SHUTDOWN_TIMEOUT_S, 4 s) and its kill of the workers after it.
STOP_WAIT_S = 15.0


def wait_gone(pid: int, timeout: float = STOP_WAIT_S) -> bool:
    """Whether process `pid` ended within `timeout`. A zombie counts as gone: it has exited, and only waits
    for its parent (a terminal, systemd) to read its status."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return True
        if state == "Z":
            return True
        time.sleep(0.05)
    return False


def vram_summary(vram: VramFigures, models: Sequence[ModelRow]) -> str:
    """The GPU memory line of `status` and `vram status`. A card's "used" counts other programs (and, on a
    simulated meter, plans), so it is shown only when one of our models really runs on a GPU."""
    on_gpu = [m.id for m in models if m.on_gpu]
    if not on_gpu:
        return f"no model on the GPU: every loaded model runs on the CPU ({vram.meter} meter, {vram.total_gb:.1f} GB card)"
    return (
        f"{vram.used_gb:.1f} GB used ({', '.join(on_gpu)} on the GPU), {vram.free_gb:.1f} GB free,"
        f" budget {vram.budget_gb:.1f} GB of {vram.total_gb:.1f} GB ({vram.meter})"
    )


def print_json(data: object) -> None:
    """`data` as JSON through the one codec (records become objects, enums their values); paths as text."""
    typer.echo(json.dumps(to_json(data), indent=2, ensure_ascii=False, default=str))


def print_table(rows: Sequence[Row], columns: Sequence[str]) -> None:
    """`columns` of each row (a record's fields or properties, a mapping's keys), under a header; "-" for none."""

    def field(row: Row, column: str) -> object:
        return row.get(column) if isinstance(row, Mapping) else getattr(row, column, None)

    def cell(value: object) -> str:
        if isinstance(value, bool):
            return "yes" if value else "no"
        if isinstance(value, float):
            return f"{value:.2f}"
        return "-" if value is None else str(value)

    table = [[cell(field(row, c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in table)) if table else len(c) for i, c in enumerate(columns)]
    typer.echo("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths)).rstrip())
    for r in table:
        typer.echo("  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip())
