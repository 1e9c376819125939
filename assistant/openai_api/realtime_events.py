"""The Realtime API's wire: client events read into typed ones, and the server's events written.

OpenAI's Realtime protocol (GA, and the beta names clients still send) over a WebSocket: each message is
one JSON event. What a session takes is read here into typed events: the input audio buffer's
(`Append`, `Commit`, `Clear`), `Update` (the configuration, realtime_config.py), and a conversation's
(`ItemCreate`, `ItemTruncate`, `ItemDelete`, `ResponseCreate`, `ResponseCancel`). Anything else is an
`EventError` with OpenAI's error code, which the session answers with an `error` event and lives on.
The session's own state is realtime_session.py's and realtime_conversation.py's.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from assistant.openai_api.errors import EventError
from assistant.openai_api.realtime_config import ResponseOptions, SessionConfig, response_options, updated
from assistant.openai_api.realtime_items import FunctionOutput, Item, SystemMessage, UserMessage, new_id

__all__ = ["EventError", "new_id"]

MAX_MESSAGE = 15 * 1024 * 1024  # OpenAI's cap on one client event
TAKEN = ("session.update, input_audio_buffer.append, .commit and .clear, conversation.item.create, .truncate and "
         ".delete, response.create and response.cancel")


# ---------------------------------------------------------------------------------------- client events


@dataclass(frozen=True)
class Append:
    audio: bytes  # 16-bit little-endian mono PCM at the session's rate
    event_id: str | None = None  # the client's own, sent back with an error about this event


@dataclass(frozen=True)
class Commit:
    event_id: str | None = None


@dataclass(frozen=True)
class Clear:
    event_id: str | None = None


@dataclass(frozen=True)
class Update:
    config: SessionConfig  # the session's configuration with the update applied
    event_id: str | None = None


@dataclass(frozen=True)
class ItemCreate:
    item: Item  # a user's text, a system message, or a function call's output
    previous_item_id: str | None = None
    event_id: str | None = None


@dataclass(frozen=True)
class ItemTruncate:
    item_id: str
    audio_end_ms: int  # how much of the assistant's audio the user heard
    event_id: str | None = None


@dataclass(frozen=True)
class ItemDelete:
    item_id: str
    event_id: str | None = None


@dataclass(frozen=True)
class ResponseCreate:
    options: ResponseOptions
    event_id: str | None = None


@dataclass(frozen=True)
class ResponseCancel:
    response_id: str | None = None
    event_id: str | None = None


ClientEvent = Append | Commit | Clear | Update | ItemCreate | ItemTruncate | ItemDelete | ResponseCreate | ResponseCancel


def read(message: str | bytes, config: SessionConfig) -> ClientEvent:
    """One message as a client event, against the session's current `config`; an EventError otherwise."""
    if len(message) > MAX_MESSAGE:
        raise EventError(f"the message is over {MAX_MESSAGE // (1024 * 1024)} MB; send audio in smaller appends",
                         "message_too_large")
    try:
        event = json.loads(message)
    except ValueError:
        raise EventError("the message is not JSON; send one JSON event per message", "invalid_json") from None
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        raise EventError("an event is a JSON object with a 'type'", "invalid_event")
    kind, event_id = event["type"], event.get("event_id") if isinstance(event.get("event_id"), str) else None
    try:
        if kind == "input_audio_buffer.append":
            return Append(_pcm(event.get("audio")), event_id)
        if kind == "input_audio_buffer.commit":
            return Commit(event_id)
        if kind == "input_audio_buffer.clear":
            return Clear(event_id)
        if kind in ("session.update", "transcription_session.update"):
            return Update(updated(config, event.get("session")), event_id)
        if kind == "conversation.item.create":
            previous = event.get("previous_item_id")
            return ItemCreate(_item(event.get("item")), previous if isinstance(previous, str) else None, event_id)
        if kind == "conversation.item.truncate":
            item_id, end = event.get("item_id"), event.get("audio_end_ms")
            if not isinstance(item_id, str) or not isinstance(end, int) or end < 0:
                raise EventError("conversation.item.truncate needs an 'item_id' and 'audio_end_ms' (0 or more)")
            return ItemTruncate(item_id, end, event_id)
        if kind == "conversation.item.delete":
            item_id = event.get("item_id")
            if not isinstance(item_id, str):
                raise EventError("conversation.item.delete needs an 'item_id'")
            return ItemDelete(item_id, event_id)
        if kind == "response.create":
            return ResponseCreate(response_options(event.get("response")), event_id)
        if kind == "response.cancel":
            response_id = event.get("response_id")
            return ResponseCancel(response_id if isinstance(response_id, str) else None, event_id)
    except EventError as exc:
        raise EventError(exc.message, exc.code, event_id) from None
    raise EventError(f"{kind!r} is not an event this server takes; it takes {TAKEN}", "unknown_event", event_id)


def _item(item: object) -> Item:
    """A client's conversation item: a user's or a system message of text, or a function call's output."""
    if not isinstance(item, dict):
        raise EventError("'item' must be an object", "invalid_item")
    given = item.get("id")
    item_id = given if isinstance(given, str) and given else new_id("item")
    if item.get("type") == "function_call_output":
        call_id, output = item.get("call_id"), item.get("output")
        if not isinstance(call_id, str) or not isinstance(output, str):
            raise EventError("a function_call_output item needs a 'call_id' and an 'output' (text)", "invalid_item")
        return FunctionOutput(item_id, call_id, output)
    if item.get("type", "message") == "message" and item.get("role") in ("user", "system"):
        content = item.get("content")
        parts = content if isinstance(content, list) else []
        text = " ".join(str(p.get("text", "")) for p in parts if isinstance(p, dict) and p.get("type") == "input_text")
        if not text.strip():
            raise EventError("a message item needs content with an input_text part; audio is sent with "
                             "input_audio_buffer.append", "invalid_item")
        return UserMessage(item_id, text) if item["role"] == "user" else SystemMessage(item_id, text)
    raise EventError("items of a user or system message (input_text) and function_call_output are taken here",
                     "invalid_item")


def _pcm(audio: object) -> bytes:
    if not isinstance(audio, str):
        raise EventError("'audio' must be base64 of 16-bit PCM", "invalid_audio")
    try:
        data = base64.b64decode(audio, validate=True)
    except (binascii.Error, ValueError):
        raise EventError("'audio' is not valid base64; send base64 of 16-bit little-endian PCM", "invalid_audio") from None
    if len(data) % 2:
        raise EventError("'audio' is an odd number of bytes; 16-bit PCM has two per sample", "invalid_audio")
    return data


# ---------------------------------------------------------------------------------------- server events

def server_event(kind: str, **fields: Any) -> str:
    """One server event as its JSON message, with a fresh event_id. A field may be one of the SDK's types
    (an item, a response): only the fields set go out, as OpenAI leaves its optional ones out."""
    return json.dumps({"type": kind, "event_id": new_id("event"), **fields}, default=_dumped)


def _dumped(value: object) -> object:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_unset=True)
    raise TypeError(f"{type(value).__name__} is not JSON")


def error_event(message: str, code: str, event_id: str | None = None, kind: str = "invalid_request_error") -> str:
    return server_event("error", error={"type": kind, "code": code, "message": message, "param": None,
                                       "event_id": event_id})
