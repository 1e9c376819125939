"""The CLI's shared output: tables of records or mappings, and JSON through the one codec."""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from assistant.cli.common import print_json, print_table
from assistant.cli.doctor import Check

pytestmark = pytest.mark.quick


class Shade(enum.Enum):
    DARK = "dark"


@dataclass(frozen=True)
class Row:
    id: str
    size: float
    on: bool
    note: str | None
    shade: Shade

    @property
    def label(self) -> str:
        return self.id.upper()


def test_a_table_of_records_reads_as_a_table_of_mappings(capsys: pytest.CaptureFixture[str]) -> None:
    columns = ["id", "label", "size", "on", "note"]
    print_table([Row("a", 0.5, True, None, Shade.DARK)], columns)
    records = capsys.readouterr().out
    print_table([{"id": "a", "label": "A", "size": 0.5, "on": True}], columns)  # no note: "-" as for None
    assert records == capsys.readouterr().out == "ID  LABEL  SIZE  ON   NOTE\na   A      0.50  yes  -\n"


def test_json_of_records_is_their_fields(capsys: pytest.CaptureFixture[str]) -> None:
    print_json({"rows": [Row("a", 0.5, True, None, Shade.DARK)], "path": Path("/tmp/x"),
                "checks": [Check("gpu", False, "no NVIDIA GPU")]})
    assert json.loads(capsys.readouterr().out) == {
        "rows": [{"id": "a", "size": 0.5, "on": True, "note": None, "shade": "dark"}],
        "path": "/tmp/x",
        "checks": [{"name": "gpu", "ok": False, "detail": "no NVIDIA GPU"}],
    }
