"""The Realtime API's client events, as the official SDK's types write them (GA) and as beta clients still do."""

from __future__ import annotations

import base64
import json

import pytest

from assistant.openai_api.realtime_events import (
    MAX_MESSAGE,
    Append,
    Clear,
    Commit,
    Detection,
    EventError,
    SessionConfig,
    Update,
    read,
)

pytestmark = pytest.mark.quick

START = SessionConfig()


def event(**fields: object) -> str:
    return json.dumps(fields)


def test_a_ga_transcription_session_update_as_the_sdk_types_it() -> None:
    from openai.types.realtime import SessionUpdateEventParam

    update: SessionUpdateEventParam = {
        "type": "session.update",
        "session": {
            "type": "transcription",
            "audio": {"input": {
                "format": {"type": "audio/pcm", "rate": 24000},
                "transcription": {"model": "gpt-4o-transcribe", "prompt": "Kubernetes"},
                "turn_detection": {"type": "server_vad", "silence_duration_ms": 300, "threshold": 0.6},
            }},
        },
    }
    taken = read(json.dumps(update), START)
    assert isinstance(taken, Update)
    config = taken.config
    assert config.intent == "transcription" and config.rate == 24000 and config.detection is Detection.SERVER_VAD
    assert config.silence_s == 0.3 and config.threshold == 0.6
    assert config.model == "gpt-4o-transcribe" and config.prompt == "Kubernetes"
    assert config.wire()["audio"]["input"]["turn_detection"]["silence_duration_ms"] == 300  # shown back as set


def test_null_turn_detection_means_the_client_commits_and_absent_leaves_it() -> None:
    off = read(event(type="session.update", session={"type": "transcription", "audio": {"input": {"turn_detection": None}}}), START)
    assert isinstance(off, Update) and off.config.detection is Detection.NONE
    kept = read(event(type="session.update", session={"audio": {"input": {"format": {"type": "audio/pcm", "rate": 16000}}}}),
                off.config)
    assert isinstance(kept, Update) and kept.config.detection is Detection.NONE and kept.config.rate == 16000
    semantic = read(event(type="session.update", session={"audio": {"input": {"turn_detection": {"type": "semantic_vad",
                                                                                                  "eagerness": "high"}}}}), START)
    assert isinstance(semantic, Update) and semantic.config.detection is Detection.SEMANTIC_VAD
    assert semantic.config.longest_pause_s == 2.0


def test_the_beta_names_are_taken() -> None:
    beta = read(event(type="transcription_session.update", session={
        "input_audio_format": "pcm16", "input_audio_transcription": {"model": "whisper-1"}, "turn_detection": None,
    }), START)
    assert isinstance(beta, Update) and beta.config.detection is Detection.NONE and beta.config.model == "whisper-1"


def test_audio_commit_and_clear() -> None:
    pcm = (b"\x01\x00" * 480)
    appended = read(event(type="input_audio_buffer.append", audio=base64.b64encode(pcm).decode()), START)
    assert isinstance(appended, Append) and appended.audio == pcm
    assert isinstance(read(event(type="input_audio_buffer.commit"), START), Commit)
    assert isinstance(read(event(type="input_audio_buffer.clear", event_id="e1"), START), Clear)


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ("not json", "invalid_json"),
        ("[1, 2]", "invalid_event"),
        (event(type="input_audio_buffer.append", audio="***not base64***"), "invalid_audio"),
        (event(type="input_audio_buffer.append", audio=base64.b64encode(b"\x01\x02\x03").decode()), "invalid_audio"),
        (event(type="input_audio_buffer.append"), "invalid_audio"),
        (event(type="session.update", session={"audio": {"input": {"format": {"type": "audio/pcm", "rate": 44100}}}}),
         "unsupported_rate"),
        (event(type="session.update", session={"audio": {"input": {"format": {"type": "audio/pcmu"}}}}), "unsupported_format"),
        (event(type="session.update", session={"audio": {"input": {"turn_detection": {"type": "push_to_talk"}}}}),
         "invalid_session"),
        (event(type="session.update", session={"audio": {"input": {"turn_detection": {"type": "server_vad",
                                                                                       "threshold": 7}}}}), "invalid_session"),
        (event(type="session.update", session="transcription"), "invalid_session"),
        (event(type="input_audio_buffer.wiggle", event_id="mine"), "unknown_event"),
        (event(type="response.create"), "unsupported_event"),
    ],
)
def test_bad_events_are_refused_with_a_code_and_what_to_send(message: str, code: str) -> None:
    with pytest.raises(EventError) as refused:
        read(message, START)
    assert refused.value.code == code, refused.value.message
    assert refused.value.message and "\n" not in refused.value.message


def test_the_event_id_comes_back_with_the_error_and_a_huge_message_is_refused_unread() -> None:
    with pytest.raises(EventError) as refused:
        read(event(type="input_audio_buffer.wiggle", event_id="mine"), START)
    assert refused.value.event_id == "mine"
    with pytest.raises(EventError) as huge:
        read("x" * (MAX_MESSAGE + 1), START)
    assert huge.value.code == "message_too_large"
