#!/usr/bin/env python3
"""Benchmark what one tool round trip costs on the LLM route.

    .venv/bin/python scripts/bench_tools.py [--runs 5] [--out bench-results/bench_tools.json]

1. Scripted engine + a real MCP stdio server (tests/mcp_server.py), through the real pipeline and worker:
   a text turn that asks for no tool, against one that makes one tool call (the model asked, the MCP
   server answered, the model asked again); the difference is the round trip.
2. The embedded SmolLM2-135M (CPU): the first token and the whole reply without tools, with the tool
   grammar, and the answer round after a tool result (the second model call of a round trip).
Prints one table and writes JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant.config.settings import Config, McpServerSettings  # noqa: E402
from assistant.core.chat import Message, ToolSpec  # noqa: E402
from assistant.core.paths import Paths  # noqa: E402
from assistant.engines.files import locate  # noqa: E402
from assistant.engines.llama_cpp import LlamaChatModel  # noqa: E402
from assistant.engines.options import LlamaOptions  # noqa: E402
from assistant.tools.mcp import McpServers  # noqa: E402
from assistant.turn.assistant import Assistant  # noqa: E402
from assistant.turn.pipeline import Models, TurnResult  # noqa: E402
from assistant.turn.utterance import Utterance  # noqa: E402
from assistant.vram.meter import SimulatedMeter  # noqa: E402
from tests.daemon_process import SCRIPTED  # noqa: E402

SCRIPT = {
    "turns": [
        {"match": "add", "rounds": [[{"tool": "bench__add", "arguments": {"a": 12, "b": 30}}], [{"text": "The sum is {result}."}]]}
    ],
    "default": [[{"text": "The sum is 42."}]],
}


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 4)


async def scripted_round_trip(paths: Paths, runs: int) -> dict[str, Any]:
    paths.config_dir.mkdir(parents=True, exist_ok=True)
    paths.user_catalog.write_text(SCRIPTED)
    (paths.config_dir / "script.json").write_text(json.dumps(SCRIPT))
    assistant = Assistant.create(Config.load(paths), SimulatedMeter(16.0), persist=False)
    server = McpServers(
        [McpServerSettings("bench", sys.executable, (str(ROOT / "tests" / "mcp_server.py"), str(paths.state_dir)))],
        assistant.tools,
    )
    server.start()
    models = Models(asr=assistant.models.asr, llm="scripted-tools", tts=assistant.models.tts)
    try:
        while not server.status()[0]["connected"]:
            await asyncio.sleep(0.1)
        plain, tooled, tool_ms = [], [], []
        await assistant.pipeline.turn(Utterance.typed("warm up"), models, None)
        for _ in range(runs):
            result = await assistant.pipeline.turn(Utterance.typed("no tool, please"), models, None, TurnResult(id="p"))
            plain.append(result.timings.total_s or 0.0)
            result = await assistant.pipeline.turn(Utterance.typed("add twelve and thirty"), models, None, TurnResult(id="t"))
            assert result.full_reply == "The sum is 42." and len(result.tools) == 1, result
            tooled.append(result.timings.total_s or 0.0)
            tool_ms.append(result.tools[0].ms)
    finally:
        await server.stop()
        await assistant.close()
    return {"turn_no_tool_s": _median(plain), "turn_one_tool_s": _median(tooled), "tool_call_ms": _median(tool_ms)}


TOOLS = [
    ToolSpec("clock", "The current time and date, here or in a named city.", {"type": "object", "properties": {"city": {"type": "string"}}}),
    ToolSpec("arithmetic", "The exact result of an arithmetic expression.", {"type": "object", "properties": {"expression": {"type": "string"}}, "required": ["expression"]}),
]


def _time(model: LlamaChatModel, messages: list[Message], tools: list[ToolSpec]) -> tuple[float, float]:
    started = time.perf_counter()
    first = None
    for _ in model.chat(messages, 32, tools):
        first = first if first is not None else time.perf_counter() - started
    return first or 0.0, time.perf_counter() - started


def smollm2(config: Config, runs: int) -> dict[str, Any]:
    spec = config.catalog.get("smollm2-135m")
    path = locate(spec, config.paths.models_dir).path
    assert path is not None
    model = LlamaChatModel(path, "cpu", LlamaOptions(n_ctx=2048, max_tokens=32, temperature=0.2), spec.id)
    system: Message = {"role": "system", "content": config.settings.system_prompt}
    ask: list[Message] = [system, {"role": "user", "content": "What is twelve times seven?"}]
    after: list[Message] = [
        *ask,
        {"role": "assistant", "content": "", "tool_calls": [{"id": "1", "type": "function", "function": {"name": "arithmetic", "arguments": '{"expression": "12*7"}'}}]},
        {"role": "tool", "tool_call_id": "1", "name": "arithmetic", "content": "12 × 7 = 84"},
    ]
    rows: dict[str, Any] = {}
    for name, messages, tools in (("no_tools", ask, []), ("grammar", ask, TOOLS), ("answer_after_result", after, TOOLS)):
        _time(model, messages, tools)  # warm: the prompt cache and the grammar are built once
        samples = [_time(model, messages, tools) for _ in range(runs)]
        rows[name] = {"first_token_s": _median([s[0] for s in samples]), "total_s": _median([s[1] for s in samples])}
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results" / "bench_tools.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        paths = Paths(config_dir=base / "config", state_dir=base / "state", data_dir=base / "data", runtime_dir=base / "run")
        scripted = asyncio.run(scripted_round_trip(paths, args.runs))
        embedded = smollm2(Config.load(paths), args.runs)
    report = {"runs": args.runs, "scripted_mcp": scripted, "smollm2_cpu": embedded}
    print(f"{'measure':44} {'median':>10}")
    print(f"{'scripted LLM, turn with no tool (s)':44} {scripted['turn_no_tool_s']:>10}")
    print(f"{'scripted LLM, turn with one MCP tool call (s)':44} {scripted['turn_one_tool_s']:>10}")
    print(f"{'  of which the MCP stdio call (ms)':44} {scripted['tool_call_ms']:>10}")
    for name, row in embedded.items():
        print(f"{'SmolLM2 ' + name + ', first token (s)':44} {row['first_token_s']:>10}")
        print(f"{'SmolLM2 ' + name + ', whole reply (s)':44} {row['total_s']:>10}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
