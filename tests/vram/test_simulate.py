"""Replaying traces through the policy, and rejecting malformed ones."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from assistant.vram.simulate import TraceError, load_trace, simulate

pytestmark = pytest.mark.quick  # pure logic: runs on the light store

EXAMPLE: dict[str, Any] = {
    "gpu_gb": 16,
    "reserve_gb": 0.5,
    "models": {
        "asr": {"kind": "asr", "vram_gb": 4.0},
        "llm-9b": {"kind": "llm", "vram_gb": 9.4, "priority": 0},
    },
    "steps": [
        {"op": "acquire", "model": "llm-9b", "lease": "g1"},
        {"op": "release", "lease": "g1"},
        {"op": "use", "model": "asr"},
    ],
}


def line(step: int, op: str, model: str | None, loaded: list[str], evicted: list[str],
         resident: list[str], error: str | None = None) -> dict[str, object]:
    return {"step": step, "op": op, "model": model, "loaded": loaded, "evicted": evicted,
            "resident": resident, "error": error}


def trace(models: dict[str, tuple[str, float]], steps: list[dict[str, str]],
          gpu_gb: float = 16) -> dict[str, Any]:
    return {"gpu_gb": gpu_gb,
            "models": {m: {"kind": k, "vram_gb": gb} for m, (k, gb) in models.items()},
            "steps": steps}


def use(model: str) -> dict[str, str]:
    return {"op": "use", "model": model}


def test_example_trace(tmp_path: Path) -> None:
    path = tmp_path / "trace.json"
    path.write_text(json.dumps(EXAMPLE))
    results = simulate(load_trace(path))
    # Budget 15.5: 9.4 + 4.0 = 13.4 fits, so nothing is ever evicted.
    assert results == [
        line(0, "acquire", "llm-9b", ["llm-9b"], [], ["llm-9b"]),
        line(1, "release", "llm-9b", [], [], ["llm-9b"]),
        line(2, "use", "asr", ["asr"], [], ["asr", "llm-9b"]),
    ]
    assert [list(r) for r in results] == [list(line(0, "", None, [], [], []))] * 3


def test_use_of_resident_model_is_a_hit() -> None:
    models = {"tts-a": ("tts", 4.0), "asr-a": ("asr", 4.0), "llm-a": ("llm", 8.0)}
    # Budget 8 holds tts-a and asr-a; llm-a needs both gone (pass 2, TTS first).
    results = simulate(trace(models, [use("tts-a"), use("asr-a"), use("tts-a"),
                                      use("llm-a")], gpu_gb=8))
    assert results[2] == line(2, "use", "tts-a", [], [], ["asr-a", "tts-a"])
    assert results[3]["evicted"] == ["tts-a", "asr-a"]


def test_lru_by_step_index() -> None:
    models = {"a": ("tts", 4.0), "b": ("tts", 4.0), "c": ("tts", 4.0)}
    steps = [use("a"), use("b"), use("a"), use("c")]
    # Budget 8: both a and b are stale when c comes; b was used least recently.
    assert simulate(trace(models, steps, gpu_gb=8))[3]["evicted"] == ["b"]


def test_release_refreshes_last_used() -> None:
    t = {"gpu_gb": 8, "steps": [
        {"op": "acquire", "model": "a", "lease": "g"},
        use("b"),
        {"op": "release", "lease": "g"},
        use("c"),
    ], "models": {"a": {"kind": "tts", "vram_gb": 4},
                  "b": {"kind": "asr", "vram_gb": 4, "priority": 1},
                  "c": {"kind": "llm", "vram_gb": 4}}}
    # a and b tie on priority 1; a's release at step 2 makes b the older one.
    assert simulate(t)[3]["evicted"] == ["b"]


def test_leased_model_survives_until_its_last_lease_is_released() -> None:
    models = {"llm": ("llm", 8.0), "asr": ("asr", 8.0), "tts": ("tts", 8.0)}
    steps = [
        {"op": "acquire", "model": "llm", "lease": "a"},
        {"op": "acquire", "model": "llm", "lease": "b"},
        {"op": "release", "lease": "a"},
        use("tts"),   # llm still leased by b: blocked
        {"op": "release", "lease": "b"},
        use("tts"),   # now llm goes (priority 0 <= 1)
    ]
    results = simulate(trace(models, steps, gpu_gb=12))
    assert results[1] == line(1, "acquire", "llm", [], [], ["llm"])
    assert results[3]["resident"] == ["llm"] and results[3]["loaded"] == []
    assert "llm (8 GB)" in str(results[3]["error"])
    assert results[5] == line(5, "use", "tts", ["tts"], ["llm"], ["tts"])


def test_unknown_lease_and_model_are_errors_that_change_nothing() -> None:
    models = {"asr": ("asr", 4.0), "llm": ("llm", 4.0)}
    steps = [use("asr"), {"op": "release", "lease": "nope"}, use("ghost"),
             {"op": "acquire", "model": "ghost", "lease": "g"}, use("llm")]
    results = simulate(trace(models, steps))
    assert {**results[1], "error": None} == line(1, "release", None, [], [], ["asr"])
    assert "'nope'" in str(results[1]["error"])
    for r in results[2:4]:
        assert r["model"] == "ghost" and r["loaded"] == [] and r["resident"] == ["asr"]
        assert "'ghost'" in str(r["error"])
    # The lease "g" of the failed acquire was never taken.
    again = simulate(trace(models, [*steps, {"op": "release", "lease": "g"}]))
    assert again[-1]["error"] is not None


def test_duplicate_live_lease_is_an_error_but_a_released_name_is_reusable() -> None:
    models = {"asr": ("asr", 4.0), "tts": ("tts", 2.0)}
    steps = [{"op": "acquire", "model": "asr", "lease": "g"},
             {"op": "acquire", "model": "tts", "lease": "g"},
             {"op": "release", "lease": "g"},
             {"op": "acquire", "model": "tts", "lease": "g"}]
    results = simulate(trace(models, steps))
    assert "'g'" in str(results[1]["error"]) and results[1]["resident"] == ["asr"]
    assert results[2]["model"] == "asr" and results[3]["error"] is None


def test_too_large_step_fails_without_touching_active_map() -> None:
    models = {"tts-a": ("tts", 3.0), "llm-a": ("llm", 6.0), "tts-big": ("tts", 11.0),
              "asr-x": ("asr", 3.0)}
    steps = [use("tts-a"), use("llm-a"), use("tts-big"), use("asr-x")]
    results = simulate(trace(models, steps, gpu_gb=10))
    assert "'tts-big'" in str(results[2]["error"]) and "10 GB" in str(results[2]["error"])
    # Had tts-big become the active TTS, tts-a would be stale and go first.
    assert results[3]["evicted"] == ["llm-a"]


def test_failed_acquire_does_not_refresh_last_used() -> None:
    t = {"gpu_gb": 10, "steps": [
        use("a"),
        {"op": "acquire", "model": "d", "lease": "M"},
        use("b"),
        {"op": "acquire", "model": "a", "lease": "M"},  # fails: M is live
        use("c"),
    ], "models": {"a": {"kind": "tts", "vram_gb": 3}, "b": {"kind": "asr", "vram_gb": 3,
                  "priority": 1}, "d": {"kind": "llm", "vram_gb": 2},
                  "c": {"kind": "llm", "vram_gb": 4}}}
    results = simulate(t)
    assert results[3]["error"] is not None
    # a and b are both priority 1 (pass 2 for an LLM); a was last used at step 0.
    assert results[4]["evicted"] == ["a"]


def test_reserve_defaults_to_zero() -> None:
    models = {"llm": ("llm", 16.0)}
    assert simulate(trace(models, [use("llm")]))[0]["error"] is None


BAD: list[tuple[object, str]] = [
    ([], "JSON object"),
    ({"models": {}, "steps": []}, "gpu_gb"),
    ({"gpu_gb": "16", "models": {}, "steps": []}, "gpu_gb"),
    ({"gpu_gb": True, "models": {}, "steps": []}, "gpu_gb"),
    ({"gpu_gb": 16, "reserve_gb": 16, "models": {}, "steps": []}, "reserve_gb"),
    ({"gpu_gb": 16, "steps": []}, "models"),
    ({"gpu_gb": 16, "models": {}}, "steps"),
    ({"gpu_gb": 16, "models": {"x": {"kind": "llm"}}, "steps": []}, "vram_gb"),
    ({"gpu_gb": 16, "models": {"x": {"vram_gb": 1}}, "steps": []}, "kind"),
    ({"gpu_gb": 16, "models": {"x": {"kind": "vision", "vram_gb": 1}}, "steps": []}, "vision"),
    ({"gpu_gb": 16, "models": {"x": {"kind": "llm", "vram_gb": -1}}, "steps": []}, "positive"),
    ({"gpu_gb": 16, "models": {"x": {"kind": "llm", "vram_gb": 1, "priority": 1.5}},
      "steps": []}, "priority"),
    ({"gpu_gb": 16, "models": {"x": 3}, "steps": []}, "x"),
    ({"gpu_gb": 16, "models": {}, "steps": [{"op": "load", "model": "x"}]}, "load"),
    ({"gpu_gb": 16, "models": {}, "steps": ["use x"]}, "steps[0]"),
    ({"gpu_gb": 16, "models": {}, "steps": [{"op": "acquire", "model": "x"}]}, "lease"),
    ({"gpu_gb": 16, "models": {}, "steps": [{"op": "release"}]}, "lease"),
    ({"gpu_gb": 16, "models": {}, "steps": [{"op": "use", "model": 3}]}, "model"),
]


@pytest.mark.parametrize(("data", "needle"), BAD)
def test_malformed_trace_raises_one_line(tmp_path: Path, data: object, needle: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(TraceError) as info:
        load_trace(path)
    message = str(info.value)
    assert needle in message and str(path) in message and "\n" not in message
    if isinstance(data, dict):
        with pytest.raises(TraceError):
            simulate(data)


@pytest.mark.parametrize("text", ["{", "", "{\"gpu_gb\": 16,\n\n}", "\xff"])
def test_unreadable_json_raises_one_line(tmp_path: Path, text: str) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(TraceError, match="bad.json") as info:
        load_trace(path)
    assert "\n" not in str(info.value)


def test_missing_file_raises_trace_error(tmp_path: Path) -> None:
    with pytest.raises(TraceError, match="cannot read") as info:
        load_trace(tmp_path / "absent.json")
    assert "\n" not in str(info.value)
    assert isinstance(info.value, ValueError)


def test_non_finite_numbers_are_rejected(tmp_path: Path) -> None:
    path = tmp_path / "nan.json"
    path.write_text('{"gpu_gb": NaN, "models": {}, "steps": []}')
    with pytest.raises(TraceError, match="finite"):
        load_trace(path)


def test_vram_simulate_cli_prints_one_json_line_per_step(tmp_path: Path) -> None:
    import subprocess
    import sys

    trace = tmp_path / "trace.json"
    trace.write_text(json.dumps(EXAMPLE_CLI_TRACE))
    proc = subprocess.run(
        [sys.executable, "-m", "assistant", "vram", "simulate", str(trace)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert lines[0] == {
        "step": 0, "op": "acquire", "model": "llm-9b", "loaded": ["llm-9b"], "evicted": [],
        "resident": ["llm-9b"], "error": None,
    }
    assert [line["op"] for line in lines] == ["acquire", "release", "use"]
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    proc = subprocess.run(
        [sys.executable, "-m", "assistant", "vram", "simulate", str(bad)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr and proc.stderr.startswith("error: ")


EXAMPLE_CLI_TRACE = {
    "gpu_gb": 16,
    "reserve_gb": 0.5,
    "models": {"asr": {"kind": "asr", "vram_gb": 4.0}, "llm-9b": {"kind": "llm", "vram_gb": 9.4, "priority": 0}},
    "steps": [
        {"op": "acquire", "model": "llm-9b", "lease": "g1"},
        {"op": "release", "lease": "g1"},
        {"op": "use", "model": "asr"},
    ],
}


def test_the_documented_example_trace_runs_as_the_docs_describe() -> None:
    trace = load_trace(Path(__file__).resolve().parents[2] / "docs" / "trace-example.json")
    steps = simulate(trace)
    assert all(step["error"] is None for step in steps)
    assert sorted(steps[5]["evicted"]) == ["qwen3-8b", "xtts-v2"]  # the big LLM: idle ones go, the ASR stays
    assert steps[6]["evicted"] == ["whisper-large-v3-turbo"]  # the held LLM is never evicted
    assert steps[8]["loaded"] == ["whisper-large-v3-turbo"] and steps[8]["evicted"] == ["gpt-oss-20b"]
