"""/v1/chat/completions' replies as the SDK's models: the JSON holds the fields we set and no others."""

from __future__ import annotations

import json

import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk, ChatCompletionMessage
from openai.types.chat.chat_completion_chunk import ChoiceDelta

from assistant.core.chat import ToolCall
from assistant.openai_api.chat import Usage, _chunk, _completion, _delta_call, _message_call, _messages, _usage_chunk, _wire

pytestmark = pytest.mark.quick

CALL = ToolCall("call_1", "add", {"a": 1})


def test_a_chunk_is_openais_with_no_field_left_unset() -> None:
    first = _wire(_chunk("chatcmpl-1", 7, "smollm2", ChoiceDelta(role="assistant", content="")))
    assert first == {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 7, "model": "smollm2",
                     "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}
    last = _wire(_chunk("chatcmpl-1", 7, "smollm2", ChoiceDelta(), "stop"))
    assert last["choices"] == [{"index": 0, "delta": {}, "finish_reason": "stop"}]
    called = _wire(_chunk("chatcmpl-1", 7, "smollm2", ChoiceDelta(tool_calls=[_delta_call(CALL, 0)])))
    assert called["choices"][0]["delta"] == {"tool_calls": [
        {"index": 0, "id": "call_1", "type": "function", "function": {"name": "add", "arguments": '{"a": 1}'}}]}
    usage = _wire(_usage_chunk("chatcmpl-1", 7, "smollm2", Usage(3, 4)))
    assert usage["choices"] == [] and usage["usage"] == {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
    ChatCompletionChunk.model_validate(json.loads(json.dumps(called)))  # what a client reads back


def test_a_completion_is_openais_with_no_field_left_unset() -> None:
    message = ChatCompletionMessage(role="assistant", content=None)
    message.tool_calls = [_message_call(CALL)]
    reply = _wire(_completion("chatcmpl-2", 7, "smollm2", message, "tool_calls", Usage(3, 4)))
    assert reply == {
        "id": "chatcmpl-2", "object": "chat.completion", "created": 7, "model": "smollm2",
        "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
            "role": "assistant", "content": None,
            "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "add", "arguments": '{"a": 1}'}}]}}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7},
    }
    ChatCompletion.model_validate(reply)


def test_client_messages_become_ours_developer_as_system_and_content_parts_as_text() -> None:
    messages = _messages([
        {"role": "developer", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "Hi "}, {"type": "image_url"}, {"type": "text", "text": "there"}]},
        {"role": "tool", "content": "42", "tool_call_id": "call_1", "name": "add"},
    ])
    assert messages == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi there"},
        {"role": "tool", "content": "42", "tool_call_id": "call_1", "name": "add"},
    ]
