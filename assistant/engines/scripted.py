"""ScriptedChatModel: a stand-in chat engine (`scripted-test`) that replays a script, for tool-loop tests only.

No chat model that follows a tool format ships on PyPI, so the tool loop is tested against this one:
it goes through the same catalog, worker process and event stream as a real LLM. Never a default.

The script is a JSON file (the catalog entry's `path`):
    {"turns": [{"match": "time", "rounds": [[{"tool": "clock", "arguments": {}}],
                                            [{"text": "The tool said: {result}"}]]}],
     "default": [[{"text": "I have no script for that."}]]}
The first turn whose `match` is in the last user message (case-insensitive) is replayed; round N is
used when N tool results follow that message, so a reply can only quote a result that reached it.
`{result}` in a text is replaced with the content of the last tool message.
Two events stand in for a model's ways of being slow: {"sleep": S} blocks for S seconds using no CPU (as a
deadlocked model does), {"spin": S} computes for S seconds without a token (as a long prefill on a CPU).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from assistant.core.chat import ChatEvent, Message, TextDelta, ToolCall, ToolSpec
from assistant.core.errors import ModelError
from assistant.engines.options import ScriptedOptions


class ScriptedChatModel:
    device = "cpu"

    def __init__(self, path: Path, options: ScriptedOptions, model_id: str = "llm") -> None:
        try:
            script = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ModelError(f"{model_id}: cannot read the script {path}: {exc}") from None
        if not isinstance(script, dict) or not isinstance(script.get("turns", []), list):
            raise ModelError(f"{model_id}: {path}: a script is an object with a 'turns' list")
        self.turns: list[dict[str, Any]] = script.get("turns", [])
        self.default: list[list[dict[str, Any]]] = script.get("default", [[{"text": "I have no script for that."}]])
        self.chunk_chars = options.chunk_chars  # stream text in small pieces, as a model does
        self.delay_s = options.delay_s

    def chat(
        self, messages: Sequence[Message], max_tokens: int | None = None, tools: Sequence[ToolSpec] = ()
    ) -> Iterator[ChatEvent]:
        last_user = max((i for i, m in enumerate(messages) if m["role"] == "user"), default=-1)
        user_text = messages[last_user]["content"].lower() if last_user >= 0 else ""
        after = messages[last_user + 1 :]
        results = [m for m in after if m["role"] == "tool"]
        rounds = next((t["rounds"] for t in self.turns if str(t.get("match", "")).lower() in user_text), self.default)
        round_events = rounds[min(len(results), len(rounds) - 1)]
        last_result = results[-1]["content"] if results else ""
        offered = {spec.name for spec in tools}
        for event in round_events:
            if "sleep" in event:
                time.sleep(float(event["sleep"]))
                continue
            if "spin" in event:
                until = time.monotonic() + float(event["spin"])
                while time.monotonic() < until:
                    pass
                continue
            if "tool" in event:
                if event["tool"] not in offered:
                    # A real model can only call what it was offered; say so in the stream instead.
                    yield TextDelta(f"(the script asked for {event['tool']}, which was not offered) ")
                    continue
                yield ToolCall(f"call_{uuid.uuid4().hex[:8]}", str(event["tool"]), dict(event.get("arguments", {})))
                continue
            text = str(event.get("text", "")).replace("{result}", last_result)
            for start in range(0, len(text), self.chunk_chars):
                if self.delay_s:
                    time.sleep(self.delay_s)
                yield TextDelta(text[start : start + self.chunk_chars])
