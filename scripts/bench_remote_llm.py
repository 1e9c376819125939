#!/usr/bin/env python3
"""What the openai engine adds: time to first token through llama-cpp-python's OpenAI-compatible server
(on loopback) against the same GGUF in a local worker, measured in the same run.

    .venv/bin/python scripts/bench_remote_llm.py [--runs 10] [--out bench-results/bench_remote_llm.json]

Both paths load the embedded SmolLM2 GGUF with the same n_ctx, on the CPU, and answer the same short
question each round (a new one every round, so neither answers from its prompt cache); the rounds
alternate which path goes first. Prints one table and writes JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assistant.config.catalog import load_catalog
from assistant.core.chat import TextDelta  # noqa: E402
from assistant.core.models import ModelFiles, ModelSpec, Source  # noqa: E402
from assistant.core.paths import shipped_catalog  # noqa: E402
from assistant.engines.files import resolve  # noqa: E402
from assistant.engines.options import LlamaOptions, OpenAIEndpoint, OpenAIOptions  # noqa: E402
from assistant.engines.registry import options_of  # noqa: E402
from assistant.hosts.host import ModelHost  # noqa: E402
from assistant.hosts.inloop import InLoopModel  # noqa: E402
from assistant.hosts.worker import Worker  # noqa: E402

N_CTX = 2048
MAX_TOKENS = 16
# A new question each round: a repeated prompt would be answered from llama.cpp's prefix cache.
TOPICS = ["France", "Japan", "Brazil", "Kenya", "Canada", "Norway", "Egypt", "Chile", "India", "Spain", "Peru", "Italy"]


def question(i: int) -> list[dict[str, str]]:
    topic = TOPICS[i % len(TOPICS)]
    return [{"role": "user", "content": f"Round {i}: what is the capital of {topic}, and what is it known for?"}]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(gguf: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", "smollm2",
         "--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(N_CTX),
         # The server computes logits for every prompt token by default; the worker does not. Match it,
         # so the difference is the HTTP hop and the engine, not a slower prompt evaluation.
         "--logits_all", "false"],
        stdout=log.open("wb"), stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=2):
                return proc
        except OSError:
            if proc.poll() is not None:
                raise SystemExit(f"llama_cpp.server exited:\n{log.read_text()}") from None
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("llama_cpp.server did not start")


async def first_token(host: ModelHost, messages: list[dict[str, str]]) -> float:
    started = time.perf_counter()
    stream = host.stream("chat", messages=messages, max_tokens=MAX_TOKENS)
    try:
        async for event in stream:
            if isinstance(event, TextDelta):
                return time.perf_counter() - started
    finally:
        await stream.aclose()
    raise RuntimeError("no token")


async def measure(runs: int, port: int) -> dict[str, list[float]]:
    local_spec = load_catalog([shipped_catalog()]).get("smollm2-135m")
    local_options = options_of(local_spec, LlamaOptions)
    local_spec = replace(local_spec, options=local_options.model_copy(update={"n_ctx": N_CTX, "max_tokens": MAX_TOKENS}))
    remote_spec = ModelSpec(
        id="smollm2-remote", kind="llm", engine="openai", vram_gb=0.0, source=Source(),
        endpoint=OpenAIEndpoint(base_url=f"http://127.0.0.1:{port}/v1", model="smollm2"),
        options=OpenAIOptions(max_tokens=MAX_TOKENS, temperature=local_options.temperature),
    )
    local = Worker(local_spec, resolve(local_spec, Path("/nonexistent")), "cpu")
    remote = InLoopModel(remote_spec, ModelFiles(None), "cpu")
    await local.start()
    await remote.start()
    times: dict[str, list[float]] = {"local worker": [], "openai engine": []}
    try:
        await first_token(local, question(-1))  # warm both: the first request pays one-time costs
        await first_token(remote, question(-1))
        for i in range(runs):
            order = [("local worker", local), ("openai engine", remote)]
            for name, host in order if i % 2 == 0 else order[::-1]:
                times[name].append(await first_token(host, question(i)))
    finally:
        await local.stop()
        await remote.stop()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--out", type=Path, default=Path("bench-results/bench_remote_llm.json"))
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    gguf = resolve(load_catalog([shipped_catalog()]).get("smollm2-135m"), Path("/nonexistent")).path
    assert gguf is not None
    port = free_port()
    server = start_server(gguf, port, args.out.with_suffix(".server.log"))
    try:
        times = asyncio.run(measure(args.runs, port))
    finally:
        server.terminate()
        server.wait(10)
    rows: dict[str, Any] = {
        name: {"median_s": statistics.median(t), "min_s": min(t), "max_s": max(t), "runs": t} for name, t in times.items()
    }
    added = rows["openai engine"]["median_s"] - rows["local worker"]["median_s"]
    print(f"time to first token, {args.runs} runs, SmolLM2-135M Q4_1 on the CPU, max_tokens {MAX_TOKENS}")
    print(f"{'path':<16}{'median':>10}{'min':>10}{'max':>10}")
    for name, row in rows.items():
        print(f"{name:<16}{row['median_s']:>9.3f}s{row['min_s']:>9.3f}s{row['max_s']:>9.3f}s")
    print(f"the openai engine adds {added * 1000:+.0f} ms at the median")
    args.out.write_text(json.dumps({"runs": args.runs, "max_tokens": MAX_TOKENS, "paths": rows, "added_s": added}, indent=2))


if __name__ == "__main__":
    main()
