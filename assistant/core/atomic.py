"""Atomic JSON writes: a crash mid-write leaves the old file, never half a file."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from assistant.core.paths import make_private_dir


def write_json_atomic(path: Path, data: Any) -> None:
    make_private_dir(path.parent)  # state files hold the user's choices: keep them to the user
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
