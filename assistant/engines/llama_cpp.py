"""ChatModel on llama.cpp (llama-cpp-python), streaming with the GGUF's own chat template; tools via tool_format."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.core.chat import ChatEvent, Message, TextDelta, ToolSpec
from assistant.core.errors import ModelError
from assistant.engines import tool_format
from assistant.engines.device import cuda_or_cpu, load_error
from assistant.engines.options import LlamaOptions

if TYPE_CHECKING:
    from llama_cpp.llama_grammar import LlamaGrammar
    from openai.types.chat import ChatCompletionFunctionToolParam

# The user's words in a prefill: any text whose first token differs from the real words' works, since
# llama.cpp reuses the cached tokens only up to the first one that differs.
_PLACEHOLDER = "\u2026"


def _gpu_offload() -> bool:
    import llama_cpp

    return bool(llama_cpp.llama_supports_gpu_offload())


class LlamaChatModel:
    def __init__(self, path: Path, device: str, options: LlamaOptions, model_id: str = "llm") -> None:
        from llama_cpp import Llama

        self.device = cuda_or_cpu(device, _gpu_offload, model_id)
        self.max_tokens = options.max_tokens
        self.temperature = options.temperature
        # llama.cpp's own default; llama-cpp-python's chat completion uses 1.0 (none), and a small model
        # at 1.0 loops on its own sentences (SmolLM2 on "who are you?" repeated one seven times).
        self.repeat_penalty = options.repeat_penalty
        kwargs: dict[str, Any] = {
            "model_path": str(path),
            "n_ctx": options.n_ctx,
            "n_gpu_layers": options.n_gpu_layers if self.device == "cuda" else 0,
            "verbose": False,
            "seed": 0,
        }
        if options.n_threads is not None:
            kwargs["n_threads"] = options.n_threads
        # No chat_format means llama-cpp-python renders the template stored in the GGUF metadata.
        if options.chat_format is not None:
            kwargs["chat_format"] = options.chat_format
        try:
            self.llm = Llama(**kwargs)
        except Exception as exc:  # llama-cpp-python raises ValueError("Failed to load model from file")
            raise load_error(model_id, path, exc) from None
        # A chat_format option replaces the GGUF's template with a built-in one, which renders no tools.
        template = "" if options.chat_format is not None else str(self.llm.metadata.get("tokenizer.chat_template", ""))
        # "template": the GGUF's template renders the tools; "grammar": a GBNF constrains the answer.
        self.tool_format = options.tool_format or tool_format.template_format(template)
        if self.tool_format not in ("template", "grammar", "none"):
            raise ModelError(f"{model_id}: option tool_format must be template, grammar or none, not {self.tool_format!r}")
        self._grammars: dict[str, LlamaGrammar] = {}
        self._token_counts: dict[str, int] = {}
        self._cut: tuple[int, str] | None = None  # history messages dropped at the last cut, and the first kept
        self._last_prompt: dict[str, int] = {}
        self._prompt_pending = False
        self._sampled = 0  # tokens the last completion sampled
        self._count_prompt_tokens()

    def chat(
        self, messages: Sequence[Message], max_tokens: int | None = None, tools: Sequence[ToolSpec] = ()
    ) -> Iterator[ChatEvent]:
        if not tools or self.tool_format == "none":
            for piece in self._stream(list(messages), max_tokens):
                yield TextDelta(piece)
        elif self.tool_format == "template":
            offered = [spec.as_openai() for spec in tools]
            yield from tool_format.parse_hermes(self._stream(list(messages), max_tokens, tools=offered), tools)
        else:
            grammar = self._grammar(tools)
            rendered = tool_format.grammar_messages(messages, tools)
            yield from tool_format.parse_grammar_output(self._stream(rendered, max_tokens, grammar=grammar), tools)

    def _tokens(self, text: str) -> int:
        count = self._token_counts.get(text)
        if count is None:
            if len(self._token_counts) > 4096:
                self._token_counts.clear()
            count = self._token_counts[text] = len(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))
        return count

    def _fit(
        self, messages: list[Message], max_tokens: int, tools: list[ChatCompletionFunctionToolParam] | None
    ) -> list[Message]:
        """Drop the oldest history until the prompt and the reply fit the context window.

        The conversation is kept to a budget of estimated tokens (turn/history.py), which is not this
        model's count: its tokenizer, the chat template's tokens around each message (with short turns as
        many as their words), the tools' schemas. Without this a long conversation grew past n_ctx and every
        later turn failed ("Requested tokens (2060) exceed context window of 2048", scripts/soak.py). The cut is sticky: once made, the next prompts start at the same message while they fit,
        and a new cut goes down to half the room, so the KV cache's prefix holds for the turns between
        (cutting one turn at a time made every turn read the whole history again: 0.3 s became 4 s).
        """
        room = self.llm.n_ctx() - max_tokens - 16  # 16: the template's own tokens around the last message
        fixed = self._tokens(json.dumps(tools)) if tools else 0

        def size(message: Message) -> int:
            return self._tokens(message["content"] or "") + 8  # 8: role and separators

        head = [m for m in messages[:1] if m["role"] == "system"]
        history, last = messages[len(head) : -1], messages[-1:]
        fixed += sum(size(m) for m in [*head, *last])
        if self._cut is not None:  # start where the last prompt started, if that message is still there
            dropped, first = self._cut
            if dropped < len(history) and _key(history[dropped]) == first:
                history = history[dropped:]
            else:
                dropped = 0
        else:
            dropped = 0
        total = fixed + sum(size(m) for m in history)
        if total > room:
            target = fixed + (room - fixed) // 2
            while history and (total > target or history[0]["role"] != "user"):
                total -= size(history.pop(0))  # never start with a reply to a cut question
                dropped += 1
        self._cut = (dropped, _key(history[0])) if dropped and history else None
        return [*head, *history, *last]

    def _stream(
        self,
        messages: list[Message],
        max_tokens: int | None,
        tools: list[ChatCompletionFunctionToolParam] | None = None,
        grammar: LlamaGrammar | None = None,
    ) -> Iterator[str]:
        limit = max_tokens or self.max_tokens
        # llama-cpp-python's own TypedDicts spell out the same OpenAI shapes as ours and the SDK's.
        stream: Any = self.llm.create_chat_completion(
            messages=self._fit(messages, limit, tools),  # type: ignore[arg-type]
            stream=True,
            max_tokens=limit,
            temperature=self.temperature,
            repeat_penalty=self.repeat_penalty,
            tools=tools,  # type: ignore[arg-type]
            grammar=grammar,
        )
        try:
            for chunk in stream:
                delta = chunk["choices"][0].get("delta", {}).get("content")
                if delta:
                    yield str(delta)
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()  # stop llama.cpp generating when the caller stops listening

    def _grammar(self, tools: Sequence[ToolSpec]) -> LlamaGrammar:
        from llama_cpp.llama_grammar import LlamaGrammar

        # The same tools turn after turn: build their grammar once.
        key = json.dumps([(t.name, t.description, t.parameters) for t in tools], sort_keys=True)
        if key not in self._grammars:
            self._grammars[key] = LlamaGrammar.from_string(tool_format.grammar_text(tools), verbose=False)
        return self._grammars[key]

    def prefill(self, messages: Sequence[Message], tools: Sequence[ToolSpec] = ()) -> dict[str, int]:
        """Evaluate the prompt up to where the next user message's words go, into the KV cache.

        `messages` are the system prompt and the history. The next chat() with the same messages plus
        a user message then evaluates only that message's words: llama-cpp-python's generate() reuses
        the longest token prefix it still holds (llama_cpp/llama.py, "Check for kv cache prefix match").
        The prompt is rendered by the same chat handler chat() uses, with a placeholder user message,
        so the prefix is the very same tokens. Returns prompt_stats() for this evaluation.
        """
        placeholder: Message = {"role": "user", "content": _PLACEHOLDER}
        full = [*messages, placeholder]
        # Rendered exactly as chat() will render it with the same tools, or the prefix would differ.
        offered: list[ChatCompletionFunctionToolParam] | None = None
        if tools and self.tool_format == "grammar":
            rendered = tool_format.grammar_messages(full, tools)
        else:
            rendered = full
            if tools and self.tool_format == "template":
                offered = [spec.as_openai() for spec in tools]
        self.llm.create_chat_completion(
            messages=self._fit(rendered, self.max_tokens, offered),  # type: ignore[arg-type]
            max_tokens=1,
            temperature=0.0,
            tools=offered,  # type: ignore[arg-type]
        )
        return self.prompt_stats()

    def prompt_stats(self) -> dict[str, int]:
        """The last completion's prompt: tokens in all, evaluated now, and reused from the KV cache; and
        the tokens it sampled (the API's `usage`)."""
        if not self._last_prompt:
            return {}  # no completion yet
        return {**self._last_prompt, "completion_tokens": self._sampled}

    def _count_prompt_tokens(self) -> None:
        """Record, per completion, how much of the prompt llama.cpp evaluated and how much it reused.

        generate() first trims the cache to the prefix it shares with the prompt (n_tokens), then
        evaluates the rest in one eval() call; later calls are one generated token each.
        Each token of the reply is one sample() call, the end-of-text token included.
        """
        llm = self.llm
        generate, evaluate, sample = llm.generate, llm.eval, llm.sample

        def counting_generate(*args: Any, **kwargs: Any) -> Any:
            self._prompt_pending = True
            self._sampled = 0
            return generate(*args, **kwargs)

        def counting_sample(*args: Any, **kwargs: Any) -> Any:
            self._sampled += 1
            return sample(*args, **kwargs)

        def counting_eval(tokens: Sequence[int]) -> None:
            if self._prompt_pending:
                self._prompt_pending = False
                reused, evaluated = int(llm.n_tokens), len(tokens)
                self._last_prompt = {
                    "prompt_tokens": reused + evaluated,
                    "prompt_evaluated": evaluated,
                    "prompt_reused": reused,
                }
            evaluate(tokens)

        llm.generate = counting_generate  # type: ignore[method-assign]
        llm.eval = counting_eval  # type: ignore[method-assign]
        llm.sample = counting_sample  # type: ignore[method-assign]


def _key(message: Message) -> str:
    return f"{message['role']}:{message['content']}"
