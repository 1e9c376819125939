"""The Realtime API's client events, as the official SDK's types write them (GA) and as beta clients still do."""

from __future__ import annotations

import base64
import json

import pytest

from assistant.openai_api.realtime_config import Detection, Modality, SessionConfig
from assistant.openai_api.realtime_events import (
    MAX_MESSAGE,
    Append,
    Clear,
    Commit,
    EventError,
    ItemCreate,
    ItemTruncate,
    ResponseCancel,
    ResponseCreate,
    Update,
    read,
)
from assistant.openai_api.realtime_items import FunctionOutput, UserMessage

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
        (event(type="conversation.item.create", item={"type": "message", "role": "assistant",
                                                      "content": [{"type": "output_text", "text": "hi"}]}), "invalid_item"),
        (event(type="conversation.item.create", item={"type": "message", "role": "user", "content": []}), "invalid_item"),
        (event(type="conversation.item.create", item={"type": "function_call_output", "call_id": "c1"}), "invalid_item"),
        (event(type="conversation.item.truncate", item_id="i1", content_index=0), "invalid_value"),
        (event(type="session.update", session={"tools": [{"type": "mcp", "server_label": "x"}]}), "invalid_tools"),
        (event(type="session.update", session={"audio": {"output": {"format": {"type": "audio/pcm", "rate": 16000}}}}),
         "unsupported_format"),
        (event(type="response.create", response={"max_output_tokens": 0}), "invalid_session"),
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


def test_a_conversation_session_update_as_the_sdk_types_it() -> None:
    from openai.types.realtime import SessionUpdateEventParam

    update: SessionUpdateEventParam = {
        "type": "session.update",
        "session": {
            "type": "realtime",
            "instructions": "Be brief.",
            "output_modalities": ["text"],
            "max_output_tokens": 64,
            "tools": [{"type": "function", "name": "turn_on", "description": "Turn a light on.",
                       "parameters": {"type": "object", "properties": {"area": {"type": "string"}}}}],
            "audio": {"output": {"voice": "marin"},
                      "input": {"turn_detection": {"type": "server_vad", "create_response": False,
                                                   "interrupt_response": False}}},
        },
    }
    taken = read(json.dumps(update), START)
    assert isinstance(taken, Update)
    config = taken.config
    assert config.intent == "realtime" and config.instructions == "Be brief." and config.modality is Modality.TEXT
    assert config.max_output_tokens == 64 and config.voice == "marin"
    assert [tool.name for tool in config.tools] == ["turn_on"] and config.tools[0].parameters["properties"]
    assert not config.create_response and not config.interrupt_response
    wire = config.wire()
    assert wire["tools"][0]["name"] == "turn_on" and wire["output_modalities"] == ["text"]
    kept = read(event(type="session.update", session={"instructions": "Be kind."}), config)
    assert isinstance(kept, Update) and kept.config.tools == config.tools and kept.config.modality is Modality.TEXT
    beta = read(event(type="session.update", session={"modalities": ["text", "audio"], "voice": "alloy"}), config)
    assert isinstance(beta, Update) and beta.config.modality is Modality.AUDIO and beta.config.voice == "alloy"


def test_conversation_events_as_the_sdk_types_them() -> None:
    from openai.types.realtime import ConversationItemCreateEventParam, ResponseCreateEventParam

    said: ConversationItemCreateEventParam = {"type": "conversation.item.create", "item": {
        "type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hello there."}]}}
    created = read(json.dumps(said), START)
    assert isinstance(created, ItemCreate) and isinstance(created.item, UserMessage)
    assert created.item.text == "Hello there." and created.item.messages() == [{"role": "user", "content": "Hello there."}]
    output: ConversationItemCreateEventParam = {"type": "conversation.item.create", "item": {
        "type": "function_call_output", "call_id": "call_1", "output": '{"ok": true}'}}
    given = read(json.dumps(output), START)
    assert isinstance(given, ItemCreate) and isinstance(given.item, FunctionOutput)
    assert given.item.messages() == [{"role": "tool", "tool_call_id": "call_1", "content": '{"ok": true}'}]
    create: ResponseCreateEventParam = {"type": "response.create", "response": {
        "output_modalities": ["audio"], "instructions": "Answer in French."}}
    response = read(json.dumps(create), SessionConfig(intent="realtime", modality=Modality.TEXT))
    assert isinstance(response, ResponseCreate)
    over = response.options.over(SessionConfig(intent="realtime", modality=Modality.TEXT))
    assert over.modality is Modality.AUDIO and over.instructions == "Answer in French."
    assert isinstance(read(event(type="response.cancel", response_id="resp_1"), START), ResponseCancel)
    truncate = read(event(type="conversation.item.truncate", item_id="item_1", content_index=0, audio_end_ms=1500), START)
    assert isinstance(truncate, ItemTruncate) and truncate.audio_end_ms == 1500
