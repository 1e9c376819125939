"""ChatModel on llama.cpp (llama-cpp-python), streaming with the GGUF's own chat template."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

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

    def chat(
        self, messages: Sequence[Message], max_tokens: int | None = None, tools: Sequence[ToolSpec] = ()
    ) -> Iterator[ChatEvent]:
        stream: Any = self.llm.create_chat_completion(
            messages=[dict(m) for m in messages],  # type: ignore[misc]
            stream=True,
            max_tokens=max_tokens or self.max_tokens,
            temperature=self.temperature,
        )
        for chunk in stream:
            delta = chunk["choices"][0].get("delta", {}).get("content")
            if delta:
                yield TextDelta(str(delta))
