"""Output paths given to `say --out` and `converse --out`: whatever the path, one clear line, no traceback, no stray file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from assistant.cli.app import app
from assistant.core.paths import Paths

pytestmark = pytest.mark.quick

NAME = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="/\x00"), min_size=1, max_size=12)
SUFFIX = st.sampled_from(["", ".mp3", ".WAVE", ".txt", ".wav.bak", "."])


def _kinds(root: Path) -> st.SearchStrategy[Path]:
    return st.one_of(
        st.just(root),  # a directory
        st.builds(lambda n, s: root / f"{n}{s}", NAME, SUFFIX),  # not a .wav name
        st.builds(lambda d, n: root / "missing" / d / f"{n}.wav", NAME, NAME),  # a directory that is not there
        st.builds(lambda n: root / "file.txt" / f"{n}.wav", NAME),  # a file where a directory should be
    )


@pytest.mark.parametrize("command", ["say", "converse"])
def test_a_bad_output_path_is_one_line_and_leaves_nothing_behind(command: str, xdg: Paths, tmp_path: Path) -> None:
    root = tmp_path / "out"
    root.mkdir()
    (root / "file.txt").write_text("not a directory")
    question = tmp_path / "q.wav"
    question.write_bytes(b"")  # never read: the output path is checked first
    runner = CliRunner()

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(_kinds(root))
    def check(out: Path) -> None:
        args = ["say", "hello", "--out", str(out)] if command == "say" else ["converse", "--audio", str(question), "--out", str(out)]
        before = sorted(os.walk(root))
        result = runner.invoke(app, args)
        assert result.exit_code == 1, result.output
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: --out "), result.output
        assert "Traceback" not in result.output and result.exception is None or isinstance(result.exception, SystemExit)
        assert sorted(os.walk(root)) == before  # no 0-byte file, no directory made

    check()
