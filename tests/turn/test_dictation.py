"""Dictation: words said while the dictation key is held are typed into the focused window.

The typing methods run against real desktops (Xvfb with xterm; a headless sway with foot); the whole
dictation runs on the real daemon, with espeak-ng speech fed into the PulseAudio mic.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from assistant.core.paths import Paths
from assistant.keyboard.chain import build_chain, type_edit
from assistant.keyboard.clipboard import Clipboard
from assistant.keyboard.typing import Edit, TypingFailed, Wtype, Xdotool
from assistant.keyboard.xtest import Xtest
from assistant.turn.shaping import Shaper

from ..daemon_process import DaemonProcess
from ..desktop import SWAY_MISSING, X11_MISSING, Sway, Xterm, Xvfb
from ..espeak import espeak, silence
from ..pulse import Pulse, pulse  # noqa: F401  (the session fixture)
from ..speech import wer
from ..tool_services import Desktop, SessionBus
from ..waiting import wait_for

pytestmark = pytest.mark.dictation

UNICODE = "é ß “quotes” 🎉"


def showing(read: Callable[[], str]) -> Callable[[], str]:
    """For wait_for's `what`: the window's text when the wait gave up."""
    return lambda: f"the text typed (the window shows {read()!r})"


# ---------------------------------------------------------------------- shaping (pure)


@pytest.mark.quick
def test_spoken_punctuation_and_commands_become_marks() -> None:
    shaper = Shaper()
    assert shaper.phrase("Hello comma world.").text == "Hello, world."
    assert shaper.phrase("How are you question mark").text == " How are you?"
    assert shaper.phrase("New line. I am fine, full stop.").text == "\nI am fine."
    assert shaper.phrase("new paragraph").text == "\n\n"
    assert shaper.typed == "Hello, world. How are you?\nI am fine.\n\n"


@pytest.mark.quick
def test_scratch_that_removes_what_the_last_phrase_typed() -> None:
    shaper = Shaper()
    shaper.phrase("The meeting is on Monday.")
    wrong = shaper.phrase("It starts at nine.")
    assert shaper.phrase("Scratch that.") == Edit(len(wrong.text), "")
    assert shaper.phrase("It starts at ten.").text == " It starts at ten."
    assert shaper.typed == "The meeting is on Monday. It starts at ten."
    # Inside a phrase it drops only the words before it.
    assert Shaper().phrase("Send it Friday scratch that send it Monday.").text == "Send it Monday."


@pytest.mark.quick
def test_replacements_and_the_case_and_space_that_continue_the_last_phrase() -> None:
    shaper = Shaper({"gee pee you": "GPU", "doc ker": "Docker"})
    assert shaper.phrase("The gee pee you runs doc ker").text == "The GPU runs Docker"
    assert shaper.phrase("And it is fast.").text == " and it is fast."  # mid-sentence: no capital
    assert shaper.phrase("It is.").text == " It is."  # after a full stop: a capital
    assert shaper.phrase("I think so.").text == " I think so."
    assert shaper.phrase(UNICODE).text == " " + UNICODE[0].upper() + UNICODE[1:]


# ---------------------------------------------------------------------- the typing methods on real desktops


@pytest.fixture
def x11(tmp_path: Path) -> Iterator[tuple[Xvfb, Xterm]]:
    if X11_MISSING:
        pytest.skip(f"{', '.join(X11_MISSING)} not installed (Debian packages xvfb, xterm, xdotool, xclip)")
    server = Xvfb()
    term = Xterm(server.display, tmp_path / "xterm.txt")
    yield server, term
    term.stop()
    server.stop()


@pytest.fixture
def sway() -> Iterator[Sway]:
    if SWAY_MISSING:
        pytest.skip(f"{', '.join(SWAY_MISSING)} not installed (Debian packages sway, foot, wtype, wl-clipboard)")
    compositor = Sway()
    yield compositor
    compositor.stop()


def test_xtest_types_unicode_and_erases_into_xterm(x11: tuple[Xvfb, Xterm]) -> None:
    _, term = x11
    method = Xtest(term.env)
    assert method.problem() is None
    asyncio.run(method.apply(Edit(0, f"Hello {UNICODE}.")))
    wait_for(lambda: term.text() == f"Hello {UNICODE}.", timeout=10, interval=0.05, what=showing(term.text))
    asyncio.run(method.apply(Edit(2, "!")))  # backspaces reach the terminal as DEL bytes
    wait_for(lambda: term.text().endswith("\x7f\x7f!"), timeout=10, interval=0.05, what=showing(term.text))


def test_wtype_never_loses_the_first_character_and_keeps_unicode(sway: Sway) -> None:
    method = Wtype(sway.env)
    assert method.problem() is None
    for i in range(8):  # the keymap wait is what keeps "[" (seen lost 14 times in 15 without it)
        asyncio.run(method.apply(Edit(0, f"[{i}]")))
    asyncio.run(method.apply(Edit(0, f" {UNICODE}")))
    expected = "".join(f"[{i}]" for i in range(8)) + f" {UNICODE}"
    wait_for(lambda: sway.text() == expected, timeout=10, interval=0.05, what=showing(sway.text))


def _xclip(env: dict[str, str], text: str | None = None) -> str:
    if text is None:
        return subprocess.run(["xclip", "-selection", "clipboard", "-o"], env=env, capture_output=True, text=True,
                              timeout=10).stdout
    subprocess.Popen(["xclip", "-selection", "clipboard", "-i"], env=env, stdin=subprocess.PIPE).communicate(text.encode())
    return text


def test_clipboard_fallback_pastes_into_xterm_and_gives_the_clipboard_back(x11: tuple[Xvfb, Xterm]) -> None:
    _, term = x11
    _xclip(term.env, "the user's own clipboard")
    time.sleep(0.2)
    method = Clipboard(term.env)
    assert method.problem() is None
    asyncio.run(method.apply(Edit(0, "pasted, not typed")))
    wait_for(lambda: "pasted, not typed" in term.text(), timeout=10, interval=0.05, what=showing(term.text))
    wait_for(lambda: _xclip(term.env) == "the user's own clipboard", timeout=10, interval=0.05,
             what=lambda: f"the clipboard given back (it holds {_xclip(term.env)!r})")


def test_clipboard_fallback_pastes_into_foot_and_gives_the_clipboard_back(sway: Sway) -> None:
    subprocess.run(["wl-copy", "the user's own clipboard"], env=sway.env, check=True, timeout=10)
    method = Clipboard(sway.env)
    assert method.problem() is None
    asyncio.run(method.apply(Edit(0, "pasted, not typed")))
    wait_for(lambda: "pasted, not typed" in sway.text(), timeout=10, interval=0.05, what=showing(sway.text))
    back = subprocess.run(["wl-paste", "--no-newline"], env=sway.env, capture_output=True, text=True, timeout=10)
    assert back.stdout == "the user's own clipboard"


def test_with_no_display_every_method_says_why_and_the_chain_fails_in_one_line() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    chain = build_chain(("auto",), env, paste="auto", layout="", home=Path.home(), portal_token=Path("/nonexistent"))
    assert [m.name for m in chain] == ["wtype", "xtest", "xdotool", "portal", "uinput", "clipboard"]
    # uinput needs no display: where /dev/uinput is open to us it could type, and the chain would use it
    if not os.access("/dev/uinput", os.W_OK):
        assert all(m.problem() for m in chain)
    else:
        chain = [m for m in chain if m.name != "uinput"]
    with pytest.raises(TypingFailed) as failed:
        asyncio.run(type_edit(chain, Edit(0, "lost?")))
    message = failed.value.message
    assert message.startswith("nothing could type here") and "\n" not in message
    assert "WAYLAND_DISPLAY" in message and "DISPLAY" in message


# ---------------------------------------------------------------------- the whole dictation on the real daemon

SPOKEN = "Hello there comma this is a test period new line how are you today question mark"
WRITTEN = "Hello there, this is a test.\nHow are you today?"


def _dictate(daemon: DaemonProcess, pulse: Pulse, text: str, desktop: Desktop | None = None) -> dict[str, Any]:  # noqa: F811
    assert daemon.cli("dictate", "press").returncode == 0
    assert daemon.json("status")["state"] == "dictating"
    if desktop is not None:
        assert desktop.status == "Paused"  # the music stops while the user talks
    pulse.mic.feed(np.concatenate([espeak(text, "en-us", 125), silence(0.3)]))  # at real-time pace
    pulse.mic.wait()
    return dict(daemon.json("dictate", "release"))


def _words(text: str) -> str:
    return " ".join(re.findall(r"[a-z']+", text.lower()))


@pytest.mark.audio
def test_dictation_into_xterm_types_the_words_with_their_punctuation(
    x11: tuple[Xvfb, Xterm], xdg: Paths, pulse: Pulse, tmp_path: Path  # noqa: F811
) -> None:
    server, term = x11
    bus = SessionBus(tmp_path)
    desktop = Desktop(bus.address)  # a music player that is playing
    env = {**pulse.env, "DISPLAY": server.display, "DBUS_SESSION_BUS_ADDRESS": bus.address}
    try:
        with DaemonProcess(xdg, env=env) as daemon:
            result = _dictate(daemon, pulse, SPOKEN, desktop)
            _check_xterm(daemon, term, result)
        assert desktop.calls == ["Pause", "Play"] and desktop.status == "Playing"  # and plays again after
    finally:
        desktop.close()
        bus.close()
    kept = xdg.state_dir / "dictations.jsonl"
    assert oct(kept.stat().st_mode & 0o777) == "0o600" and "How are you" in kept.read_text()


def _check_xterm(daemon: DaemonProcess, term: Xterm, result: dict[str, Any]) -> None:
    """What arrived in xterm is exactly what the dictation typed, with its punctuation; nothing else changed."""
    assert result["typed_with"] == "xtest" and result["error"] is None, result
    typed = wait_for(lambda: term.text() if term.text() == result["text"] else "", timeout=10, interval=0.05, what=showing(term.text))
    assert typed == result["text"], (term.text(), result)  # nothing lost, nothing twice
    assert wer(_words(WRITTEN), _words(typed)) <= 0.3, repr(typed)
    assert ", " in typed and "\n" in typed and typed.endswith("?"), repr(typed)  # the spoken commands
    assert daemon.json("status")["state"] == "idle"
    assert daemon.json("history") == []  # dictations never enter the conversation
    assert daemon.cli("dictate", "last").stdout.strip() == typed.strip()


@pytest.mark.audio
def test_dictation_into_foot_on_sway_keeps_the_first_character(sway: Sway, xdg: Paths, pulse: Pulse) -> None:  # noqa: F811
    env = {**pulse.env, **{k: sway.env[k] for k in ("WAYLAND_DISPLAY", "XDG_RUNTIME_DIR")}}
    env.pop("DISPLAY", None)
    # The daemon's runtime dir stays its own (its socket): the compositor's is named by a full path.
    env["WAYLAND_DISPLAY"] = str(sway.runtime / "wayland-1")
    env["XDG_RUNTIME_DIR"] = os.environ["XDG_RUNTIME_DIR"]
    with DaemonProcess(xdg, env=env) as daemon:
        result = _dictate(daemon, pulse, SPOKEN)
        assert result["typed_with"] == "wtype" and result["error"] is None, result
        typed = wait_for(lambda: sway.text() if sway.text() == result["text"] else "", timeout=10, interval=0.05, what=showing(sway.text))
        assert typed == result["text"], (sway.text(), result)  # the first character of the first phrase too
        assert wer(_words(WRITTEN), _words(typed)) <= 0.3, repr(typed)
        assert ", " in typed and "\n" in typed, repr(typed)


@pytest.mark.audio
def test_with_no_display_the_dictation_is_kept_and_silence_types_nothing(xdg: Paths, pulse: Pulse) -> None:  # noqa: F811
    env = {k: v for k, v in {**os.environ, **pulse.env}.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    with DaemonProcess(xdg, env=env) as daemon:
        assert daemon.cli("dictate", "press").returncode == 0
        pulse.mic.feed(np.concatenate([espeak("this must not be lost", "en-us", 130), silence(0.3)]))
        pulse.mic.wait()
        failed = daemon.cli("dictate", "release")
        assert failed.returncode == 1 and failed.stderr.startswith("error: nothing could type here"), failed.stderr
        assert len(failed.stderr.strip().splitlines()) == 1 and "assistant dictate last" in failed.stderr
        assert "lost" in daemon.cli("dictate", "last").stdout.lower()
        assert daemon.cli("dictate", "press").returncode == 0
        pulse.mic.feed(silence(1.0))
        pulse.mic.wait()
        quiet = daemon.cli("dictate", "release")
        assert quiet.returncode == 0 and quiet.stdout.strip() == "nothing heard: nothing typed"
        assert "lost" in daemon.cli("dictate", "last").stdout.lower()  # silence did not replace it


@pytest.mark.audio
def test_live_dictation_types_each_phrase_at_its_pause_and_only_the_tail_at_release(
    x11: tuple[Xvfb, Xterm], xdg: Paths, pulse: Pulse  # noqa: F811
) -> None:
    server, term = x11
    xdg.config_dir.mkdir(parents=True, exist_ok=True)
    xdg.config_file.write_text("[dictation]\nlive = true\n")
    first, second = "The oven is hot comma and dinner is ready period", "Please come to the table period"
    with DaemonProcess(xdg, env={**pulse.env, "DISPLAY": server.display}) as daemon:
        assert daemon.cli("dictate", "press").returncode == 0
        pulse.mic.feed(np.concatenate([espeak(first, "en-us", 125), silence(1.0)]))
        pulse.mic.wait()
        # Typed at the pause, the key still held. Read once the phrase is through: xdotool types a character
        # at a time, and a read in the middle of it ("The oven is hot, and din") says nothing.
        early = wait_for(lambda: "ready" in term.text().lower() and term.text(), timeout=20, interval=0.05,
                         what="the first phrase, typed whole")
        assert daemon.json("status")["state"] == "dictating"
        assert "ready" in early.lower() and "table" not in early.lower(), repr(early)  # the first phrase only
        pulse.mic.feed(np.concatenate([espeak(second, "en-us", 125), silence(0.3)]))
        pulse.mic.wait()
        result = daemon.json("dictate", "release")
        typed = wait_for(lambda: term.text() if term.text() == result["text"] else "", timeout=10, interval=0.05, what=showing(term.text))
        assert typed == result["text"] and typed.startswith(early), (term.text(), result)  # nothing twice
        assert wer("the oven is hot and dinner is ready please come to the table", _words(typed)) <= 0.3, typed
        assert "table" in typed.lower() and ", " in typed, repr(typed)


# ---------------------------------------------------------------------- the optional LLM clean-up

SCRIPTED = """
[[model]]
id = "scripted-cleanup"
kind = "llm"
engine = "scripted-test"
path = "script.json"
vram_gb = 0
description = "A stand-in LLM that replays a script (clean-up tests only)"
"""


@pytest.mark.quick
def test_only_a_rewrite_counts_as_a_clean_up() -> None:
    from assistant.turn.cleanup import is_rewrite

    assert is_rewrite("the meeting is on monday at ten", "The meeting is on Monday at ten.")
    assert not is_rewrite("what time is it in tokyo", "It is 3:15 PM in Tokyo right now, on a sunny Saturday.")
    assert not is_rewrite("please send the report", "")
    assert not is_rewrite("send the report", "Sure! Here is a draft of the report you asked me to send to the team.")


def test_the_llm_clean_up_types_a_rewrite_and_never_an_answer(xdg: Paths) -> None:
    import json

    from assistant.config.settings import Config
    from assistant.turn.assistant import Assistant
    from assistant.turn.cleanup import clean_up
    from assistant.vram.meter import SimulatedMeter

    xdg.user_catalog.write_text(SCRIPTED)
    script = {"turns": [
        {"match": "meeting", "rounds": [[{"text": "The meeting is on Monday, at ten."}]]},
        {"match": "tokyo", "rounds": [[{"text": "It is a quarter past three in the afternoon in Tokyo, on Saturday."}]]},
    ]}
    (xdg.config_dir / "script.json").write_text(json.dumps(script))

    async def main() -> tuple[str, str]:
        assistant = Assistant.create(Config.load(xdg), SimulatedMeter(16.0), persist=False)
        try:
            fixed = await clean_up(assistant.arbiter, "scripted-cleanup", "the meeting is on monday at ten")
            asked = await clean_up(assistant.arbiter, "scripted-cleanup", "what time is it in tokyo")
            return fixed, asked
        finally:
            await assistant.close()

    fixed, asked = asyncio.run(main())
    assert fixed == "The meeting is on Monday, at ten."
    assert asked == "what time is it in tokyo"  # an answer is not a clean-up: the words as said


def test_xdotool_types_ascii_and_erases_into_xterm(x11: tuple[Xvfb, Xterm]) -> None:
    _, term = x11
    method = Xdotool(term.env)
    assert method.problem() is None
    asyncio.run(method.apply(Edit(0, "Hello there, world.")))
    wait_for(lambda: term.text() == "Hello there, world.", timeout=10, interval=0.05, what=showing(term.text))
    asyncio.run(method.apply(Edit(1, "!")))
    wait_for(lambda: term.text().endswith("\x7f!"), timeout=10, interval=0.05, what=showing(term.text))
