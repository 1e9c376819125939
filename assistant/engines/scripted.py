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

import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from assistant.core.chat import ChatEvent, Message, TextDelta, ToolCall, ToolSpec
from assistant.core.errors import ModelError
from assistant.engines.options import ScriptedOptions


class _Step(BaseModel):
    """One event of a round: a tool call, a text, or a way of being slow (the first of these it has)."""

    model_config = ConfigDict(frozen=True)
    sleep: float | None = None
    spin: float | None = None
    tool: str | None = None
    arguments: dict[str, Any] = {}
    text: str = ""


class _Turn(BaseModel):
    model_config = ConfigDict(frozen=True)
    match: str = ""
    rounds: list[list[_Step]]


class _Script(BaseModel):
    model_config = ConfigDict(frozen=True)
    turns: list[_Turn] = []
    default: list[list[_Step]] = [[_Step(text="I have no script for that.")]]


class ScriptedChatModel:
    device = "cpu"

    def __init__(self, path: Path, options: ScriptedOptions, model_id: str = "llm") -> None:
        try:
            text = path.read_text()
        except OSError as exc:
            raise ModelError(f"{model_id}: cannot read the script {path}: {exc}") from None
        try:
            script = _Script.model_validate_json(text)
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(part) for part in error["loc"]) or "the file"
            raise ModelError(
                f"{model_id}: {path}: a script is an object with a 'turns' list ({where}: {error['msg']})"
            ) from None
        self.turns = script.turns
        self.default = script.default
        self.chunk_chars = options.chunk_chars  # stream text in small pieces, as a model does
        self.delay_s = options.delay_s

    def chat(
        self, messages: Sequence[Message], max_tokens: int | None = None, tools: Sequence[ToolSpec] = ()
    ) -> Iterator[ChatEvent]:
        last_user = max((i for i, m in enumerate(messages) if m["role"] == "user"), default=-1)
        user_text = messages[last_user]["content"].lower() if last_user >= 0 else ""
        after = messages[last_user + 1 :]
        results = [m for m in after if m["role"] == "tool"]
        rounds = next((t.rounds for t in self.turns if t.match.lower() in user_text), self.default)
        round_events = rounds[min(len(results), len(rounds) - 1)]
        last_result = results[-1]["content"] if results else ""
        offered = {spec.name for spec in tools}
        for event in round_events:
            if event.sleep is not None:
                time.sleep(event.sleep)
                continue
            if event.spin is not None:
                until = time.monotonic() + event.spin
                while time.monotonic() < until:
                    pass
                continue
            if event.tool is not None:
                if event.tool not in offered:
                    # A real model can only call what it was offered; say so in the stream instead.
                    yield TextDelta(f"(the script asked for {event.tool}, which was not offered) ")
                    continue
                yield ToolCall(f"call_{uuid.uuid4().hex[:8]}", event.tool, dict(event.arguments))
                continue
            text = event.text.replace("{result}", last_result)
            for start in range(0, len(text), self.chunk_chars):
                if self.delay_s:
                    time.sleep(self.delay_s)
                yield TextDelta(text[start : start + self.chunk_chars])
