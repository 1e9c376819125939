"""history.jsonl stays bounded: older lines move to history.1.jsonl, the LLM's context and the current
conversation's marker stay, each file is whole after any crash, and reads come from memory."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from assistant.core.wire import to_json
from assistant.turn.history import Conversation, Entry, HistoryLog, TurnRecord

pytestmark = pytest.mark.quick


def turn(i: int, words: int = 30) -> TurnRecord:
    return TurnRecord(id=f"t{i}", started=float(i), transcript=f"question {i} " + "word " * words,
                      reply=f"answer {i} " + "word " * words, timings={})


def assert_holds(restored: list[dict[str, str]], seen: list[dict[str, str]]) -> None:
    """Everything the LLM saw before the restart is in what it sees after (maybe with older turns too)."""
    assert restored[0] == seen[0] and restored[-(len(seen) - 1):] == seen[1:], (len(restored), len(seen))


def test_the_history_the_llm_sees_starts_at_the_same_turn_until_it_outgrows_its_budget() -> None:
    talk = Conversation("system", 1024)
    starts, lengths = [], []
    for i in range(200):
        messages = talk.messages(f"question {i}")
        starts.append(messages[1]["content"] if len(messages) > 2 else None)
        lengths.append(sum(len(m["content"]) // 3 for m in messages))
        talk.add(turn(i).transcript, turn(i).reply)
    assert max(lengths) <= 1024
    changes = sum(1 for a, b in zip(starts, starts[1:]) if a != b and a is not None)
    # A window that slid a turn at a time would change its first turn at nearly every turn past the budget
    # (and the LLM would read the whole history again each time); this one jumps now and then.
    assert 3 <= changes <= 200 // 5, changes
    assert len(talk) <= 2 * 60  # the turns it will never show again are not kept in memory either


def test_the_log_rotates_past_its_cap_and_keeps_the_llm_context(tmp_path: Path) -> None:
    path = tmp_path / "state" / "history.jsonl"
    log = HistoryLog(path, max_bytes=20_000, keep_tokens=1024)
    log.new_conversation()
    for i in range(400):
        log.append(turn(i))
    assert path.stat().st_size <= 20_000  # bounded: it never grows past its cap for long
    archive = path.with_name("history.1.jsonl")
    assert archive.exists()
    for file in (path, archive):
        assert stat.S_IMODE(file.stat().st_mode) == 0o600  # the user's words, in every file
        for line in file.read_text().splitlines():
            json.loads(line)  # every line whole
    kept = [json.loads(line) for line in path.read_text().splitlines()]
    assert kept[0] == {"event": "new_conversation", "conversation": 1, "time": kept[0]["time"]}  # still current
    turns = [entry for entry in kept if "event" not in entry]
    assert turns[-1]["id"] == "t399" and [t["id"] for t in turns] == [f"t{i}" for i in range(400 - len(turns), 400)]

    # A restart refills exactly what the LLM saw before it: nothing in its context was moved away.
    before = Conversation("system", 1024)
    for i in range(400):
        before.add(turn(i).transcript, turn(i).reply)
    after = Conversation("system", 1024)
    HistoryLog(path, max_bytes=20_000, keep_tokens=1024).restore(after)
    assert_holds(after.messages("next"), before.messages("next"))


def test_the_context_is_kept_even_when_it_is_more_than_half_the_cap(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    log = HistoryLog(path, max_bytes=4_000, keep_tokens=4096)  # a context bigger than the newest half
    log.new_conversation()
    for i in range(60):
        log.append(turn(i))
    restored = Conversation("system", 4096)
    HistoryLog(path, max_bytes=4_000, keep_tokens=4096).restore(restored)
    everything = Conversation("system", 4096)
    for i in range(60):
        everything.add(turn(i).transcript, turn(i).reply)
    assert_holds(restored.messages("next"), everything.messages("next"))


def test_reads_come_from_memory_until_the_file_changes_under_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "history.jsonl"
    log = HistoryLog(path)
    log.append(turn(1))
    reads: list[int] = []
    real = HistoryLog._read

    def counted(self: HistoryLog, report: bool = False) -> list[Entry]:
        reads.append(1)
        return real(self, report)

    monkeypatch.setattr(HistoryLog, "_read", counted)
    for _ in range(5):
        assert [t.id for t in log.turns()] == ["t1"]
    log.append(turn(2))
    assert [t.id for t in log.turns()] == ["t1", "t2"]
    assert len(reads) <= 1  # at most the first read after the start; appends go to memory too
    with path.open("a") as f:  # edited by hand (or by another daemon): read again
        f.write(json.dumps(to_json(turn(3))) + "\n")
    assert [t.id for t in log.turns()] == ["t1", "t2", "t3"]


def test_a_crash_mid_rotation_leaves_whole_lines_and_loses_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import assistant.turn.history as history

    path = tmp_path / "history.jsonl"
    log = HistoryLog(path, max_bytes=6_000, keep_tokens=256)
    log.new_conversation()
    real = history.write_atomic
    calls: list[Path] = []

    def crash_after_the_archive(target: Path, text: str, mode: int = 0o600) -> None:
        calls.append(target)
        if target == path:
            raise KeyboardInterrupt  # the process dies between the two renames
        real(target, text, mode)

    monkeypatch.setattr(history, "write_atomic", crash_after_the_archive)
    i = 0
    with pytest.raises(KeyboardInterrupt):
        while True:
            log.append(turn(i))
            i += 1
    ids = set()
    for file in (path, path.with_name("history.1.jsonl")):
        for line in file.read_text().splitlines():
            ids.add(json.loads(line).get("id"))
    assert {f"t{n}" for n in range(i + 1)} <= ids  # every turn is in one file or the other
    assert not list(tmp_path.glob(".history*.tmp"))  # no temporary file left behind


def test_memory_holds_only_the_newest_lines_and_older_ones_are_read_from_the_file(tmp_path: Path) -> None:
    from assistant.turn.history import CACHED_LINES

    log = HistoryLog(tmp_path / "history.jsonl")
    for i in range(CACHED_LINES + 150):
        log.append(turn(i, words=2))
    assert log._cache is not None and len(log._cache) <= CACHED_LINES  # weeks of turns are not all in memory
    assert [t.id for t in log.turns(limit=50)] == [f"t{i}" for i in range(CACHED_LINES + 100, CACHED_LINES + 150)]
    everything = log.turns()
    assert len(everything) == CACHED_LINES + 150 and everything[0].id == "t0"  # read from the file
    assert len(log._cache) <= CACHED_LINES
    restarted = HistoryLog(tmp_path / "history.jsonl")
    assert restarted._cache is not None and len(restarted._cache) <= CACHED_LINES
    assert restarted.turns(limit=1)[0].id == f"t{CACHED_LINES + 149}"


def test_a_refusal_stays_in_the_log_but_never_returns_to_the_llm_context(tmp_path: Path) -> None:
    path = tmp_path / "state" / "history.jsonl"
    log = HistoryLog(path)
    log.new_conversation()
    refusal = "I can't control your smart-home devices yet: no tool for that is connected."
    log.append(TurnRecord(id="r", started=1.0, transcript="turn off the kitchen lights", reply=refusal, timings={},
                          refused=True))
    log.append(turn(2))
    assert [t.refused for t in HistoryLog(path).turns()] == [True, False]  # the user still sees it
    talk = Conversation("system", 4096)
    HistoryLog(path).restore(talk)  # a restart
    contents = [m["content"] for m in talk.messages("next")]
    assert refusal not in contents and "turn off the kitchen lights" not in contents
    assert turn(2).reply in contents


def test_a_line_read_back_is_the_line_that_was_written(tmp_path: Path) -> None:
    """The records are the file's format: a line read back and written out again (a rotation, the `history`
    reply) is what it was, counts in the timings included."""
    line = {
        "id": "t1", "started": 1.5, "transcript": "what time is it", "reply": "It's 9:00 PM.",
        "timings": {"asr_s": 0.12, "asr_partials": 3, "speculation_ahead_s": None}, "full_reply": "It's 9:00 PM.",
        "llm": "qwen", "interrupted": False, "nothing_heard": False, "error": None, "error_code": None,
        "audio_path": None, "source": "voice", "conversation": 1,
        "tools": [{"name": "get_time", "arguments": {}, "result": "It's 9:00 PM.", "ok": True, "ms": 0.41, "route": "intent"}],
        "refused": False, "end": "model", "end_probability": 0.93,
    }
    marker = {"event": "new_conversation", "conversation": 1, "time": 1.0}
    path = tmp_path / "history.jsonl"
    path.write_text(json.dumps(marker) + "\n" + json.dumps(line) + "\n")
    log = HistoryLog(path)
    [turn] = log.turns()
    assert log.conversation == 1 and turn.tools[0].route == "intent"
    assert json.dumps(to_json(turn)) == json.dumps(line)
