"""The shared dependency store and each checkout's thin `.venv` over it (run by scripts/install.sh).

A store is a full venv under the cache, named by a hash of the dependency list; it holds only the
dependencies (llama.cpp, torch, ...), which take minutes to build. Each checkout's `.venv` is a small real
venv of the same Python whose site-packages holds two `.pth` files: one puts the checkout itself on
`sys.path`, the other adds the store's site-packages. So a checkout never runs another checkout's code,
and swapping the store under it is one file rename. Each thin venv registers itself with its store, and
pruning keeps every store that a living checkout or the installed systemd unit still uses.

    python -m assistant.install.venv_store link  CHECKOUT STORE
    python -m assistant.install.venv_store prune CACHE KEEP
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import sys
import time
import venv
from pathlib import Path

from assistant.core.atomic import write_atomic
from assistant.install.unit import read_exec_start, unit_path

MARKER = "assistant-store"  # in a thin venv: the path of the store it uses
MANIFEST = "assistant-scripts"  # in a thin venv: the bin/ entries copied from the store
USERS = ".users"  # in the cache: USERS/<store name>/<id> holds the path of a thin venv that uses it
CHECKOUT_PTH = "_assistant_0_checkout.pth"  # sorted first, so the checkout wins over anything in the store
STORE_PTH = "_assistant_1_store.pth"
# A store still being built by another install has no .complete yet; leave it alone for this long.
BUILDING_GRACE_S = 24 * 3600


def site_packages(env: Path) -> Path:
    return env / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"


def _is_thin(env: Path) -> bool:
    cfg = env / "pyvenv.cfg"
    if env.is_symlink() or not cfg.is_file():
        return False
    version = ".".join(map(str, sys.version_info[:3]))
    return any(line.replace(" ", "") == f"version={version}" for line in cfg.read_text().splitlines())


def _copy_scripts(store: Path, env: Path) -> list[str]:
    """Give the thin venv the store's commands (pytest, pip, ...) running on the thin venv's Python."""
    store_python = str(store / "bin" / "python")
    names = []
    for entry in sorted((store / "bin").iterdir()):
        name = entry.name
        if name.startswith(("python", "activate", "Activate")) or name == "assistant":
            continue
        target = env / "bin" / name
        head = entry.read_bytes()[:512] if entry.is_file() else b""
        first = head.split(b"\n", 1)[0].decode(errors="replace")
        if first.startswith("#!") and first[2:].strip().startswith(store_python):
            body = entry.read_text()
            write_atomic(target, f"#!{env / 'bin' / 'python'}\n" + body.split("\n", 1)[1], 0o755)
        else:
            if target.is_symlink() or target.exists():
                target.unlink()
            target.symlink_to(entry)
        names.append(name)
    return names


def link(checkout: Path, store: Path, cache: Path) -> Path:
    """Make (or re-point) checkout/.venv as a thin venv over `store`; returns the venv's path."""
    env = checkout / ".venv"
    if env.is_symlink():
        env.unlink()  # the old layout linked .venv to the store itself: drop the link, never the store
    elif env.exists() and not _is_thin(env):
        shutil.rmtree(env)
    if not env.exists():
        venv.EnvBuilder(with_pip=False, symlinks=True).create(env)
    sp = site_packages(env)
    write_atomic(sp / CHECKOUT_PTH, f"{checkout}\n", 0o644)
    write_atomic(sp / STORE_PTH, f"import site; site.addsitedir({str(site_packages(store))!r})\n", 0o644)
    old = (env / MANIFEST).read_text().split() if (env / MANIFEST).exists() else []
    names = _copy_scripts(store, env)
    for stale in set(old) - set(names):
        (env / "bin" / stale).unlink(missing_ok=True)
    write_atomic(env / MANIFEST, "\n".join(names) + "\n", 0o644)
    # Our own console script: it imports whatever `assistant` this venv sees, which is this checkout.
    # The guard matters: each model worker is a spawned process that imports this file as __mp_main__,
    # and without it every worker would run `assistant run` again instead of loading its model.
    write_atomic(
        env / "bin" / "assistant",
        f"#!{env / 'bin' / 'python'}\nimport sys\n\nfrom assistant.cli.app import main\n\n"
        'if __name__ == "__main__":\n    sys.exit(main())\n',
        0o755,
    )
    write_atomic(env / MARKER, f"{store}\n", 0o644)
    register(cache, store.name, env)
    return env


def _user_file(cache: Path, store_name: str, env: Path) -> Path:
    return cache / USERS / store_name / hashlib.sha256(str(env).encode()).hexdigest()[:16]


def register(cache: Path, store_name: str, env: Path) -> None:
    path = _user_file(cache, store_name, env)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, f"{env}\n", 0o644)


def store_of(env: Path) -> str | None:
    """The name of the store a venv uses: a thin venv's marker, or the store an old-style link points at."""
    marker = env / MARKER
    if marker.is_file():
        return Path(marker.read_text().strip()).name
    if env.is_symlink():
        return env.resolve().name
    return None


def live_users(cache: Path, store_name: str) -> list[Path]:
    """Thin venvs that still use this store; registrations of deleted or re-pointed venvs are dropped."""
    users = []
    folder = cache / USERS / store_name
    for entry in sorted(folder.iterdir()) if folder.is_dir() else []:
        env = Path(entry.read_text().strip())
        if store_of(env) == store_name:
            users.append(env)
        else:
            entry.unlink()
    return users


def unit_store(cache: Path) -> str | None:
    """The store the installed systemd unit runs on, if it runs on one of this cache's stores."""
    argv = read_exec_start(unit_path())
    if not argv:
        return None
    env = Path(argv[0]).parent.parent  # <venv>/bin/<program>
    name = store_of(env)
    if name is not None:
        return name
    for store in _stores(cache):
        if env.resolve() == store.resolve():
            return store.name  # a unit written before thin venvs: its interpreter is in the store
    return None


def _stores(cache: Path) -> list[Path]:
    return [p for p in cache.iterdir() if p.is_dir() and not p.name.startswith(".")] if cache.is_dir() else []


def _built_at(store: Path) -> float:
    done = store / ".complete"
    return done.stat().st_mtime if done.exists() else store.lstat().st_mtime


def prune(cache: Path, keep: str) -> list[str]:
    """Remove stores nobody uses, keeping `keep` and the newest other one (a quick way back); says what it did."""
    said = []
    used_by_unit = unit_store(cache)
    others = sorted((s for s in _stores(cache) if s.name != keep), key=_built_at, reverse=True)
    previous = next((s.name for s in others if (s / ".complete").exists()), None)
    for store in others:
        users = live_users(cache, store.name)
        if store.name in (previous, used_by_unit) or users:
            continue
        if not (store / ".complete").exists() and time.time() - _built_at(store) < BUILDING_GRACE_S:
            continue  # maybe another install is building it right now
        said.append(f"removing store {store} (no checkout or unit uses it)")
        if store.is_symlink():
            store.unlink()  # never follow a link into someone else's directory
        else:
            shutil.rmtree(store)
        shutil.rmtree(cache / USERS / store.name, ignore_errors=True)
    return said


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m assistant.install.venv_store", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    link_p = sub.add_parser("link", help="make CHECKOUT/.venv a thin venv over STORE")
    link_p.add_argument("checkout", type=Path)
    link_p.add_argument("store", type=Path)
    prune_p = sub.add_parser("prune", help="remove the stores in CACHE that nothing uses, except KEEP")
    prune_p.add_argument("cache", type=Path)
    prune_p.add_argument("keep")
    args = parser.parse_args()
    if args.command == "link":
        env = link(args.checkout.absolute(), args.store.absolute(), args.store.absolute().parent)
        print(f"{env} uses {args.store}")
    else:
        for line in prune(args.cache.absolute(), args.keep):
            print(line)


if __name__ == "__main__":
    main()
