"""The lines the daemon prints once it is up: socket, models, what is missing with its fix, what to try."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.config.settings import Config
from assistant.core.paths import Paths
from assistant.daemon.ready import Readiness, ready_lines

pytestmark = pytest.mark.quick


def _ready(**changes: object) -> Readiness:
    values: dict[str, object] = dict(
        socket=Path("/run/user/1000/assistant/control.sock"), asr="whisper-tiny-en", llm="smollm2-135m",
        tts="piper-joe", microphone=None, microphone_problem="no sound input device found; plug one in",
        speaker=None, speaker_problem="no sound output device found", replies_dir=Path("/data/replies"),
        hotkey=None, hotkey_problem="no built-in hotkey source works here; bind `assistant ptt press`",
    )
    values.update(changes)
    return Readiness(**values)  # type: ignore[arg-type]


def test_a_bare_machine_gets_every_missing_part_with_its_fix_and_two_things_to_try(xdg: Paths) -> None:
    lines = ready_lines(_ready(), Config.load(xdg).catalog)
    text = "\n".join(lines)
    assert lines[0] == "assistant: ready on /run/user/1000/assistant/control.sock"
    assert "llm smollm2-135m" in lines[1]
    assert "135M smoke-test model" in text and "assistant models fetch qwen3-4b && assistant llm use qwen3-4b" in text
    assert "microphone: none (no sound input device found; plug one in)" in text
    assert "replies are written as WAV files to /data/replies" in text
    assert "push-to-talk: no key (no built-in hotkey source" in text
    assert sum(line.lstrip().startswith(("try:", "assistant ")) for line in lines) == 2


def test_a_desktop_with_a_microphone_and_a_real_llm_gets_no_warnings(xdg: Paths) -> None:
    lines = ready_lines(
        _ready(llm="qwen3-4b", microphone="pulse", microphone_problem=None, speaker="pulse", speaker_problem=None,
               hotkey="KEY_RIGHTCTRL via evdev", hotkey_problem=None),
        Config.load(xdg).catalog,
    )
    text = "\n".join(lines)
    assert "smoke-test" not in text and "none" not in text and "WAV" not in text
    assert "push-to-talk: hold KEY_RIGHTCTRL via evdev" in text and "ptt press" in text
