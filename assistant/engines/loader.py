"""Build the engine a catalog entry names, from its registration (in a worker process, or in the daemon's loop)."""

from __future__ import annotations

from assistant.core.models import ModelFiles, ModelSpec
from assistant.engines.base import Engine
from assistant.engines.registry import engine_info


def load_engine(spec: ModelSpec, files: ModelFiles, device: str) -> Engine:
    """A Transcriber, ChatModel or Synthesizer; for an in-loop engine, its async counterpart (see inloop.py)."""
    return engine_info(spec).factory(spec, files, device)
