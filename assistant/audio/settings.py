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
