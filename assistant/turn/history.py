"""The conversation the LLM sees (bounded by tokens) and the log of every turn (JSONL in the state dir)."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from assistant.core.atomic import write_atomic
from assistant.core.chat import Message
from assistant.core.paths import make_private_dir
from assistant.core.records import ConversationStarted
from assistant.core.records import TurnRecord as TurnRecord  # re-exported: the history's own record
from assistant.core.wire import WireError, from_json, to_json

log = logging.getLogger(__name__)

CACHED_LINES = 200  # history lines kept parsed in memory: a status reads the last 50 turns


def estimate_tokens(text: str) -> int:
    # English averages about 4 characters a token; dividing by 3 over-counts on purpose, so the
    # kept history stays inside the budget whichever LLM's tokenizer is in use.
    return max(1, len(text) // 3)


@dataclass
class Conversation:
    system_prompt: str
    budget_tokens: int
    _turns: list[tuple[Message, int]] = field(default_factory=list)

    def reconfigure(self, system_prompt: str, budget_tokens: int) -> None:
        """A reloaded config: the next turn's system prompt and history budget (the turns so far are kept)."""
        self.system_prompt = system_prompt
        self.budget_tokens = budget_tokens

    def messages(self, user_text: str, count: Callable[[str], int] = estimate_tokens) -> list[Message]:
        """System prompt, then the recent turns that fit the budget, then the new user message.

        When the turns outgrow the budget, the oldest go in one step, down to half of it, and stay gone:
        the history the LLM sees then begins at the same turn for the next several turns, so its KV cache
        is reused instead of the whole history being read again each turn, as a window that slid by one
        turn at a time made it (scripts/soak.py: a text turn went from 0.3 s to 4 s once the budget was full).
        """
        fixed = count(self.system_prompt) + count(user_text)
        if fixed + sum(tokens for _, tokens in self._turns) > self.budget_tokens:
            room, keep = fixed + (self.budget_tokens - fixed) // 2, 0
            # Walk back from the newest turn; stop at the first that does not fit, so no gap appears.
            for _, tokens in reversed(self._turns):
                if room + tokens > self.budget_tokens:
                    break
                room += tokens
                keep += 1
            del self._turns[: len(self._turns) - keep]
        while self._turns and self._turns[0][0]["role"] == "assistant":
            del self._turns[0]  # never start the kept history with a reply to a question that was cut
        kept = [message for message, _ in self._turns]
        return [{"role": "system", "content": self.system_prompt}, *kept, {"role": "user", "content": user_text}]

    def add(self, user_text: str, reply: str, count: Callable[[str], int] = estimate_tokens) -> None:
        self._turns.append(({"role": "user", "content": user_text}, count(user_text)))
        if reply:
            self._turns.append(({"role": "assistant", "content": reply}, count(reply)))

    def clear(self) -> None:
        self._turns.clear()

    def __len__(self) -> int:
        return len(self._turns)


# A line of the history: a turn, or the marker that starts a conversation.
Entry = TurnRecord | ConversationStarted


def read_entry(data: object) -> Entry | None:
    """A history line the daemon can use, as its record; None for one that is not (torn, edited by hand)."""
    if not isinstance(data, dict):
        return None
    try:
        return from_json(ConversationStarted, data) if "event" in data else from_json(TurnRecord, data)
    except WireError:
        return None


class HistoryLog:
    """Append-only JSONL: one line per finished turn, and a marker line when a new conversation starts.

    Bounded on disk: past `max_bytes` the older lines move to `history.1.jsonl` (replacing the one before),
    keeping the newest half and every turn the LLM's context still holds (`keep_tokens` of the current
    conversation), each file written whole and renamed into place, so a crash leaves no half line.
    The newest CACHED_LINES parsed lines are kept in memory while the file is unchanged: a status or a turn
    reads no file, and a daemon up for weeks does not hold its whole history (3.5 KB a turn once parsed).
    The daemon calls it from worker threads (a read or a rotation can take the whole file, which must not
    hold its event loop), so each public method holds a lock over the cache and the file.
    """

    def __init__(self, path: Path, max_bytes: int | None = None, keep_tokens: int = 1024) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.keep_tokens = keep_tokens
        self.conversation = 0
        self._cache: list[Entry] | None = None  # the newest lines, at most CACHED_LINES
        self._whole = False  # whether the cache holds every line of the file
        self._stamp: tuple[int, int, int] | None = None  # (inode, size, mtime) of the file the cache read
        self._lock = threading.RLock()
        for entry in self._entries(report=True):
            if isinstance(entry, ConversationStarted):
                self.conversation = entry.conversation
        self._keep_tail()

    def reconfigure(self, max_bytes: int | None, keep_tokens: int) -> None:
        """A reloaded config: the bound on disk and the turns kept past it, from the next append."""
        self.max_bytes = max_bytes
        self.keep_tokens = keep_tokens

    @property
    def archive(self) -> Path:
        return self.path.with_name(self.path.stem + ".1" + self.path.suffix)

    def _file_stamp(self) -> tuple[int, int, int] | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def _entries(self, report: bool = False, whole: bool = False) -> list[Entry]:
        """The newest lines (every line with `whole`), from memory while the file is unchanged."""
        stamp = self._file_stamp()
        if self._cache is not None and stamp == self._stamp and (self._whole or not whole):
            return self._cache
        entries = self._read(report)
        self._cache, self._stamp, self._whole = entries, stamp, True
        return entries

    def _keep_tail(self) -> None:
        if self._cache is not None and len(self._cache) > CACHED_LINES:
            self._cache, self._whole = self._cache[-CACHED_LINES:], False

    def _read(self, report: bool = False) -> list[Entry]:
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
                    entry = read_entry(json.loads(line))
                except (ValueError, RecursionError):
                    entry = None
                if entry is not None:
                    entries.append(entry)
                else:
                    damaged.append(number)
        if damaged and report:
            shown = ", ".join(map(str, damaged[:10])) + (", ..." if len(damaged) > 10 else "")
            log.warning("%s: skipped %d damaged line(s): %s", self.path, len(damaged), shown)
        return entries

    def _append(self, entry: Entry) -> None:
        cached = self._cache is not None and self._file_stamp() == self._stamp
        make_private_dir(self.path.parent)
        line = _line(entry).encode("utf-8")
        # One write() of one line, flushed and synced: a kill loses at most the turn in flight.
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.fchmod(fd, 0o600)  # the conversation is private, whatever the umask or an older version made
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                line = b"\n" + line  # the last line was torn by a crash: do not glue this turn onto it
            os.write(fd, line)
            os.fsync(fd)
            size += len(line)
        finally:
            os.close(fd)
        if cached and self._cache is not None:
            self._cache = [*self._cache, entry]  # a new list: a caller may hold the old one
            self._stamp = self._file_stamp()
            self._keep_tail()
        if self.max_bytes is not None and size > self.max_bytes:
            self._rotate()

    def _rotate(self) -> None:
        """Move the older lines to the archive, keeping the newest half and what the LLM's context holds."""
        entries = self._read()
        lines = [_line(e) for e in entries]
        keep = [False] * len(entries)
        budget = (self.max_bytes or 0) // 2
        for i in range(len(lines) - 1, -1, -1):  # the newest half
            budget -= len(lines[i].encode("utf-8"))
            if budget < 0:
                break
            keep[i] = True
        tokens = self.keep_tokens
        for i in range(len(entries) - 1, -1, -1):  # the current conversation, as far back as its context goes
            entry = entries[i]
            if entry.conversation != self.conversation:
                continue
            if isinstance(entry, ConversationStarted):
                keep[i] = True  # its marker: a restart must know which conversation is current
                continue
            tokens -= estimate_tokens(entry.transcript) + estimate_tokens(entry.reply)
            if tokens >= 0:
                keep[i] = True
        old = "".join(line for line, kept in zip(lines, keep, strict=True) if not kept)
        new = "".join(line for line, kept in zip(lines, keep, strict=True) if kept)
        # The archive first: a crash between the two renames leaves a line in both files, never in neither.
        write_atomic(self.archive, old)
        write_atomic(self.path, new)
        self._cache, self._stamp = [e for e, kept in zip(entries, keep, strict=True) if kept], self._file_stamp()
        self._whole = True
        self._keep_tail()
        log.info("%s: moved %d older line(s) to %s", self.path, keep.count(False), self.archive.name)

    def append(self, record: TurnRecord) -> TurnRecord:
        """Append a turn to the current conversation; the record as written (its conversation's number)."""
        with self._lock:
            record = replace(record, conversation=self.conversation)
            self._append(record)
            return record

    def new_conversation(self) -> int:
        with self._lock:
            self.conversation += 1
            self._append(ConversationStarted(conversation=self.conversation, time=time.time()))
            return self.conversation

    def turns(self, limit: int | None = None, conversation: int | None = None) -> list[TurnRecord]:
        """The newest `limit` turns (all with None), of one conversation or of every one."""
        with self._lock:
            return self._turns(limit, conversation)

    def _turns(self, limit: int | None, conversation: int | None) -> list[TurnRecord]:
        turns: list[TurnRecord] = []
        for whole in (False, True):  # the newest lines in memory first; the file when they are too few
            entries = self._entries(whole=whole)
            turns = [e for e in entries if isinstance(e, TurnRecord)]
            if conversation is not None:
                turns = [t for t in turns if t.conversation == conversation]
            if self._whole or (limit and len(turns) >= limit):
                break
        self._keep_tail()  # if this read the file, memory goes back to the newest lines
        return turns[-limit:] if limit else turns

    def restore(self, conversation: Conversation) -> None:
        """Refill the LLM's context from the current conversation's turns after a restart."""
        for turn in self.turns(conversation=self.conversation):
            if turn.transcript and not turn.error and not turn.refused:
                conversation.add(turn.transcript, turn.reply)


def _line(entry: Entry) -> str:
    return json.dumps(to_json(entry), ensure_ascii=False) + "\n"
