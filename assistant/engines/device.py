"""Choosing cuda or cpu for an engine, and turning load failures into one-line errors."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from assistant.core.errors import ModelError, OutOfMemory

log = logging.getLogger(__name__)


def cuda_or_cpu(requested: str, cuda_available: Callable[[], bool], model_id: str) -> str:
    """Resolve auto/cuda/cpu; cuda falls back to cpu where there is none, and says so."""
    if requested == "cpu":
        return "cpu"
    try:
        has_cuda = cuda_available()
    except Exception:  # a broken CUDA install must not stop a CPU-only user
        has_cuda = False
    if has_cuda:
        return "cuda"
    if requested == "cuda":
        log.warning("%s: cuda was requested but is not available here; running on cpu", model_id)
    return "cpu"


def is_oom(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "out of memory" in text or "cudaerrormemoryallocation" in text or "failed to allocate" in text


def load_error(model_id: str, path: Path | None, exc: BaseException) -> ModelError:
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    if is_oom(exc):
        return OutOfMemory(f"{model_id}: out of GPU memory while loading ({first})")
    where = f" from {path}" if path else ""
    return ModelError(
        f"{model_id}: cannot load the model{where} ({first}); the file may be corrupt or incomplete, fetch it again",
        code="model_corrupt",
    )
