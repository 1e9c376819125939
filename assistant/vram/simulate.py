"""Replay a JSON trace of acquire/release/use steps through the pure VRAM policy."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from assistant.vram.policy import PRIORITY, Request, Slot, plan_acquire

OPS = ("acquire", "release", "use")


class TraceError(ValueError):
    """A trace file that cannot be read or does not follow the trace format."""


class _StepError(Exception):
    """A step that cannot be carried out; it is reported and changes nothing."""


@dataclass(frozen=True)
class _Model:
    kind: str
    gb: float
    priority: int


@dataclass(frozen=True)
class _Step:
    op: str
    model: str | None
    lease: str | None


@dataclass(frozen=True)
class _Trace:
    budget_gb: float
    models: dict[str, _Model]
    steps: tuple[_Step, ...]


@dataclass
class _State:
    """Mutable replay state; each step works on a copy so failures change nothing."""

    last_used: dict[str, float] = field(default_factory=dict)  # resident id -> time
    leases: dict[str, str] = field(default_factory=dict)  # live lease -> model id
    active: dict[str, str] = field(default_factory=dict)  # kind -> model id

    def copy(self) -> _State:
        return _State(dict(self.last_used), dict(self.leases), dict(self.active))


def _number(value: object, where: str) -> float:
    # bool is an int subclass; `true` as a size is a typo, not 1 GB.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TraceError(f"{where} must be a number, got {json.dumps(value)}")
    if not math.isfinite(value):
        raise TraceError(f"{where} must be finite, got {value}")
    return float(value)


def _text(obj: Mapping[str, object], key: str, where: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise TraceError(f"{where}.{key} must be a non-empty string")
    return value


def _parse_model(name: str, raw: object) -> _Model:
    where = f"models[{json.dumps(name)}]"
    if not isinstance(raw, dict):
        raise TraceError(f"{where} must be an object with kind and vram_gb")
    if "kind" not in raw or "vram_gb" not in raw:
        raise TraceError(f"{where} needs both 'kind' and 'vram_gb'")
    kind = raw["kind"]
    if kind not in PRIORITY:
        raise TraceError(
            f"{where}.kind must be one of {', '.join(PRIORITY)}, got {json.dumps(kind)}"
        )
    assert isinstance(kind, str)  # narrowed by the PRIORITY check above
    gb = _number(raw["vram_gb"], f"{where}.vram_gb")
    if gb <= 0:
        raise TraceError(f"{where}.vram_gb must be positive, got {gb:g}")
    priority = raw.get("priority", PRIORITY[kind])
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise TraceError(
            f"{where}.priority must be an integer, got {json.dumps(priority)}"
        )
    return _Model(kind, gb, priority)


def _parse_step(index: int, raw: object) -> _Step:
    where = f"steps[{index}]"
    if not isinstance(raw, dict):
        raise TraceError(f"{where} must be an object with an 'op'")
    op = raw.get("op")
    if op not in OPS:
        raise TraceError(f"{where}.op must be one of {', '.join(OPS)}, got {json.dumps(op)}")
    assert isinstance(op, str)
    model = _text(raw, "model", where) if op in ("acquire", "use") else None
    lease = _text(raw, "lease", where) if op in ("acquire", "release") else None
    return _Step(op, model, lease)


def _parse(trace: Mapping[str, object]) -> _Trace:
    if not isinstance(trace, Mapping):
        raise TraceError("a trace must be a JSON object")
    if "gpu_gb" not in trace:
        raise TraceError("trace is missing 'gpu_gb'")
    gpu_gb = _number(trace["gpu_gb"], "gpu_gb")
    reserve_gb = _number(trace.get("reserve_gb", 0), "reserve_gb")
    if reserve_gb < 0 or gpu_gb - reserve_gb <= 0:
        raise TraceError(
            f"reserve_gb ({reserve_gb:g}) must be >= 0 and below gpu_gb ({gpu_gb:g})"
        )
    models = trace.get("models")
    if not isinstance(models, dict):
        raise TraceError("'models' must be an object mapping model ids to models")
    steps = trace.get("steps")
    if not isinstance(steps, list):
        raise TraceError("'steps' must be a list of steps")
    return _Trace(
        budget_gb=gpu_gb - reserve_gb,
        models={str(k): _parse_model(str(k), v) for k, v in models.items()},
        steps=tuple(_parse_step(i, s) for i, s in enumerate(steps)),
    )


def load_trace(path: str | Path) -> dict[str, object]:
    """Read and validate a trace file; raise TraceError with a one-line message."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise TraceError(f"{path}: cannot read trace: {exc.strerror or exc}") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        # JSONDecodeError's str() is already one line with line and column.
        raise TraceError(f"{path}: not valid JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise TraceError(f"{path}: a trace must be a JSON object")
    try:
        _parse(raw)
    except TraceError as exc:
        raise TraceError(f"{path}: {exc}") from exc
    return raw


def _slots(trace: _Trace, state: _State) -> list[Slot]:
    leased = set(state.leases.values())
    slots = []
    for mid, last_used in state.last_used.items():
        m = trace.models[mid]
        slots.append(Slot(mid, m.kind, m.gb, m.priority, mid in leased, last_used))
    return slots


def _acquire(
    trace: _Trace, state: _State, model_id: str, now: float
) -> tuple[list[str], list[str]]:
    """Make `model_id` resident in `state`; return (loaded, evicted)."""
    model = trace.models.get(model_id)
    if model is None:
        raise _StepError(f"Unknown model '{model_id}': it is not listed in the trace's models.")
    request = Request(model_id, model.kind, model.gb, model.priority)
    plan = plan_acquire(trace.budget_gb, _slots(trace, state), state.active, request)
    if plan.action in ("too_large", "blocked"):
        raise _StepError(plan.reason)
    for victim in plan.evict:
        del state.last_used[victim.id]
    state.last_used[model_id] = now
    state.active[model.kind] = model_id
    loaded = [model_id] if plan.action == "load" else []
    return loaded, [v.id for v in plan.evict]


def _run_step(
    trace: _Trace, state: _State, step: _Step, now: float
) -> tuple[str, list[str], list[str]]:
    """Apply one step to `state`; return (model, loaded, evicted)."""
    if step.op == "release":
        assert step.lease is not None
        model_id = state.leases.pop(step.lease, None)
        if model_id is None:
            raise _StepError(
                f"Unknown lease '{step.lease}': it is not held "
                f"(never acquired, or already released)."
            )
        state.last_used[model_id] = now
        return model_id, [], []
    assert step.model is not None
    if step.lease is not None and step.lease in state.leases:
        raise _StepError(
            f"Lease '{step.lease}' is already held on model '{state.leases[step.lease]}'; "
            f"release it first or use another lease name."
        )
    loaded, evicted = _acquire(trace, state, step.model, now)
    if step.lease is not None:
        state.leases[step.lease] = step.model
    # A `use` releases at once; last_used is already `now`, so nothing more to do.
    return step.model, loaded, evicted


def simulate(trace: Mapping[str, object]) -> list[dict[str, object]]:
    """Replay a trace (as loaded from JSON) and return one result dict per step."""
    parsed = _parse(trace)
    state = _State()
    results: list[dict[str, object]] = []
    for index, step in enumerate(parsed.steps):
        trial = state.copy()
        error: str | None = None
        model: str | None
        try:
            model, loaded, evicted = _run_step(parsed, trial, step, float(index))
            state = trial
        except _StepError as exc:
            # The trial copy is dropped, so a failed step leaves the state as it
            # was and the rest of the trace behaves as if it had been skipped.
            error = str(exc)
            # A release fails only for an unknown lease, which names no model.
            model = None if step.op == "release" else step.model
            loaded, evicted = [], []
        results.append({
            "step": index,
            "op": step.op,
            "model": model,
            "loaded": loaded,
            "evicted": evicted,
            "resident": sorted(state.last_used),
            "error": error,
        })
    return results
