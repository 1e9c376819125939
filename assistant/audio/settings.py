"""The audio layer's own options, the [audio] table of config.toml (config/ reads them into this)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AudioSettings:
    input_device: str | int | None = None  # name substring or index; None = system default
    output_device: str | int | None = None
    earcons: bool = True
    earcon_volume: float = 0.3
    max_utterance_s: float = 30.0
    preroll_s: float = 0.3


@dataclass(frozen=True)
class TurnSettings:
    """The [turn] table: how a hands-free utterance ends (audio/vad.py, audio/smart_turn.py)."""

    # "model": at each pause the end-of-turn model (Smart Turn v3) judges whether the words are complete;
    # "silence": a fixed silence ends the turn ([wake] silence_s), as before the model.
    end: str = "model"
    pause_s: float = 0.2  # the pause after which the model is asked
    threshold: float = 0.5  # the model's probability of a complete turn that ends it
    max_silence_s: float = 2.0  # a pause this long ends the turn whatever the model says
