"""The models as the layers above see them: a catalog entry (`ModelSpec`) and where its files are (`ModelFiles`).

Value types only: the catalog parser (config/), the engines, the hosts and the arbiter all pass these, so they
live below every one of them.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict

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


class EngineTable(BaseModel):
    """A table an engine declares for itself in models.toml (engines/options.py): its [model.options], or
    the top-level fields that say where its server is. Checked strictly: a wrong type or an unknown key is
    an error, never converted or dropped."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    # Each declared table by its qualified name, so a worker process rebuilds the very type it was sent.
    declared: ClassVar[dict[str, type[EngineTable]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        EngineTable.declared[_qualified(cls)] = cls

    @property
    def calls_tools(self) -> bool:
        """Whether the LLM may be offered tools; options that can turn them off say so (LlamaOptions)."""
        return True

    def to_dict(self) -> dict[str, object]:
        return {"type": _qualified(type(self)), "values": self.model_dump()}

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> EngineTable:
        name = str(data["type"])
        if name not in EngineTable.declared:  # a fresh worker process: its module is not imported yet
            importlib.import_module(name.rsplit(".", 1)[0])
        return EngineTable.declared[name].model_validate(data["values"])


def _qualified(cls: type) -> str:
    return f"{cls.__module__}.{cls.__name__}"


EngineTable.declared[_qualified(EngineTable)] = EngineTable  # an engine with no options: the empty table


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
    options: EngineTable = field(default_factory=EngineTable)  # [model.options], the engine's declared type
    origin: str = ""
    endpoint: EngineTable = field(default_factory=EngineTable)  # the engine's own fields: a server's address

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
            "options": self.options.to_dict(),
            "origin": self.origin,
            "endpoint": self.endpoint.to_dict(),
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
                "options": EngineTable.from_dict(data["options"]),
                "endpoint": EngineTable.from_dict(data["endpoint"]),
            }
        )


@dataclass(frozen=True)
class ModelFiles:
    path: Path | None  # None for a model the engine finds by name (Coqui) or reaches over the network
    config_path: Path | None = None
