"""Real desktops for the typing tests: an X server (Xvfb) with xterm, and a headless sway with foot.

Each terminal runs `cat` with the tty in non-canonical mode into a file, so what is typed into it can be
read back as it arrives. sway refuses to run as root, so it runs as a throwaway user; root can still use
that user's Wayland socket.
"""

from __future__ import annotations

import os
import pwd
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from .waiting import wait_for

SWAY_USER = "assistant-sway-test"


class Xvfb:
    def __init__(self) -> None:
        # -displayfd lets the server pick a free display number and tell us which.
        read_end, write_end = os.pipe()
        self.proc = subprocess.Popen(
            ["Xvfb", "-displayfd", str(write_end), "-nolisten", "tcp", "-screen", "0", "320x240x24"],
            pass_fds=(write_end,),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(write_end)
        # The server writes the number and then a newline in a second write; closing the
        # pipe between the two makes it die with "Cannot write display number".
        text = b""
        try:
            while not text.endswith(b"\n"):
                ready, _, _ = select.select([read_end], [], [], 10)
                chunk = os.read(read_end, 16) if ready else b""
                if not chunk:
                    break
                text += chunk
        finally:
            os.close(read_end)
        number = text.decode().strip()
        if not number:
            self.stop()
            pytest.fail("Xvfb did not report a display number within 10 s")
        self.display = f":{number}"

    def stop(self) -> None:
        stop_process(self.proc)


def stop_process(proc: subprocess.Popen[Any], timeout: float = 5.0) -> None:
    """Ask a child process to end, and kill it if it has not within `timeout`."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def wait_for_file(path: Path, timeout: float = 15.0) -> None:
    wait_for(path.exists, timeout, interval=0.05, what=f"{path} to appear (the terminal did not start)")


class Xterm:
    """An xterm filling the Xvfb screen, focused, writing what it is typed into `out`."""

    def __init__(self, display: str, out: Path) -> None:
        self.env = {**os.environ, "DISPLAY": display}
        self.out = out
        script = f"stty -icanon -echo; exec cat > {out}"
        self.proc = subprocess.Popen(
            ["xterm", "-geometry", "80x20+0+0", "-xrm", "XTerm*VT100.translations: #override "
             "Ctrl Shift <Key>V: insert-selection(CLIPBOARD)", "-e", "sh", "-c", script],
            env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_for_file(out)
        # No window manager: focus the terminal by hand (the pointer is over it too, for PointerRoot).
        subprocess.run(["xdotool", "search", "--sync", "--class", "xterm", "windowfocus", "--sync"], env=self.env,
                       check=True, timeout=15, capture_output=True)
        subprocess.run(["xdotool", "mousemove", "100", "100"], env=self.env, check=True, timeout=15)

    def text(self) -> str:
        return self.out.read_text(errors="replace")

    def stop(self) -> None:
        stop_process(self.proc)


def _sway_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(SWAY_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--create-home", SWAY_USER], check=True, capture_output=True)
        return pwd.getpwnam(SWAY_USER)


class Sway:
    """A headless sway (pixman renderer, no input devices) running foot, which writes what it is typed to `out`."""

    def __init__(self) -> None:
        if os.geteuid() == 0:
            user = _sway_user()
        else:
            user = pwd.getpwuid(os.getuid())
        # Not under pytest's tmp_path: root's is 0700, and the sway user must reach its config and its file.
        self.base = Path(tempfile.mkdtemp(prefix="assistant-sway-"))
        self.base.chmod(0o755)
        self.runtime = self.base / "run"
        self.runtime.mkdir(mode=0o700)
        os.chown(self.runtime, user.pw_uid, user.pw_gid)
        typed = self.base / "typed"
        typed.mkdir(mode=0o777)
        typed.chmod(0o777)
        out = self.out = typed / "foot.txt"
        config = self.base / "sway.config"
        config.write_text(f"exec foot -e sh -c 'stty -icanon -echo; exec cat > {out}'\n")
        config.chmod(0o644)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": user.pw_dir, "XDG_RUNTIME_DIR": str(self.runtime),
               "WLR_BACKENDS": "headless", "WLR_RENDERER": "pixman", "WLR_LIBINPUT_NO_DEVICES": "1"}
        argv = ["sway", "-c", str(config)]
        if os.geteuid() == 0:
            argv = ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--init-groups", *argv]
        self.proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while not (self.runtime / "wayland-1").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        if not (self.runtime / "wayland-1").exists():
            self.stop()
            pytest.fail("headless sway did not start within 15 s")
        wait_for_file(out)
        time.sleep(0.5)  # foot maps its window and takes the keyboard focus
        self.env = {**os.environ, "WAYLAND_DISPLAY": "wayland-1", "XDG_RUNTIME_DIR": str(self.runtime)}
        self.env.pop("DISPLAY", None)
        sock = next(self.runtime.glob("sway-ipc.*.sock"), None)
        if sock is not None:
            self.env["SWAYSOCK"] = str(sock)

    def text(self) -> str:
        return self.out.read_text(errors="replace")

    def stop(self) -> None:
        stop_process(self.proc)
        shutil.rmtree(self.base, ignore_errors=True)


X11_MISSING = tuple(t for t in ("Xvfb", "xterm", "xdotool", "xclip") if shutil.which(t) is None)
SWAY_MISSING = tuple(t for t in ("sway", "foot", "wtype", "wl-copy", "setpriv") if shutil.which(t) is None)
