"""The conversation the LLM sees (bounded by tokens) and the log of every turn (JSONL in the state dir)."""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from assistant.core.chat import Message
from assistant.core.paths import make_private_dir

log = logging.getLogger(__name__)


def estimate_tokens(text: str) -> int:
    # English averages about 4 characters a token; dividing by 3 over-counts on purpose, so the
    # kept history stays inside the budget whichever LLM's tokenizer is in use.
    return max(1, len(text) // 3)


@dataclass
class Conversation:
    system_prompt: str
    budget_tokens: int
    _turns: list[tuple[Message, int]] = field(default_factory=list)

    def messages(self, user_text: str, count: Callable[[str], int] = estimate_tokens) -> list[Message]:
        """System prompt, then as many recent turns as fit the budget, then the new user message."""
        used = count(self.system_prompt) + count(user_text)
        kept: list[Message] = []
        # Walk back from the newest turn; stop at the first that does not fit, so no gap appears.
        for message, tokens in reversed(self._turns):
            if used + tokens > self.budget_tokens:
                break
            used += tokens
            kept.append(message)
        if kept and kept[-1]["role"] == "assistant":
            kept.pop()  # never start the kept history with a reply to a question that was cut
        kept.reverse()
        return [{"role": "system", "content": self.system_prompt}, *kept, {"role": "user", "content": user_text}]

    def add(self, user_text: str, reply: str, count: Callable[[str], int] = estimate_tokens) -> None:
        self._turns.append(({"role": "user", "content": user_text}, count(user_text)))
        if reply:
            self._turns.append(({"role": "assistant", "content": reply}, count(reply)))

    def clear(self) -> None:
        self._turns.clear()

    def __len__(self) -> int:
        return len(self._turns)


# The fields of a history line that the daemon and the CLI read, with their types.
_EVENT_FIELDS: dict[str, type | tuple[type, ...]] = {"event": str, "conversation": int}
_TURN_FIELDS: dict[str, type | tuple[type, ...]] = {
    "started": (int, float),
    "transcript": str,
    "reply": str,
    "error": (str, type(None)),
    "interrupted": bool,
    "nothing_heard": bool,
    "timings": dict,
    "conversation": int,
}


def valid_entry(entry: object) -> bool:
    """A history line the daemon can use: a marker event or a turn, with every field it reads well typed."""
    if not isinstance(entry, dict):
        return False
    wanted = _EVENT_FIELDS if "event" in entry else _TURN_FIELDS
    for key, expected in wanted.items():
        value = entry.get(key)
        if key == "conversation" and key not in entry:
            continue  # lines from before conversations were numbered
        if not isinstance(value, expected) or (isinstance(value, bool) and expected is not bool):
            return False
    return True


@dataclass
class TurnRecord:
    id: str
    started: float
    transcript: str
    reply: str  # what the user heard
    timings: dict[str, float | None]
    full_reply: str = ""  # what the LLM wrote; longer than reply when interrupted
    llm: str = ""
    interrupted: bool = False
    nothing_heard: bool = False
    error: str | None = None
    error_code: str | None = None
    audio_path: str | None = None
    source: str = "voice"
    conversation: int = 0
    tools: list[dict[str, Any]] = field(default_factory=list)  # ToolCallRecord.to_dict() per tool run

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class HistoryLog:
    """Append-only JSONL: one line per finished turn, and a marker line when a new conversation starts."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.conversation = 0
        for entry in self._entries(report=True):
            if entry.get("event") == "new_conversation":
                self.conversation = entry.get("conversation", self.conversation + 1)

    def _entries(self, report: bool = False) -> list[dict[str, Any]]:
        """Every well-formed line; a damaged one (torn by a crash, edited by hand) is skipped, and logged
        when report is set, so one bad line never costs the rest of the history or the daemon's start."""
        if not self.path.exists():
            return []
        entries = []
        damaged: list[int] = []
        with self.path.open(encoding="utf-8", errors="replace") as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    entry = json.loads(line)
                except (ValueError, RecursionError):
                    entry = None
                if valid_entry(entry):
                    entries.append(entry)
                else:
                    damaged.append(number)
        if damaged and report:
            shown = ", ".join(map(str, damaged[:10])) + (", ..." if len(damaged) > 10 else "")
            log.warning("%s: skipped %d damaged line(s): %s", self.path, len(damaged), shown)
        return entries

    def _append(self, entry: dict[str, Any]) -> None:
        make_private_dir(self.path.parent)
        line = (json.dumps(entry, ensure_ascii=False) + "\n").encode("utf-8")
        # One write() of one line, flushed and synced: a kill loses at most the turn in flight.
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.fchmod(fd, 0o600)  # the conversation is private, whatever the umask or an older version made
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                line = b"\n" + line  # the last line was torn by a crash: do not glue this turn onto it
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)

    def append(self, record: TurnRecord) -> None:
        record.conversation = self.conversation
        self._append(record.to_dict())

    def new_conversation(self) -> int:
        self.conversation += 1
        self._append({"event": "new_conversation", "conversation": self.conversation, "time": time.time()})
        return self.conversation

    def turns(self, limit: int | None = None, conversation: int | None = None) -> list[dict[str, Any]]:
        turns = [e for e in self._entries() if "event" not in e]
        if conversation is not None:
            turns = [t for t in turns if t.get("conversation") == conversation]
        return turns[-limit:] if limit else turns

    def restore(self, conversation: Conversation) -> None:
        """Refill the LLM's context from the current conversation's turns after a restart."""
        for turn in self.turns(conversation=self.conversation):
            if turn.get("transcript") and not turn.get("error"):
                conversation.add(turn["transcript"], turn.get("reply", ""))
