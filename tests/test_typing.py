"""mypy, strict on the package, is part of the suite."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_mypy_strict_on_the_package() -> None:
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-error-summary"], cwd=root, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
