"""The models as the layers above see them: a catalog entry (`ModelSpec`) and where its files are (`ModelFiles`).

Value types only: the catalog parser (config/), the engines, the hosts and the arbiter all pass these, so they
live below every one of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Kind = Literal["asr", "llm", "tts"]
KINDS: tuple[Kind, ...] = ("asr", "llm", "tts")


@dataclass(frozen=True)
class Source:
    """Where a model's files come from: exactly one of a local path, an embedded package or a Hub repo."""

    path: str | None = None
    config_path: str | None = None
    embedded: str | None = None
    hf_repo: str | None = None
    hf_files: tuple[str, ...] = ()

    def describe(self) -> str:
        if self.embedded:
            return f"embedded:{self.embedded}"
        if self.hf_repo:
            return f"hf:{self.hf_repo}"
        if self.path:
            return f"path:{self.path}"
        return "coqui model name"


@dataclass(frozen=True)
class ModelSpec:
    id: str
    kind: Kind
    engine: str
    vram_gb: float
    source: Source
    priority: int | None = None
    device: Literal["auto", "cuda", "cpu"] = "auto"
    fallback: Literal["cpu"] | None = None
    idle_ttl_s: float | None = None
    description: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)
    origin: str = ""
    endpoint: Mapping[str, Any] = field(default_factory=dict)  # the engine's own fields: a server's address

    def to_dict(self) -> dict[str, Any]:
        """A plain, picklable form, sent to worker processes."""
        return {
            "id": self.id,
            "kind": self.kind,
            "engine": self.engine,
            "vram_gb": self.vram_gb,
            "priority": self.priority,
            "device": self.device,
            "fallback": self.fallback,
            "idle_ttl_s": self.idle_ttl_s,
            "description": self.description,
            "options": dict(self.options),
            "origin": self.origin,
            "endpoint": dict(self.endpoint),
            "source": {
                "path": self.source.path,
                "config_path": self.source.config_path,
                "embedded": self.source.embedded,
                "hf_repo": self.source.hf_repo,
                "hf_files": list(self.source.hf_files),
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelSpec:
        src = dict(data["source"])
        src["hf_files"] = tuple(src.get("hf_files") or ())
        return cls(
            **{
                **data,
                "source": Source(**src),
                "options": dict(data.get("options") or {}),
                "endpoint": dict(data.get("endpoint") or {}),
            }
        )


@dataclass(frozen=True)
class ModelFiles:
    path: Path | None  # None for a model the engine finds by name (Coqui) or reaches over the network
    config_path: Path | None = None
