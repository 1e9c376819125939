"""Scenarios and properties for the pure VRAM eviction policy."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assistant.vram.policy import (
    PRIORITY,
    TOLERANCE_GB,
    Plan,
    Request,
    Slot,
    Victim,
    plan_acquire,
    used_gb,
)
from assistant.vram.simulate import simulate

pytestmark = pytest.mark.quick  # pure logic: runs on the light store


def slot(id: str, kind: str, gb: float, last_used: float, leased: bool = False) -> Slot:
    return Slot(id, kind, gb, PRIORITY[kind], leased, last_used)


def req(id: str, kind: str, gb: float) -> Request:
    return Request(id, kind, gb, PRIORITY[kind])


def active_of(slots: Sequence[Slot]) -> dict[str, str]:
    """Every resident is the active one of its kind (the usual steady state)."""
    return {s.kind: s.id for s in sorted(slots, key=lambda s: s.last_used)}


# ASR 4 + TTS 2 + LLM 4 on a 16 GB budget, all idle: 6 GB free.
DESK = [slot("asr", "asr", 4, 1), slot("tts", "tts", 2, 2), slot("llm-4b", "llm", 4, 3)]


def test_12gb_llm_evicts_old_llm_then_tts_and_keeps_asr() -> None:
    plan = plan_acquire(16, DESK, active_of(DESK), req("llm-12b", "llm", 12))
    # The old LLM is stale (pass 0) and frees 10; the TTS outranks an LLM
    # request so it only goes as a last resort (pass 2), and that is enough.
    assert plan == Plan("load", (Victim("llm-4b", 0), Victim("tts", 2)))


def test_13gb_llm_cascades_through_everything() -> None:
    plan = plan_acquire(16, DESK, active_of(DESK), req("llm-13b", "llm", 13))
    assert plan.evict == (Victim("llm-4b", 0), Victim("tts", 2), Victim("asr", 2))


def test_stale_tts_goes_before_a_9gb_llm() -> None:
    # The old TTS was used most recently, yet being stale it goes first; by
    # priority alone the LLM (0 <= 1) would have been evicted.
    slots = [slot("asr", "asr", 4, 1), slot("llm-9b", "llm", 9, 2), slot("tts-a", "tts", 2, 3)]
    plan = plan_acquire(16, slots, active_of(slots), req("tts-b", "tts", 2))
    assert plan == Plan("load", (Victim("tts-a", 0),))


def test_leased_llm_forces_asr_out_as_last_resort() -> None:
    slots = [slot("llm-9b", "llm", 9, 2, leased=True), slot("asr", "asr", 4, 1)]
    plan = plan_acquire(16, slots, active_of(slots), req("tts", "tts", 4))
    assert plan == Plan("load", (Victim("asr", 2),))


def test_everything_leased_is_blocked_and_evicts_nothing() -> None:
    slots = [slot("llm-9b", "llm", 9, 2, leased=True), slot("asr", "asr", 4, 1, leased=True)]
    plan = plan_acquire(16, slots, active_of(slots), req("tts", "tts", 4))
    assert plan.action == "blocked" and plan.evict == ()
    for part in ("'tts'", "llm-9b (9 GB)", "asr (4 GB)", "release"):
        assert part in plan.reason
    assert "\n" not in plan.reason


def test_blocked_with_some_idle_still_evicts_nothing() -> None:
    slots = [slot("llm-9b", "llm", 9, 2, leased=True), slot("asr", "asr", 4, 1)]
    plan = plan_acquire(16, slots, active_of(slots), req("tts", "tts", 8))
    assert plan.action == "blocked" and plan.evict == ()
    assert "llm-9b" in plan.reason and "asr (" not in plan.reason


def test_resident_request_is_a_hit_even_when_leased_and_full() -> None:
    slots = [slot("llm-9b", "llm", 9, 2, leased=True), slot("asr", "asr", 7, 1, leased=True)]
    assert plan_acquire(16, slots, {}, req("llm-9b", "llm", 9)) == Plan("hit")


def test_too_large_names_model_and_budget() -> None:
    plan = plan_acquire(15.5, [], {}, req("llm-70b", "llm", 40))
    assert plan.action == "too_large" and plan.evict == ()
    assert "'llm-70b'" in plan.reason and "40 GB" in plan.reason and "15.5 GB" in plan.reason


def test_fits_without_eviction() -> None:
    assert plan_acquire(16, DESK, active_of(DESK), req("llm-6b", "llm", 6)) == Plan("load")


def test_exact_fit_within_tolerance() -> None:
    # 0.1 + 0.2 + 0.4 sums to a hair over 0.7, so free is a hair under 0.3.
    slots = [slot("a", "asr", 0.1, 1), slot("b", "tts", 0.2, 2), slot("c", "llm", 0.4, 3)]
    assert 1.0 - used_gb(slots) < 0.3
    assert plan_acquire(1.0, slots, {}, req("d", "llm", 0.3)) == Plan("load")
    assert plan_acquire(1.0, [], {}, req("d", "llm", 1.0 + TOLERANCE_GB / 2)).action == "load"
    assert plan_acquire(1.0, [], {}, req("d", "llm", 1.0 + 2 * TOLERANCE_GB)).action == "too_large"


def test_stops_as_soon_as_enough_is_free() -> None:
    slots = [slot("llm-a", "llm", 4, 1), slot("llm-b", "llm", 4, 2), slot("asr", "asr", 4, 3)]
    plan = plan_acquire(12, slots, {"llm": "llm-b", "asr": "asr"}, req("llm-c", "llm", 4))
    # Both old LLMs are stale; the least recently used one alone is enough.
    assert plan.evict == (Victim("llm-a", 0),)


def test_pass1_orders_by_priority_then_lru() -> None:
    # The request is an ASR carrying its own priority 1, so both residents
    # (priority <= 1, neither stale) are on pass 1.
    request = Request("asr", "asr", 4, 1)
    active = {"tts": "x", "llm": "y"}
    by_priority = [Slot("x", "tts", 2, 1, False, 5), Slot("y", "llm", 2, 0, False, 9)]
    plan = plan_acquire(4, by_priority, active, request)
    assert plan.evict == (Victim("y", 1), Victim("x", 1))
    by_lru = [Slot("x", "tts", 2, 0, False, 5), Slot("y", "llm", 2, 0, False, 9)]
    plan = plan_acquire(4, by_lru, active, request)
    assert plan.evict == (Victim("x", 1), Victim("y", 1))


def test_kind_without_active_model_is_not_stale() -> None:
    slots = [slot("tts-a", "tts", 4, 1), slot("asr", "asr", 4, 2)]
    plan = plan_acquire(8, slots, {"asr": "asr"}, req("llm", "llm", 4))
    # No TTS was ever requested, so tts-a is not stale; it goes on pass 2.
    assert plan.evict == (Victim("tts-a", 2),)
    plan = plan_acquire(8, slots, {"asr": "asr", "tts": "tts-z"}, req("llm", "llm", 4))
    assert plan.evict == (Victim("tts-a", 0),)


# ---------------------------------------------------------------- properties

KINDS = sorted(PRIORITY)


@st.composite
def situations(draw: st.DrawFn) -> tuple[float, list[Slot], dict[str, str], Request]:
    budget = draw(st.floats(1, 32))
    n = draw(st.integers(0, 7))
    slots: list[Slot] = []
    for i in range(n):
        gb = draw(st.floats(0.1, budget / 2))
        if used_gb(slots) + gb > budget:
            continue
        kind = draw(st.sampled_from(KINDS))
        leased = draw(st.integers(0, 3)) == 0
        slots.append(Slot(f"m{i}", kind, gb, draw(st.integers(0, 3)),
                          leased, draw(st.integers(0, 5))))
    active = {}
    for kind in KINDS:
        pick = draw(st.sampled_from([None, "other"] + [s.id for s in slots if s.kind == kind]))
        if pick is not None:
            active[kind] = pick
    resident = draw(st.integers(0, 4)) == 0 and bool(slots)
    if resident:
        s = draw(st.sampled_from(slots))
        request = Request(s.id, s.kind, s.gb, s.priority)
    else:
        request = Request("new", draw(st.sampled_from(KINDS)),
                          draw(st.floats(0.1, budget * 1.1)), draw(st.integers(0, 3)))
    return budget, slots, active, request


def fits(budget: float, slots: Sequence[Slot], gb: float) -> bool:
    return budget - used_gb(slots) >= gb - TOLERANCE_GB


def stale(s: Slot, active: dict[str, str], r: Request) -> bool:
    return s.id != ({**active, r.kind: r.id}.get(s.kind, s.id))


@settings(max_examples=400, deadline=None)
@given(situations())
def test_plan_properties(situation: tuple[float, list[Slot], dict[str, str], Request]) -> None:
    budget, slots, active, r = situation
    plan = plan_acquire(budget, slots, active, r)
    by_id = {s.id: s for s in slots}
    if r.id in by_id:
        assert plan == Plan("hit")
        return
    if r.gb > budget + TOLERANCE_GB:
        assert plan.action == "too_large" and plan.evict == ()
        return
    idle = [s for s in slots if not s.leased]
    if plan.action == "blocked":
        assert plan.evict == () and not fits(budget, [s for s in slots if s.leased], r.gb)
        for s in slots:
            assert (s.id in plan.reason) == s.leased
        return
    assert plan.action == "load"
    victims = [by_id[v.id] for v in plan.evict]
    kept = [s for s in slots if s not in victims]
    assert len(set(plan.evict)) == len(plan.evict)
    # Never over budget, never a leased model, never more than needed.
    assert fits(budget, kept, r.gb)
    assert not any(v.leased for v in victims)
    if victims:
        assert not fits(budget, kept + victims[-1:], r.gb)
    # Each victim is in the earliest pass that includes it, passes in order,
    # and within a pass the spec's sort order holds.
    for v, s in zip(plan.evict, victims):
        want = 0 if stale(s, active, r) else 1 if s.priority <= r.priority else 2
        assert v.pass_no == want
    keys = [(v.pass_no, 0 if v.pass_no == 0 else s.priority, s.last_used)
            for v, s in zip(plan.evict, victims)]
    assert keys == sorted(keys)
    # A higher-priority model goes only once every stale and cheaper idle
    # model is gone and that still was not enough.
    if any(v.pass_no == 2 for v in plan.evict):
        cheap = [s for s in idle if stale(s, active, r) or s.priority <= r.priority]
        assert all(s in victims for s in cheap)
        assert not fits(budget, [s for s in slots if s not in cheap], r.gb)


# ------------------------------------------------ properties over whole traces

LEASES = ["g0", "g1", "g2"]


@st.composite
def traces(draw: st.DrawFn) -> dict[str, object]:
    gpu = draw(st.floats(4, 24))
    models: dict[str, object] = {}
    for i in range(draw(st.integers(1, 6))):
        model: dict[str, object] = {"kind": draw(st.sampled_from(KINDS)),
                                    "vram_gb": draw(st.floats(0.5, gpu * 1.05))}
        if draw(st.booleans()):
            model["priority"] = draw(st.integers(0, 3))
        models[f"m{i}"] = model
    names = [*models, "ghost"]
    step = st.one_of(
        st.builds(lambda m, g: {"op": "acquire", "model": m, "lease": g},
                  st.sampled_from(names), st.sampled_from(LEASES)),
        st.builds(lambda g: {"op": "release", "lease": g}, st.sampled_from(LEASES)),
        st.builds(lambda m: {"op": "use", "model": m}, st.sampled_from(names)),
    )
    return {"gpu_gb": gpu, "reserve_gb": draw(st.floats(0, 1)), "models": models,
            "steps": draw(st.lists(step, max_size=25))}


@settings(max_examples=200, deadline=None)
@given(traces())
def test_trace_properties(trace: dict[str, object]) -> None:
    models = trace["models"]
    steps = trace["steps"]
    assert isinstance(models, dict) and isinstance(steps, list)
    budget = float(trace["gpu_gb"]) - float(trace["reserve_gb"])  # type: ignore[arg-type]
    results = simulate(trace)
    leases: dict[str, str] = {}
    resident: set[str] = set()
    for i, (step, out) in enumerate(zip(steps, results)):
        evicted, loaded = set(out["evicted"]), set(out["loaded"])  # type: ignore[call-overload]
        after = set(out["resident"])  # type: ignore[call-overload]
        assert sum(models[m]["vram_gb"] for m in after) <= budget + 1e-6
        assert not evicted & set(leases.values())
        assert evicted <= resident and not loaded & resident
        assert after == (resident - evicted) | loaded
        if out["error"] is not None:
            assert after == resident and not loaded and not evicted
            # A failed step is the same as no step at all, for what follows.
            skipped = simulate({**trace, "steps": steps[:i] + steps[i + 1:]})
            for mine, theirs in zip(results[i + 1:], skipped[i:]):
                assert {**mine, "step": 0} == {**theirs, "step": 0}
        elif step["op"] == "acquire":
            leases[step["lease"]] = step["model"]
        elif step["op"] == "release":
            del leases[step["lease"]]
        resident = after
