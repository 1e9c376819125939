"""ChatModel on llama.cpp (llama-cpp-python), streaming with the GGUF's own chat template; tools via tool_format."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import ModelError
from . import tool_format
from .base import ChatEvent, Message, TextDelta, ToolSpec
from .device import cuda_or_cpu, load_error


def _gpu_offload() -> bool:
    import llama_cpp

    return bool(llama_cpp.llama_supports_gpu_offload())


class LlamaChatModel:
    def __init__(self, path: Path, device: str, options: Mapping[str, Any], model_id: str = "llm") -> None:
        from llama_cpp import Llama

        self.device = cuda_or_cpu(device, _gpu_offload, model_id)
        self.max_tokens = int(options.get("max_tokens", 256))
        self.temperature = float(options.get("temperature", 0.7))
        kwargs: dict[str, Any] = {
            "model_path": str(path),
            "n_ctx": int(options.get("n_ctx", 4096)),
            "n_gpu_layers": int(options.get("n_gpu_layers", -1)) if self.device == "cuda" else 0,
            "verbose": False,
            "seed": 0,
        }
        if "n_threads" in options:
            kwargs["n_threads"] = int(options["n_threads"])
        # No chat_format means llama-cpp-python renders the template stored in the GGUF metadata.
        if "chat_format" in options:
            kwargs["chat_format"] = str(options["chat_format"])
        try:
            self.llm = Llama(**kwargs)
        except Exception as exc:  # llama-cpp-python raises ValueError("Failed to load model from file")
            raise load_error(model_id, path, exc) from None
        # A chat_format option replaces the GGUF's template with a built-in one, which renders no tools.
        template = "" if "chat_format" in options else str(self.llm.metadata.get("tokenizer.chat_template", ""))
        # "template": the GGUF's template renders the tools; "grammar": a GBNF constrains the answer.
        self.tool_format = str(options.get("tool_format") or tool_format.template_format(template))
        if self.tool_format not in ("template", "grammar", "none"):
            raise ModelError(f"{model_id}: option tool_format must be template, grammar or none, not {self.tool_format!r}")
        self._grammars: dict[str, Any] = {}

    def chat(
        self, messages: Sequence[Message], max_tokens: int | None = None, tools: Sequence[ToolSpec] = ()
    ) -> Iterator[ChatEvent]:
        if not tools or self.tool_format == "none":
            for piece in self._stream([dict(m) for m in messages], max_tokens):
                yield TextDelta(piece)
        elif self.tool_format == "template":
            offered = [spec.as_openai() for spec in tools]
            yield from tool_format.parse_hermes(self._stream([dict(m) for m in messages], max_tokens, tools=offered), tools)
        else:
            grammar = self._grammar(tools)
            rendered = tool_format.grammar_messages(messages, tools)
            yield from tool_format.parse_grammar_output(self._stream(rendered, max_tokens, grammar=grammar), tools)

    def _stream(self, messages: list[dict[str, Any]], max_tokens: int | None, **extra: Any) -> Iterator[str]:
        stream: Any = self.llm.create_chat_completion(
            messages=messages,  # type: ignore[arg-type]
            stream=True,
            max_tokens=max_tokens or self.max_tokens,
            temperature=self.temperature,
            **extra,
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

    def _grammar(self, tools: Sequence[ToolSpec]) -> Any:
        from llama_cpp.llama_grammar import LlamaGrammar

        # The same tools turn after turn: build their grammar once.
        key = json.dumps([(t.name, t.description, t.parameters) for t in tools], sort_keys=True)
        if key not in self._grammars:
            self._grammars[key] = LlamaGrammar.from_string(tool_format.grammar_text(tools), verbose=False)
        return self._grammars[key]
