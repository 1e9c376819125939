#!/usr/bin/env python3
"""Write a GGUF with the real shapes of a Qwen3 model, Q4_K_M's tensor types and random weights.

    python scripts/gguf_random.py qwen3-8b OUT.gguf        (or qwen3-4b, or tiny for a CPU smoke run)

Weights cannot travel to the GPU machine (no registry, 64 MiB carry), and a GPU's memory use does not
depend on the values, only on the shapes and the quantization types. So this writes the tensors straight in
the types `llama-quantize ... Q4_K_M` chooses for Qwen3 (Q6_K for the output matrix, or for the tied
embedding, and for attn_v / ffn_down in the layers llama.cpp's `use_more_bits` picks; Q4_K elsewhere; F32
norms), filled with random blocks whose scales are small finite numbers. Writing the F16 file first and
quantizing it would cost 16 GB of disk and minutes of the run for the 8B, for the same layout. The
tokenizer is a stand-in (byte-level tokens, ChatML specials, filler tokens) of the real vocabulary size,
so the embedding and output matrices have their real sizes. The file's size is printed next to the
published Q4_K_M file's, as a check of the layout.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Shape:
    n_embd: int
    n_ff: int
    n_layer: int
    n_head: int
    n_head_kv: int
    head_dim: int
    n_vocab: int
    tied: bool
    n_ctx_train: int
    published_gb: float | None  # size of the published Q4_K_M file, for the layout check


# From the models' config.json (Qwen/Qwen3-4B-Instruct-2507 and Qwen/Qwen3-8B on the Hugging Face Hub).
SHAPES = {
    "qwen3-4b": Shape(2560, 9728, 36, 32, 8, 128, 151936, True, 262144, 2.50),
    "qwen3-8b": Shape(4096, 12288, 36, 32, 8, 128, 151936, False, 40960, 5.03),
    "tiny": Shape(256, 512, 2, 4, 2, 64, 1024, False, 4096, None),  # for a smoke run on a CPU
}

QK_K = 256
BLOCK_BYTES = {"Q4_K": 144, "Q6_K": 210}
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def use_more_bits(i: int, n: int) -> bool:
    """llama.cpp's choice (llama-quant.cpp) of the layers whose attn_v and ffn_down get Q6_K in Q4_K_M."""
    return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2


def byte_tokens() -> list[str]:
    """GPT-2's byte-to-unicode table: one token per byte, so any text tokenizes."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    chars, extra = [], 0
    for b in range(256):
        if b in keep:
            chars.append(chr(b))
        else:
            chars.append(chr(256 + extra))
            extra += 1
    return chars


class RandomBlocks:
    """One buffer of random quantized blocks; tensors are views of it, so an 8B file needs no 5 GB of RAM."""

    def __init__(self, kind: str, max_blocks: int, seed: int) -> None:
        size = BLOCK_BYTES[kind]
        rng = np.random.default_rng(seed)
        self.blocks = rng.integers(0, 256, size=(max_blocks, size), dtype=np.uint8)
        if kind == "Q4_K":  # d and dmin (f16) lead the block
            self.blocks[:, 0:4] = np.frombuffer(np.array([0.002, 0.001], dtype=np.float16).tobytes(), dtype=np.uint8)
        else:  # Q6_K: ql, qh, int8 scales, then d (f16) last
            self.blocks[:, 208:210] = np.frombuffer(np.array([0.002], dtype=np.float16).tobytes(), dtype=np.uint8)
        self.kind = kind

    def matrix(self, rows: int, cols: int) -> np.ndarray:
        """rows x cols weights (cols along a row, as ggml's ne0) as raw bytes."""
        n = rows * cols // QK_K
        return self.blocks[:n].reshape(rows, (cols // QK_K) * BLOCK_BYTES[self.kind])


def write(name: str, path: Path, seed: int = 0) -> int:
    """Write the model; returns the file size in bytes."""
    import gguf

    s = SHAPES[name]
    q_dim, kv_dim = s.n_head * s.head_dim, s.n_head_kv * s.head_dim
    biggest = max(s.n_vocab * s.n_embd, s.n_ff * s.n_embd, q_dim * s.n_embd) // QK_K
    q4 = RandomBlocks("Q4_K", biggest, seed)
    q6 = RandomBlocks("Q6_K", biggest, seed + 1)
    w = gguf.GGUFWriter(str(path), "qwen3")
    w.add_name(f"{name} (random weights, real shapes)")
    w.add_context_length(s.n_ctx_train)
    w.add_embedding_length(s.n_embd)
    w.add_feed_forward_length(s.n_ff)
    w.add_block_count(s.n_layer)
    w.add_head_count(s.n_head)
    w.add_head_count_kv(s.n_head_kv)
    w.add_key_length(s.head_dim)
    w.add_value_length(s.head_dim)
    w.add_rope_freq_base(1_000_000.0)
    w.add_layer_norm_rms_eps(1e-6)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_Q4_K_M)

    chars = byte_tokens()
    merges = ["Ġ t", "Ġ a", "h e"]
    tokens = chars + ["Ġt", "Ġa", "he"]
    tokens += [f"<|filler_{i}|>" for i in range(s.n_vocab - len(tokens) - len(SPECIALS))] + SPECIALS
    types = [gguf.TokenType.NORMAL] * (s.n_vocab - len(SPECIALS)) + [gguf.TokenType.CONTROL] * len(SPECIALS)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("qwen2")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_eos_token_id(tokens.index("<|im_end|>"))
    w.add_pad_token_id(tokens.index("<|endoftext|>"))
    w.add_bos_token_id(tokens.index("<|endoftext|>"))
    w.add_add_bos_token(False)
    w.add_chat_template(CHATML)

    def add(tname: str, blocks: RandomBlocks, rows: int, cols: int) -> None:
        raw = gguf.GGMLQuantizationType.Q4_K if blocks.kind == "Q4_K" else gguf.GGMLQuantizationType.Q6_K
        w.add_tensor(tname, blocks.matrix(rows, cols), raw_dtype=raw)

    def norm(tname: str, n: int) -> None:
        w.add_tensor(tname, np.ones(n, dtype=np.float32))

    # Tied: the embedding doubles as the output matrix, so llama-quantize gives it the output's Q6_K.
    add("token_embd.weight", q6 if s.tied else q4, s.n_vocab, s.n_embd)
    for i in range(s.n_layer):
        more = q6 if use_more_bits(i, s.n_layer) else q4
        norm(f"blk.{i}.attn_norm.weight", s.n_embd)
        add(f"blk.{i}.attn_q.weight", q4, q_dim, s.n_embd)
        add(f"blk.{i}.attn_k.weight", q4, kv_dim, s.n_embd)
        add(f"blk.{i}.attn_v.weight", more, kv_dim, s.n_embd)
        add(f"blk.{i}.attn_output.weight", q4, s.n_embd, q_dim)
        norm(f"blk.{i}.attn_q_norm.weight", s.head_dim)
        norm(f"blk.{i}.attn_k_norm.weight", s.head_dim)
        norm(f"blk.{i}.ffn_norm.weight", s.n_embd)
        add(f"blk.{i}.ffn_gate.weight", q4, s.n_ff, s.n_embd)
        add(f"blk.{i}.ffn_up.weight", q4, s.n_ff, s.n_embd)
        add(f"blk.{i}.ffn_down.weight", more, s.n_embd, s.n_ff)
    norm("output_norm.weight", s.n_embd)
    if not s.tied:
        add("output.weight", q6, s.n_vocab, s.n_embd)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path.stat().st_size


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("shape", choices=sorted(SHAPES))
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    size = write(args.shape, args.out)
    published = SHAPES[args.shape].published_gb
    print(f"wrote {args.out}: {size / 1e9:.2f} GB" + (f" (published Q4_K_M: {published:.2f} GB)" if published else ""))
    sys.exit(0)
