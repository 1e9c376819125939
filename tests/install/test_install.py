"""scripts/install.sh in fresh clones: each checkout runs its own code, and the systemd unit survives
other checkouts, dependency changes and pruning.

The clones use a private store cache (ASSISTANT_VENV_CACHE) whose stores link to the packages of the store
this checkout already uses (ASSISTANT_STORE_FROM), so nothing is compiled and the real store is never touched.
The clones take the last commit of this checkout: commit before running these tests.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from assistant.api.client import Client
from assistant.install.service import verify

pytestmark = pytest.mark.install

ROOT = Path(__file__).resolve().parents[2]


def real_store() -> Path:
    """The store this checkout's .venv uses (a thin venv's marker, or the link of the old layout)."""
    env = ROOT / ".venv"
    marker = env / "assistant-store"
    store = Path(marker.read_text().strip()) if marker.is_file() else env.resolve()
    if not (store / ".complete").is_file():
        pytest.skip("run scripts/install.sh first: these tests link to its dependency store")
    return store


@dataclass
class World:
    tmp: Path
    env: dict[str, str]

    @property
    def cache(self) -> Path:
        return Path(self.env["ASSISTANT_VENV_CACHE"])

    @property
    def unit(self) -> Path:
        return Path(self.env["XDG_CONFIG_HOME"]) / "systemd/user/assistant.service"

    def run(
        self, *argv: str | Path, cwd: Path | None = None, timeout: float = 300, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(a) for a in argv], cwd=cwd or self.tmp / "home", env=env or self.env, capture_output=True, text=True,
            timeout=timeout,
        )

    def clone(self, name: str) -> Path:
        checkout = self.tmp / name
        subprocess.run(["git", "clone", "-q", str(ROOT), str(checkout)], check=True, timeout=120)
        return checkout

    def install(self, checkout: Path, env: dict[str, str] | None = None) -> str:
        proc = self.run(checkout / "scripts/install.sh", cwd=checkout, env=env)
        assert proc.returncode == 0, proc.stderr
        return proc.stderr

    def imports_from(self, checkout: Path) -> Path:
        """Where the checkout's .venv imports `assistant` from, started outside the checkout."""
        proc = self.run(checkout / ".venv/bin/python", "-c", "import assistant, llama_cpp; print(assistant.__file__)")
        assert proc.returncode == 0, proc.stderr
        return Path(proc.stdout.strip()).parent.parent

    def exec_start(self) -> list[str]:
        line = next(x for x in self.unit.read_text().splitlines() if x.startswith("ExecStart="))
        return shlex.split(line.removeprefix("ExecStart="))

    def unit_runs(self) -> str:
        """`--version` through the unit's ExecStart program: it names the code it runs."""
        proc = self.run(self.exec_start()[0], "--version")
        assert proc.returncode == 0, proc.stderr
        return proc.stdout


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("install")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    for var, sub in (("XDG_CONFIG_HOME", "config"), ("XDG_STATE_HOME", "state"), ("XDG_DATA_HOME", "data"),
                     ("XDG_RUNTIME_DIR", "run")):
        (tmp / sub).mkdir(mode=0o700)
        env[var] = str(tmp / sub)
    (tmp / "home").mkdir()  # the commands run from here, as systemd runs the unit from $HOME
    env["ASSISTANT_VENV_CACHE"] = str(tmp / "cache")
    env["ASSISTANT_STORE_FROM"] = str(real_store())
    env["ASSISTANT_BIN_DIR"] = str(tmp / "bin")  # never the real ~/.local/bin
    yield World(tmp, env)


def change_dependencies(checkout: Path, requirement: str) -> None:
    """A dependency change as a `git pull` brings one: a new line in the dev extra (a new store key)."""
    pyproject = checkout / "pyproject.toml"
    text = pyproject.read_text()
    assert 'dev = [\n' in text
    pyproject.write_text(text.replace('dev = [\n', f'dev = [\n    "{requirement}",\n', 1))


def test_each_checkout_runs_its_own_code_and_the_unit_survives(world: World) -> None:
    a = world.clone("A")
    world.install(a)
    assert world.imports_from(a) == a
    assert not (a / ".venv").is_symlink()

    installed = world.run(a / ".venv/bin/assistant", "service", "install", "--no-start")
    assert installed.returncode == 0, installed.stderr
    text = world.unit.read_text()
    assert world.exec_start() == [str(a / ".venv/bin/assistant"), "run"]
    assert f"Documentation={(a / 'README.md').as_uri()}" in text
    again = world.run(a / ".venv/bin/assistant", "service", "install", "--no-start")
    assert again.returncode == 0 and "unchanged" in again.stdout
    assert world.unit.read_text() == text

    b = world.clone("B")
    said = world.install(b)
    assert f"runs {a}; left as it is" in said  # B's install does not take over A's unit
    assert world.unit.read_text() == text
    assert world.imports_from(b) == b
    assert world.imports_from(a) == a
    assert f"({a / 'assistant'})" in world.unit_runs()

    doctor_a = json.loads(world.run(a / ".venv/bin/assistant", "doctor", "--json").stdout)
    unit_a = next(c for c in doctor_a if c["name"] == "systemd unit")
    assert unit_a["ok"] and "runs this checkout" in unit_a["detail"], unit_a
    doctor_b = json.loads(world.run(b / ".venv/bin/assistant", "doctor", "--json").stdout)
    unit_b = next(c for c in doctor_b if c["name"] == "systemd unit")
    assert not unit_b["ok"] and f"runs {a}, not this checkout" in unit_b["detail"], unit_b

    shutil.rmtree(b)
    assert world.imports_from(a) == a
    assert f"({a / 'assistant'})" in world.unit_runs()


def test_dependency_changes_prune_only_unused_stores(world: World) -> None:
    a = world.tmp / "A"  # installed, with its unit, by the test above
    if not (a / ".venv").is_dir():
        pytest.skip("needs the checkout and unit of the test above")
    first = Path((a / ".venv/assistant-store").read_text().strip())
    c = world.clone("C")  # another checkout that stays on the first store
    world.install(c)
    assert Path((c / ".venv/assistant-store").read_text().strip()) == first

    # A unit from an older install (no Documentation line): A's install refreshes it, and says so.
    world.unit.write_text(world.unit.read_text().replace(f"Documentation={(a / 'README.md').as_uri()}\n", ""))
    change_dependencies(a, "six>=1")
    said = world.install(a)
    assert "updated" in said and str(world.unit) in said
    assert (a / "README.md").as_uri() in world.unit.read_text()
    second = Path((a / ".venv/assistant-store").read_text().strip())
    assert second != first

    change_dependencies(a, "six>=1.1")
    world.install(a)
    third = Path((a / ".venv/assistant-store").read_text().strip())
    assert len({first, second, third}) == 3
    assert first.is_dir()  # C still uses it: kept, although it is the oldest
    assert world.imports_from(c) == c

    shutil.rmtree(c)
    said = world.install(a)
    assert f"removing store {first}" in said
    assert not first.exists() and second.is_dir() and third.is_dir()
    assert world.imports_from(a) == a

    # The unit written before both changes still starts the daemon on A's code and the newest store.
    daemon = subprocess.Popen(
        [*world.exec_start(), "--simulate-gpu", "16", "--no-audio", "--no-hotkeys"],
        cwd=world.tmp / "home", env=world.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    socket = Path(world.env["XDG_RUNTIME_DIR"]) / "assistant/control.sock"
    try:
        status = None
        deadline = time.monotonic() + 300
        while status is None and daemon.poll() is None and time.monotonic() < deadline:
            try:
                with Client(socket, timeout=5) as client:
                    status = client.call("status")
            except Exception:
                time.sleep(0.5)
        assert status is not None, daemon.stdout.read() if daemon.stdout and daemon.poll() is not None else "no status"
        assert status["pid"] == daemon.pid
        # And its models load: each worker is a spawned process that re-imports the unit's program.
        loaded: list[str] = []
        while not loaded and daemon.poll() is None and time.monotonic() < deadline:
            with Client(socket, timeout=5) as client:
                loaded = [m["id"] for m in client.call("vram.status")["models"] if m["state"] == "idle"]
            time.sleep(0.5)
        assert loaded, "no model loaded under the unit's ExecStart"
    finally:
        world.run(a / ".venv/bin/assistant", "shutdown")
        try:
            daemon.wait(timeout=60)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()


def test_unit_passes_systemd_analyze_verify(world: World) -> None:
    if not world.unit.is_file():
        pytest.skip("needs the unit of the tests above")
    checked = verify(world.unit)
    assert checked.returncode == 0, checked.stderr


def fake_store(cache: Path, name: str, built_at: float) -> Path:
    """A store as prune sees one: a directory with .complete (no packages: prune never looks inside)."""
    store = cache / name
    (store / "bin").mkdir(parents=True)
    (store / ".complete").touch()
    os.utime(store / ".complete", (built_at, built_at))
    return store


def test_prune_keeps_what_a_unit_or_checkout_uses_and_never_follows_links(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from assistant.install.venv_store import prune, register

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    cache = tmp_path / "cache"
    now = time.time()
    old_unit_store = fake_store(cache, "a-unit", now - 500)  # a unit written before thin venvs runs its python
    used = fake_store(cache, "b-used", now - 400)
    outside = tmp_path / "elsewhere"
    (outside / "bin").mkdir(parents=True)
    (outside / "keep-me").touch()
    (outside / ".complete").touch()
    os.utime(outside / ".complete", (now - 300, now - 300))
    (cache / "c-link").symlink_to(outside)
    fake_store(cache, "d-previous", now - 200)
    fake_store(cache, "e-current", now - 100)
    user = tmp_path / "checkout/.venv"
    user.mkdir(parents=True)
    (user / "assistant-store").write_text(f"{used}\n")
    register(cache, used.name, user)
    gone_user = tmp_path / "deleted/.venv"  # registered, then its checkout was deleted
    register(cache, "d-previous", gone_user)
    unit = tmp_path / "config/systemd/user/assistant.service"
    unit.parent.mkdir(parents=True)
    unit.write_text(f"[Service]\nExecStart={old_unit_store}/bin/python -m assistant run\n")

    said = prune(cache, "e-current")
    assert said == [f"removing store {cache / 'c-link'} (no checkout or unit uses it)"]
    assert sorted(p.name for p in cache.iterdir()) == [".users", "a-unit", "b-used", "d-previous", "e-current"]
    assert (outside / "keep-me").exists()  # the link went, not what it pointed at
    assert not (cache / ".users/d-previous").exists() or not any((cache / ".users/d-previous").iterdir())

    (user / "assistant-store").write_text(f"{cache / 'e-current'}\n")  # the checkout moved on
    unit.unlink()
    said = prune(cache, "e-current")
    assert sorted(p.name for p in cache.iterdir()) == [".users", "d-previous", "e-current"], said


def test_a_unit_whose_program_is_a_directory_is_reported_not_raised(tmp_path: Path) -> None:
    from assistant.install.service import inspect_unit

    unit = tmp_path / "assistant.service"
    unit.write_text(f"[Service]\nExecStart={tmp_path} run\n")  # a directory passes the executable check
    target = inspect_unit(unit)
    assert target.problem is not None and "interpreter" in target.problem


def test_install_puts_assistant_on_path_and_says_which_checkout_it_runs(world: World) -> None:
    home = world.tmp / "user"
    home.mkdir()
    env = {k: v for k, v in world.env.items() if k != "ASSISTANT_BIN_DIR"}
    env.update(HOME=str(home), PATH="/usr/bin:/bin")  # a user whose PATH lacks ~/.local/bin
    link = home / ".local/bin/assistant"

    first = world.clone("on-path-1")
    said = world.install(first, env)
    assert f"linked ~/.local/bin/assistant -> {first}/.venv/bin/assistant" in said, said
    assert 'export PATH="$HOME/.local/bin:$PATH"' in said  # the one line to add
    assert link.resolve() == (first / ".venv/bin/assistant").resolve()
    assert str(first) in world.run(link, "--version", env=env).stdout  # it runs that checkout's code

    env["PATH"] = f"{home / '.local/bin'}:/usr/bin:/bin"
    second = world.clone("on-path-2")
    said = world.install(second, env)
    assert f"now runs this checkout ({second}); it ran {first} before" in said, said
    assert "not on your PATH" not in said
    assert str(second) in world.run("assistant", "--version", env=env).stdout  # found on PATH
    assert "runs this checkout" in world.install(second, env)  # again: nothing changes, and it says so

    link.unlink()
    link.write_text("#!/bin/sh\necho the user's own\n")  # not ours: never overwritten
    said = world.install(second, env)
    assert "is not a link this installer made: left alone" in said, said
    assert link.read_text().startswith("#!/bin/sh")
