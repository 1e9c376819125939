"""Measured GPU footprints per model, persisted in the state dir and preferred over catalog estimates."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from assistant.core.atomic import write_json_atomic

log = logging.getLogger(__name__)


class Footprints:
    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._gb: dict[str, float] = {}
        if path is not None and path.exists():
            try:
                data = json.loads(path.read_text())
                self._gb = {str(k): float(v) for k, v in data.items()}
            except (ValueError, TypeError, AttributeError, OSError) as exc:
                # A damaged cache only costs us the measurements; the catalog estimates still work.
                log.warning("ignoring unreadable %s (%s); footprints will be measured again", path, exc)

    def get(self, model_id: str) -> float | None:
        return self._gb.get(model_id)

    def record(self, model_id: str, gb: float) -> None:
        self._gb[model_id] = round(gb, 3)
        if self.path is not None:
            try:
                write_json_atomic(self.path, self._gb)
            except OSError as exc:  # a full disk costs the cache, never a lease or a loaded model
                log.warning("cannot save measured footprints to %s: %s", self.path, exc)
