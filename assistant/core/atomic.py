"""Atomic file writes: a crash mid-write leaves the old file, never half a file, and a reader never sees half."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from assistant.core.paths import make_private_dir


def write_atomic(path: Path, text: str, mode: int = 0o600) -> None:
    """Replace `path` with `text` in one rename.

    The temporary file has a unique name in the same directory (two writers never share it) and is
    fsynced before the rename, so after a power cut the path holds the old text or the new, whole.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)  # mkstemp makes it 0600; a script or a unit file needs more
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_json_atomic(path: Path, data: object) -> None:
    make_private_dir(path.parent)  # state files hold the user's choices: keep them to the user
    write_atomic(path, json.dumps(data, indent=2, sort_keys=True))
