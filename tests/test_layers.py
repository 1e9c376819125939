"""The tree is the architecture: the layer contract holds, no module imports itself back, few modules at the root."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grimp
import pytest

pytestmark = pytest.mark.quick  # pure logic: runs on the light store

ROOT = Path(__file__).resolve().parent.parent


def test_the_layer_contract_in_pyproject_holds() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", "from importlinter.cli import lint_imports_command; lint_imports_command()"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 broken" in proc.stdout


def test_no_import_cycles_type_checking_imports_included() -> None:
    graph = grimp.build_graph("assistant", include_external_packages=False, exclude_type_checking_imports=False)
    cycles = []
    for module in sorted(graph.modules):
        for imported in graph.find_modules_directly_imported_by(module):
            # A path back from what it imports to the module itself closes a cycle.
            back = graph.find_shortest_chain(importer=imported, imported=module)
            if back is not None:
                cycles.append(" -> ".join([module, *back]))
    assert cycles == []


def test_at_most_three_modules_at_the_root() -> None:
    at_root = sorted(p.name for p in (ROOT / "assistant").glob("*.py"))
    assert len(at_root) <= 3, at_root
    # Each layer is one package; the contract must name every one of them, so none can slip past it.
    packages = {p.parent.name for p in (ROOT / "assistant").glob("*/__init__.py")}
    contract = (ROOT / "pyproject.toml").read_text()
    assert [p for p in sorted(packages) if f'"assistant.{p}' not in contract and f"| assistant.{p}" not in contract] == []
