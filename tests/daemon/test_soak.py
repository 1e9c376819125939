"""A short soak (scripts/soak.py, 100 turns of every kind): no descriptor, process or zombie left behind.

Memory growth and latency drift are the benchmark's figures (a 1,000-turn run), not asserted here."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ..espeak import MISSING
from ..pulse import TOOLS

pytestmark = [pytest.mark.soak, pytest.mark.audio,
              pytest.mark.skipif(MISSING or any(shutil.which(t) is None for t in TOOLS),
                                 reason="needs espeak-ng and PulseAudio (scripts/install.sh installs them)")]

ROOT = Path(__file__).resolve().parents[2]


def test_a_hundred_turns_of_every_kind_leak_no_descriptor_or_process(tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "soak.py"), "--turns", "100", "--voice-every", "25",
                           "--out", str(out)], capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(out.read_text())
    kinds = result["kinds"]
    assert {"text", "voice", "spoken", "wyoming", "switch", "reload", "mcp", "kill"} <= set(kinds), kinds
    assert result["fd_growth"] <= 0, result["samples"]
    assert result["children_growth"] <= 0 and result["zombies_at_end"] == 0, result["samples"]
