"""What the turn-taking entry points answer (a press, a release, a cancel, `say`): typed, and turned into the
socket's JSON only by the control's codec (core/wire.py), and read back as these types by the CLI."""

from __future__ import annotations

from dataclasses import dataclass

from assistant.core.events import TurnState


@dataclass(frozen=True)
class Pressed:
    """After a press (or the dictation key's): the state now."""

    state: TurnState
    dismissed: bool = False  # the press only stopped a ringing alarm


@dataclass(frozen=True)
class Released:
    """After a release: the turn that will answer, and how much audio it has."""

    state: TurnState
    turn: str
    audio_seconds: float


@dataclass(frozen=True)
class DictationStarted:
    state: TurnState
    paused_media: int = 0  # players paused for the dictation, resumed at its end


@dataclass(frozen=True)
class Cancelled:
    cancelled: bool  # something was listening, dictating or speaking


@dataclass(frozen=True)
class Said:
    spoken: bool  # on the sound device (False: written to `audio_path`)
    interrupted: bool
    audio_path: str | None
