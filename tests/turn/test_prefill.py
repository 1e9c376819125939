"""The LLM's prompt prefilled before the release: the next completion evaluates only the user's new words."""

from __future__ import annotations

import asyncio

import pytest

from assistant.config.settings import Config
from assistant.core.chat import Message, TextDelta
from assistant.engines.files import resolve
from assistant.engines.llama_cpp import LlamaChatModel
from assistant.turn.assistant import Assistant
from assistant.turn.utterance import Utterance
from assistant.vram.meter import SimulatedMeter

pytestmark = pytest.mark.latency

HISTORY: list[Message] = [
    {"role": "system", "content": "You are a helpful voice assistant. Answer in one or two short sentences."},
    {"role": "user", "content": "What is the capital of France?"},
    {"role": "assistant", "content": "The capital of France is Paris."},
]
QUESTION: Message = {"role": "user", "content": "And how many people live there?"}


def load(config: Config) -> LlamaChatModel:
    spec = config.catalog.get(config.catalog.defaults["llm"])
    files = resolve(spec, config.paths.models_dir)
    assert files.path is not None
    return LlamaChatModel(files.path, "cpu", spec.options, spec.id)


def reply(model: LlamaChatModel, messages: list[Message]) -> str:
    return "".join(e.text for e in model.chat(messages, max_tokens=8) if isinstance(e, TextDelta))


def test_a_prefilled_prompt_is_reused_by_the_next_completion(config: Config) -> None:
    model = load(config)
    cold = model.prefill(HISTORY)
    assert cold["prompt_reused"] == 0 and cold["prompt_evaluated"] == cold["prompt_tokens"] > 20
    reply(model, [*HISTORY, QUESTION])
    warm = model.prompt_stats()
    # Everything up to the user's words came from the cache (the prefill's placeholder words and the
    # template's tail after them are a few tokens); only the question and that tail were evaluated.
    assert warm["prompt_reused"] >= cold["prompt_tokens"] - 10, (cold, warm)
    assert 0 < warm["prompt_evaluated"] <= 20, warm

    fresh = load(config)
    reply(fresh, [*HISTORY, QUESTION])
    whole = fresh.prompt_stats()
    assert whole["prompt_reused"] == 0
    assert whole["prompt_tokens"] == warm["prompt_tokens"] == warm["prompt_reused"] + warm["prompt_evaluated"]


def test_turns_through_the_worker_reuse_the_prefill(config: Config) -> None:
    async def main() -> list[dict[str, float | None]]:
        assistant = Assistant.create(config, SimulatedMeter(total_gb=16), persist=False)
        llm = assistant.models.llm
        timings = []
        try:
            await assistant.arbiter.ensure(llm)
            for text in ("What is the capital of France?", "And how many people live there?"):
                prefill = await assistant.pipeline.prefill(llm)
                assert prefill is not None and prefill["prompt_tokens"] > 0
                result = await assistant.pipeline.turn(Utterance.typed(text), assistant.models, None)
                timings.append(result.timings.as_dict())
            return timings
        finally:
            await assistant.close()

    first, second = asyncio.run(main())
    for t in (first, second):
        assert t["prompt_reused"] and t["prompt_evaluated"] and t["prompt_evaluated"] <= 20, t
    # The second turn's prefix holds the first exchange too: the system prompt stays byte-identical.
    assert second["prompt_reused"] > first["prompt_reused"] + 10, (first, second)  # type: ignore[operator]


def test_a_long_question_keeps_the_prefilled_history(config: Config) -> None:
    from assistant.turn.history import estimate_tokens

    async def main() -> tuple[dict[str, int], dict[str, float | None], int]:
        assistant = Assistant.create(config, SimulatedMeter(total_gb=16), persist=False)
        conversation = assistant.conversation
        exchanges = [("What is the capital of France?", "Paris."), ("And of Spain?", "Madrid.")]
        for question, answer in exchanges:
            conversation.add(question, answer)
        # The history fits the budget with no words of the user's, but not next to a long question.
        conversation.budget_tokens = estimate_tokens(conversation.system_prompt) + 1 + sum(
            estimate_tokens(q) + estimate_tokens(a) for q, a in exchanges
        )
        question = "And which of the two cities is further north, and by how many kilometres?"
        kept_by_budget = len(conversation.messages(question))
        try:
            prefill = await assistant.pipeline.prefill(assistant.models.llm)
            assert prefill is not None
            result = await assistant.pipeline.turn(Utterance.typed(question), assistant.models, None)
            return prefill, result.timings.as_dict(), kept_by_budget
        finally:
            await assistant.close()

    prefill, timings, kept_by_budget = asyncio.run(main())
    assert kept_by_budget < 6  # the budget alone would have dropped the oldest turn
    assert timings["prompt_reused"] >= prefill["prompt_tokens"] - 10, (prefill, timings)  # type: ignore[operator]


def test_a_history_past_the_context_window_drops_its_oldest_turns_instead_of_failing(config: Config) -> None:
    """Replies full of digits take a token a character: the estimated budget lets such a conversation grow
    past n_ctx (found by scripts/soak.py: every later turn failed). The oldest turns give way instead."""
    model = load(config)
    digits = " ".join(str(n) for n in range(120))  # ~400 characters, ~350 tokens
    history: list[Message] = [HISTORY[0]]
    for i in range(8):
        history += [{"role": "user", "content": f"Count for me, round {i}."}, {"role": "assistant", "content": digits}]
    total = sum(len(model.llm.tokenize(str(m["content"]).encode(), add_bos=False)) for m in history)
    assert total > model.llm.n_ctx()  # as it stands, this prompt cannot be evaluated at all
    assert reply(model, [*history, QUESTION]).strip()
    stats = model.prompt_stats()
    assert stats["prompt_tokens"] + 8 <= model.llm.n_ctx(), stats
    kept = model._fit([dict(m) for m in [*history, QUESTION]], 8, {})
    assert len(kept) > 3 and kept[0] == HISTORY[0] and kept[-1] == QUESTION and kept[1]["role"] == "user"
    assert kept[1:-1] == [dict(m) for m in history[-(len(kept) - 2):]]  # the newest turns, whole
    # One more turn: the prompt starts at the same message (the KV cache's prefix holds), as long as it fits.
    longer = [*history, QUESTION, {"role": "assistant", "content": "Paris has two million people."},
              {"role": "user", "content": "And Lyon?"}]
    again = model._fit([dict(m) for m in longer], 8, {})
    assert again[1] == kept[1] and again[-1]["content"] == "And Lyon?"
