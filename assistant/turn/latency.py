"""How fast the answer starts: one timeline line per turn, and release → first audio percentiles over recent turns."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from assistant.core.records import TurnRecord
from assistant.turn.utterance import End

RECENT_TURNS = 50


@dataclass(frozen=True)
class AnsweredAhead:
    """Over the turns that guessed while the key was held: the share whose guess was played, and the work
    thrown away per turn (None when no turn guessed)."""

    turns: int = 0
    hit_rate: float | None = None
    wasted_s_per_turn: float | None = None


@dataclass(frozen=True)
class LatencySummary:
    """Release → first audio over the recent voice turns that were heard (None when there were none)."""

    turns: int = 0
    p50_s: float | None = None
    p95_s: float | None = None
    answered_ahead: AnsweredAhead = AnsweredAhead()

# (label, timings key), in the order they happen after the release.
_STEPS = (
    ("asr tail done", "asr_s"),
    ("first token", "llm_first_token_s"),
    ("first sentence", "llm_first_sentence_s"),
    ("first tts chunk", "tts_first_chunk_s"),
    ("first sample at the device", "first_sample_s"),
)


def timeline(
    turn_id: str, timings: Mapping[str, float | None], end: End | None = None, probability: float | None = None
) -> str:
    """One line: each step's seconds after the release, then why the turn ended and what was done ahead of it."""
    steps = [f"{label} {timings[key]:.3f}" for label, key in _STEPS if timings.get(key) is not None]
    line = f"turn {turn_id}: release 0.000 → " + " → ".join(steps)
    extra = []
    if end is not None:
        extra.append(f"ended by {end.value}" + (f", the end-of-turn model's p={probability:.2f}" if probability is not None else ""))
    if (partials := timings.get("asr_partials")) is not None:
        extra.append(f"asr: {partials:.0f} partials, {timings.get('asr_tail_audio_s') or 0:.2f} s of tail")
    if guesses := timings.get("speculations"):
        ahead = timings.get("speculation_ahead_s")
        used = f"the reply began {ahead:.2f} s before the release" if ahead is not None else "none used"
        dropped = timings.get("speculations_dropped") or 0
        extra.append(
            f"answered ahead: {guesses:.0f} guesses ({dropped:.0f} thrown away), {used}, "
            f"{timings.get('speculation_wasted_s') or 0:.2f} s wasted"
        )
    if skipped := timings.get("speculations_skipped"):
        extra.append(f"{skipped:.0f} pause(s) heard as unfinished by the end-of-turn model, so not guessed at")
    if (evaluated := timings.get("prompt_evaluated")) is not None:
        extra.append(f"prompt: {evaluated:.0f} tokens evaluated, {timings.get('prompt_reused') or 0:.0f} reused")
    return line + (f" ({'; '.join(extra)})" if extra else "")


def first_audio(turn: TurnRecord) -> float | None:
    """Release (or the ask) → first reply audio: the sample at the device, else the chunk handed to the sink."""
    value = turn.timings.get("first_sample_s")
    if value is None:
        value = turn.timings.get("first_audio_s")
    return float(value) if value is not None else None


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (no interpolation: with few turns, a value that happened)."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * fraction // 1))
    return ordered[int(rank) - 1]


def summary(turns: Sequence[TurnRecord], voice_only: bool = True) -> LatencySummary:
    """p50 and p95 of release → first audio over the last RECENT_TURNS voice turns that were heard,
    and how often the reply made ahead while the key was held was the one played."""
    recent = [turn for turn in turns[-RECENT_TURNS:] if not voice_only or turn.source == "voice"]
    values = [value for turn in recent if (value := first_audio(turn)) is not None]
    ahead = answered_ahead(recent)
    if not values:
        return LatencySummary(answered_ahead=ahead)
    return LatencySummary(len(values), round(percentile(values, 0.5), 3), round(percentile(values, 0.95), 3), ahead)


def answered_ahead(turns: Sequence[TurnRecord]) -> AnsweredAhead:
    """Over turns that guessed while the key was held: the share whose guess was played, and the work thrown away."""
    guessed = [t.timings for t in turns if t.timings.get("speculations")]
    if not guessed:
        return AnsweredAhead()
    hits = sum(1 for timings in guessed if timings.get("speculation_ahead_s") is not None)
    wasted = sum(float(timings.get("speculation_wasted_s") or 0.0) for timings in guessed)
    return AnsweredAhead(len(guessed), round(hits / len(guessed), 3), round(wasted / len(guessed), 3))
