"""Pure VRAM arbiter policy: decide what to evict so a requested model fits."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

# Lower numbers are evicted first: the LLM is the cheapest to lose relative to
# how often it is reloaded, the ASR the most expensive (it gates every turn).
PRIORITY: dict[str, int] = {"llm": 0, "tts": 1, "asr": 2}
TOLERANCE_GB = 1e-9

Action = Literal["hit", "load", "too_large", "blocked"]


@dataclass(frozen=True)
class Slot:
    """A model resident on the GPU, as the policy sees it."""

    id: str
    kind: str
    gb: float
    priority: int
    leased: bool
    last_used: float


@dataclass(frozen=True)
class Request:
    """A model that a caller wants resident."""

    id: str
    kind: str
    gb: float
    priority: int


@dataclass(frozen=True)
class Victim:
    """A model to evict; pass_no says why (0 stale, 1 cheaper, 2 last resort)."""

    id: str
    pass_no: int


@dataclass(frozen=True)
class Plan:
    """The policy's decision for one request."""

    action: Action
    evict: tuple[Victim, ...] = ()
    reason: str = ""


def used_gb(slots: Iterable[Slot]) -> float:
    """Total GB held by the given slots."""
    # fsum keeps the total independent of slot order, so replays agree exactly.
    return math.fsum(s.gb for s in slots)


def fmt_gb(gb: float) -> str:
    """Render a size for messages without float noise (9.4, not 9.399999)."""
    return f"{gb:.4g} GB"


def is_stale(slot: Slot, active: Mapping[str, str], request: Request) -> bool:
    """True if another model of the slot's kind is (or is becoming) active."""
    if slot.kind == request.kind:
        return slot.id != request.id
    # A kind nobody has requested yet has no active model, so nothing of it
    # can be stale: lacking evidence, we keep it on the ordinary passes.
    current = active.get(slot.kind)
    return current is not None and current != slot.id


def eviction_order(
    slots: Sequence[Slot], active: Mapping[str, str], request: Request
) -> list[Victim]:
    """Every idle resident, in the order the policy would evict them."""
    idle = [s for s in slots if not s.leased and s.id != request.id]
    stale = sorted(
        (s for s in idle if is_stale(s, active, request)),
        key=lambda s: (s.last_used, s.id),
    )
    stale_ids = {s.id for s in stale}
    rest = sorted(
        (s for s in idle if s.id not in stale_ids),
        key=lambda s: (s.priority, s.last_used, s.id),
    )
    order = [Victim(s.id, 0) for s in stale]
    order += [Victim(s.id, 1 if s.priority <= request.priority else 2) for s in rest]
    # Sorting `rest` by priority already puts every pass-1 model before every
    # pass-2 one, so the list is ordered by pass as the spec requires.
    return order


def _fits(budget_gb: float, slots: Iterable[Slot], gb: float) -> bool:
    return budget_gb - used_gb(slots) >= gb - TOLERANCE_GB


def _leased_summary(slots: Sequence[Slot]) -> str:
    leased = sorted((s for s in slots if s.leased), key=lambda s: s.id)
    if not leased:
        return "nothing is leased"
    held = ", ".join(f"{s.id} ({fmt_gb(s.gb)})" for s in leased)
    return f"leased models hold {fmt_gb(used_gb(leased))}: {held}"


def plan_acquire(
    budget_gb: float,
    slots: Sequence[Slot],
    active: Mapping[str, str],
    request: Request,
) -> Plan:
    """Decide how to make `request` resident within `budget_gb`.

    `active` maps each kind to its most recently requested model, as it was
    before this request; the request itself is treated as the active one of
    its kind, so other residents of that kind count as stale.
    """
    if any(s.id == request.id for s in slots):
        return Plan("hit")
    if request.gb > budget_gb + TOLERANCE_GB:
        return Plan(
            "too_large",
            reason=(
                f"Model '{request.id}' needs {fmt_gb(request.gb)} but the VRAM "
                f"budget is only {fmt_gb(budget_gb)}; choose a smaller model "
                f"or raise the budget."
            ),
        )
    remaining = {s.id: s for s in slots}
    victims: list[Victim] = []
    for victim in eviction_order(slots, active, request):
        if _fits(budget_gb, remaining.values(), request.gb):
            break
        del remaining[victim.id]
        victims.append(victim)
    if not _fits(budget_gb, remaining.values(), request.gb):
        free = budget_gb - used_gb(remaining.values())
        return Plan(
            "blocked",
            reason=(
                f"Cannot load model '{request.id}' ({fmt_gb(request.gb)}): "
                f"at most {fmt_gb(max(free, 0.0))} of the {fmt_gb(budget_gb)} "
                f"budget can be freed because {_leased_summary(slots)}; "
                f"release one of those leases and try again."
            ),
        )
    return Plan("load", tuple(victims))
