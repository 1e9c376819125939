"""The control protocol's codec: round trips, validation, and no exception other than ProtocolError."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assistant.protocol import (
    MAX_MESSAGE_BYTES,
    METHODS,
    ErrorReply,
    Event,
    ProtocolError,
    Reply,
    Request,
    decode_request,
    decode_response,
    encode,
)

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=20,
)


@settings(max_examples=300)
@given(st.one_of(st.integers(), st.text()), JSON)
def test_replies_round_trip(request_id: int | str, result: object) -> None:
    assert decode_response(encode(Reply(request_id, result))) == Reply(request_id, result)
    error = ErrorReply(request_id, "bad_params", "ask needs parameter 'text'")
    assert decode_response(encode(error)) == error


def test_request_and_event_encoding() -> None:
    line = encode(Request(3, "ask", {"text": "hi"}))
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert decode_request(line) == Request(3, "ask", {"text": "hi"})
    assert decode_response(encode(Event("state", {"state": "listening"}))) == Event("state", {"state": "listening"})


@settings(max_examples=1000)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_give_a_request_or_a_protocol_error(data: bytes) -> None:
    try:
        request = decode_request(data)
    except ProtocolError as exc:
        assert exc.code and exc.message and "\n" not in exc.message
    else:
        assert request.method in METHODS


@settings(max_examples=500)
@given(st.dictionaries(st.sampled_from(["id", "method", "params", "x"]), JSON))
def test_arbitrary_objects_give_a_request_or_a_protocol_error(obj: dict[str, object]) -> None:
    try:
        decode_request(json.dumps(obj).encode())
    except ProtocolError as exc:
        assert exc.code in {"bad_request", "unknown_method", "bad_params"}


@pytest.mark.parametrize(
    ("line", "code"),
    [
        (b"{", "bad_json"),
        (b"\xff", "bad_encoding"),
        (b"[]", "bad_request"),
        (b'{"method": "status", "id": true}', "bad_request"),
        (b'{"method": "fly"}', "unknown_method"),
        (b'{"method": "llm.use", "params": {}}', "bad_params"),
        (b'{"method": "llm.use", "params": {"id": 1}}', "bad_params"),
        (b'{"method": "history", "params": {"limit": true}}', "bad_params"),
        (b'{"method": "status", "params": {"verbose": 1}}', "bad_params"),
        (b" " * (MAX_MESSAGE_BYTES + 1), "too_large"),
    ],
)
def test_each_kind_of_bad_request_has_its_code(line: bytes, code: str) -> None:
    with pytest.raises(ProtocolError) as info:
        decode_request(line)
    assert info.value.code == code
