"""Private JSON-lines logs (the alarms that rang, the dictations): appended, 0600, trimmed to the newest lines."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from assistant.core.atomic import write_atomic
from assistant.core.paths import make_private_dir


def append_line(path: Path, entry: Mapping[str, Any], keep: int) -> None:
    """Append one JSON line; past twice `keep` lines, only the newest `keep` stay. OSError is the caller's."""
    make_private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)  # born private: it is the user's text
    with os.fdopen(fd, "a") as f:
        f.write(json.dumps(dict(entry), ensure_ascii=False) + "\n")
    lines = path.read_text().splitlines()
    if len(lines) > 2 * keep:  # trimmed now and then, not at every line
        write_atomic(path, "\n".join(lines[-keep:]) + "\n")
