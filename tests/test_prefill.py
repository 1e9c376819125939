"""The LLM's prompt prefilled before the release: the next completion evaluates only the user's new words."""

from __future__ import annotations

import asyncio

import pytest

from assistant.config.settings import Config
from assistant.core.chat import Message, TextDelta
from assistant.engines.files import resolve
from assistant.engines.llama_cpp import LlamaChatModel
from assistant.turn.assistant import Assistant
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
                result = await assistant.pipeline.turn(assistant.models, None, text=text)
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
            result = await assistant.pipeline.turn(assistant.models, None, text=question)
            return prefill, result.timings.as_dict(), kept_by_budget
        finally:
            await assistant.close()

    prefill, timings, kept_by_budget = asyncio.run(main())
    assert kept_by_budget < 6  # the budget alone would have dropped the oldest turn
    assert timings["prompt_reused"] >= prefill["prompt_tokens"] - 10, (prefill, timings)  # type: ignore[operator]
