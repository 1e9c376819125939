"""The codec between the daemon's typed replies and JSON, both ways (core/wire.py), and the typed requests
the control methods declare (api/protocol.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from assistant.api.protocol import MethodSpec, ProtocolError, decode_request
from assistant.core.events import TurnState
from assistant.core.records import ToolCallRecord
from assistant.core.wire import WireError, from_json, from_json_as, to_json
from assistant.turn.dictation import Dictated
from assistant.turn.history import TurnRecord
from assistant.turn.outcomes import Cancelled, DictationStarted, Pressed, Released, Said

pytestmark = pytest.mark.quick


def through_the_socket(value: object) -> object:
    return json.loads(json.dumps(to_json(value)))


def test_replies_travel_as_json_and_come_back_as_their_types() -> None:
    for value in (
        Pressed(TurnState.LISTENING),
        Pressed(TurnState.IDLE, dismissed=True),
        Released(TurnState.THINKING, "abc123", 2.5),
        Said(spoken=False, interrupted=False, audio_path="/tmp/x.wav"),
        Dictated(transcript="hello comma world", text="hello, world", typed_with="wtype", seconds={"asr": 0.2}),
        TurnRecord("t1", 1.0, "what time is it", "It is noon.", {"asr_s": 0.1, "total_s": None}, 
                   tools=(ToolCallRecord("get_time", {"place": "Tokyo"}, "It's 9:00 PM in Tokyo.", True, 1.25, "intent"),)),
    ):
        assert from_json(type(value), through_the_socket(value)) == value
    assert to_json(Pressed(TurnState.LISTENING)) == {"state": "listening", "dismissed": False}


def test_a_reply_missing_a_field_or_of_the_wrong_type_fails_loudly_and_new_fields_are_ignored() -> None:
    with pytest.raises(WireError, match="no 'turn'"):
        from_json(Released, {"state": "thinking", "audio_seconds": 1.0})
    with pytest.raises(WireError, match="not a TurnState"):
        from_json(Pressed, {"state": "sleeping"})
    with pytest.raises(WireError):
        from_json(Said, {"spoken": "yes", "interrupted": False, "audio_path": None})
    assert from_json(Cancelled, {"cancelled": True, "added_later": 1}) == Cancelled(True)
    assert from_json(Released, {"state": "thinking", "turn": "t", "audio_seconds": 2}).audio_seconds == 2.0


def test_a_reply_of_several_types_is_read_as_the_first_it_fits() -> None:
    kinds = (DictationStarted, Cancelled, Dictated)
    assert from_json_as({"state": "dictating", "paused_media": 1}, *kinds) == DictationStarted(TurnState.DICTATING, 1)
    assert from_json_as({"cancelled": False}, *kinds) == Cancelled(False)
    assert isinstance(from_json_as({"text": "hi", "typed_with": "xdotool"}, *kinds), Dictated)
    with pytest.raises(WireError):
        from_json_as({"state": "idle"}, Released, Cancelled)


@dataclass(frozen=True)
class Lookup:
    id: str
    limit: int | None = None
    loud: bool = False


def test_a_request_dataclass_is_the_methods_parameters() -> None:
    spec = MethodSpec.of("lookup", Lookup)
    methods = {"lookup": spec}
    request = decode_request(b'{"id": 1, "method": "lookup", "params": {"id": "x", "limit": 3}}', methods)
    assert spec.build(request.params) == Lookup("x", 3)
    for params, message in (
        ("{}", "lookup needs parameter 'id'"),
        ('{"id": "x", "limit": true}', "lookup: 'limit' must be int"),
        ('{"id": "x", "loud": 1}', "lookup: 'loud' must be bool"),
        ('{"id": "x", "color": "red"}', "lookup takes no parameter 'color'"),
    ):
        with pytest.raises(ProtocolError) as caught:
            decode_request(f'{{"id": 2, "method": "lookup", "params": {params}}}'.encode(), methods)
        assert caught.value.code == "bad_params" and caught.value.message == message
