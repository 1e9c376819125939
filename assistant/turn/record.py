"""A finished turn, as the history keeps it and the daemon's subscribers hear of it."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

from assistant.audio.sinks import WavSink
from assistant.core.errors import AssistantError
from assistant.core.events import Emit, TurnFinished
from assistant.turn.history import HistoryLog, TurnRecord
from assistant.turn.results import TurnResult
from assistant.turn.utterance import Utterance

log = logging.getLogger(__name__)


async def record_turn(
    history: HistoryLog,
    emit: Emit,
    result: TurnResult,
    started: float,
    error: AssistantError | None,
    wav: WavSink | None,
    utterance: Utterance,
) -> TurnRecord:
    """Append the turn to the history (a full disk must not fail the turn) and announce it; its record.

    The append runs in a thread: past its cap the log is read whole and rewritten (history.py), and the
    daemon's loop serves the hotkey, the tray and the API meanwhile.
    """
    audio_path = str(wav.path) if wav is not None and wav.path.exists() else None
    record = TurnRecord(
        id=result.id,
        started=started,
        transcript=result.transcript,
        reply=result.reply,
        full_reply=result.full_reply,
        timings=result.timings.as_dict(),
        llm=result.llm,
        interrupted=result.interrupted,
        nothing_heard=result.nothing_heard,
        error=error.message if error else None,
        error_code=error.code if error else None,
        audio_path=audio_path,
        source="text" if utterance.is_typed else "voice",
        tools=tuple(result.tools),
        refused=result.refused,
        end=utterance.end.value if utterance.end is not None else None,
        end_probability=round(utterance.end_probability, 3) if utterance.end_probability is not None else None,
    )
    try:
        record = await asyncio.to_thread(history.append, record)
    except OSError as exc:
        log.error("cannot append to the history file: %s", exc)
        record = replace(record, conversation=history.conversation)  # unwritten, but of this conversation
    emit(TurnFinished(record))
    return record
