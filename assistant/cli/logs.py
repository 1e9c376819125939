"""`assistant logs`: the last lines of the daemon's log file, and optionally the new ones as they come."""

from __future__ import annotations

import os
import time
from collections import deque
from pathlib import Path
from typing import TextIO

import typer

POLL_S = 0.5


def print_log(path: Path, lines: int, follow: bool) -> None:
    f: TextIO = path.open(encoding="utf-8", errors="replace")
    try:
        for line in deque(f, maxlen=max(lines, 0)):
            typer.echo(line.rstrip("\n"))
        while follow:
            f = _follow(path, f)
    finally:
        f.close()


def _follow(path: Path, f: TextIO) -> TextIO:
    """Print what is appended to f until the daemon starts a new file; then the new file, from its start."""
    inode = os.fstat(f.fileno()).st_ino
    while True:
        line = f.readline()
        if line:
            typer.echo(line.rstrip("\n"))
            continue
        time.sleep(POLL_S)
        try:
            if os.stat(path).st_ino != inode:  # rotated: daemon.log.1 is the old file now
                f.close()
                return path.open(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            pass  # between the rename and the new file: look again
