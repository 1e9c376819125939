"""`assistant` on the user's PATH: a link in ~/.local/bin to a checkout's .venv/bin/assistant, as pipx and uv do.

Run by scripts/install.sh:

    python -m assistant.install.command_link CHECKOUT

A link another checkout made is re-pointed, and the message says which checkout the command ran before;
a file there that is not a link (the user's own script, a pip install) is left alone.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def bin_dir() -> Path:
    """~/.local/bin (the XDG and systemd file-hierarchy place for a user's commands); ASSISTANT_BIN_DIR moves it."""
    override = os.environ.get("ASSISTANT_BIN_DIR")
    return Path(override) if override else Path.home() / ".local" / "bin"


def _shown(path: Path) -> str:
    home = str(Path.home())
    text = str(path)
    return "~" + text[len(home) :] if home != "/" and (text == home or text.startswith(home + "/")) else text


def _checkout_of(target: Path) -> Path:
    return target.parent.parent.parent  # <checkout>/.venv/bin/assistant


def link_command(checkout: Path, directory: Path, path_env: str) -> list[str]:
    """Make directory/assistant run this checkout; returns what to tell the user, one line each."""
    target = checkout / ".venv" / "bin" / "assistant"
    link = directory / "assistant"
    lines: list[str] = []
    if link.is_symlink():
        before = Path(os.readlink(link))
        if before == target:
            lines.append(f"`assistant` on PATH: {_shown(link)} runs this checkout")
        else:
            _replace_link(link, target)
            lines.append(
                f"`assistant` on PATH now runs this checkout ({checkout}); it ran {_checkout_of(before)} before"
            )
    elif link.exists():
        return [
            f"{_shown(link)} exists and is not a link this installer made: left alone; "
            f"run {target} directly, or remove {_shown(link)} and run scripts/install.sh again"
        ]
    else:
        directory.mkdir(parents=True, exist_ok=True)
        _replace_link(link, target)
        lines.append(f"linked {_shown(link)} -> {target}")
    on_path = any(Path(entry) == directory for entry in path_env.split(os.pathsep) if entry)
    if not on_path:
        lines.append(
            f"{_shown(directory)} is not on your PATH; add this line to ~/.profile (or your shell's rc file): "
            f'export PATH="{_shown(directory).replace("~", "$HOME", 1)}:$PATH"'
        )
    return lines


def _replace_link(link: Path, target: Path) -> None:
    """Swap the link in one rename, so `assistant` never disappears for a moment."""
    tmp = link.with_name(f".{link.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(target)
    os.replace(tmp, link)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m assistant.install.command_link", description=__doc__.splitlines()[0])
    parser.add_argument("checkout", type=Path)
    args = parser.parse_args(argv)
    for line in link_command(args.checkout.resolve(), bin_dir(), os.environ.get("PATH", "")):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
