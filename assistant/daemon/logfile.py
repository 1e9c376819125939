"""The daemon's own log file, in the state dir: `assistant logs` reads it, for a foreground daemon and the unit alike.

The terminal (or the journal) keeps the level the user chose (`-v` for INFO); the file always has INFO and up,
so what happened while nobody watched (a reminder that rang with no speaker) can be read afterwards.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
from pathlib import Path

from assistant.core.paths import make_private_dir

MAX_BYTES = 1_000_000
BACKUPS = 2  # daemon.log.1, daemon.log.2: about 3 MB in all
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def open_log_file(path: Path) -> logging.Handler:
    make_private_dir(path.parent)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))  # born private: it quotes the user
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8")
    handler.setLevel(logging.INFO)
    handler.setFormatter(logging.Formatter(FORMAT))
    root = logging.getLogger()
    for console in root.handlers:  # the terminal stays at the level it had
        if console.level == logging.NOTSET:
            console.setLevel(root.getEffectiveLevel())
    ours = logging.getLogger("assistant")
    if ours.getEffectiveLevel() > logging.INFO:
        ours.setLevel(logging.INFO)
    ours.addHandler(handler)
    return handler


def close_log_file(handler: logging.Handler) -> None:
    logging.getLogger("assistant").removeHandler(handler)
    handler.close()


def log_refusal(path: Path, message: str) -> None:
    """A daemon that will not start says why in its log file too, not only on stderr: under systemd the
    terminal is the journal, and `assistant logs` (this file) is where the user is told to look."""
    record = logging.LogRecord("assistant.daemon", logging.ERROR, __file__, 0, "refused to start: %s", (message,), None)
    try:
        make_private_dir(path.parent)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as f:
            f.write(logging.Formatter(FORMAT).format(record) + "\n")
    except OSError:
        pass  # no state dir to write to: stderr still has it
