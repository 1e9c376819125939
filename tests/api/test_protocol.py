"""The control protocol's codec: round trips, validation, and no exception other than ProtocolError."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assistant.api.protocol import (
    MAX_MESSAGE_BYTES,
    ErrorReply,
    Event,
    ProtocolError,
    Reply,
    Request,
    decode_request,
    decode_response,
    encode,
)
from assistant.daemon.control import method_specs

pytestmark = pytest.mark.quick  # pure logic: runs on the light store

# Every method the daemon declares, with its parameters: what its socket decodes requests against.
METHODS = method_specs()

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
    assert decode_request(line, METHODS) == Request(3, "ask", {"text": "hi"})
    assert decode_response(encode(Event("state", {"state": "listening"}))) == Event("state", {"state": "listening"})


@settings(max_examples=1000)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_give_a_request_or_a_protocol_error(data: bytes) -> None:
    try:
        request = decode_request(data, METHODS)
    except ProtocolError as exc:
        assert exc.code and exc.message and "\n" not in exc.message
    else:
        assert request.method in METHODS


@settings(max_examples=500)
@given(st.dictionaries(st.sampled_from(["id", "method", "params", "x"]), JSON))
def test_arbitrary_objects_give_a_request_or_a_protocol_error(obj: dict[str, object]) -> None:
    try:
        decode_request(json.dumps(obj).encode(), METHODS)
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
        decode_request(line, METHODS)
    assert info.value.code == code


SURROGATES = st.integers(0xD800, 0xDFFF).map(chr)


@settings(max_examples=300)
@given(st.text(max_size=20), SURROGATES, st.text(max_size=20), st.booleans())
def test_lone_surrogates_are_bad_encoding_wherever_they_are(before: str, lone: str, after: str, in_id: bool) -> None:
    text = before + lone + after
    obj = {"id": text, "method": "status"} if in_id else {"id": 4, "method": "ask", "params": {"text": text}}
    line = json.dumps(obj).encode()  # ensure_ascii: the surrogate travels as a \udXXX escape
    with pytest.raises(ProtocolError) as info:
        decode_request(line, METHODS)
    assert info.value.code == "bad_encoding"
    assert info.value.request_id == (None if in_id else 4)
    # Whatever holds one can still be encoded: a reply never fails to go out.
    assert json.loads(encode(Reply(text, text)))["result"] == text


@settings(max_examples=100)
@given(st.integers(1, 30_000), st.sampled_from(["id", "params", "text"]))
def test_any_nesting_depth_gives_a_request_or_a_protocol_error(depth: int, where: str) -> None:
    nested = "[" * depth + "]" * depth
    line = {
        "id": f'{{"id": {nested}, "method": "status"}}',
        "params": f'{{"id": 1, "method": "status", "params": {nested}}}',
        "text": f'{{"id": 1, "method": "ask", "params": {{"text": {nested}}}}}',
    }[where].encode()
    try:
        decode_request(line, METHODS)
    except ProtocolError as exc:
        assert exc.code in {"bad_request", "bad_params", "too_large"}
        if depth > 5000 and len(line) <= MAX_MESSAGE_BYTES:
            assert exc.code == "bad_request" and "nested too deeply" in exc.message


@pytest.mark.parametrize(
    ("line", "code"),
    [
        (b'{"id": "\\ud800", "method": "status"}', "bad_encoding"),
        (b'{"id": 1, "method": "ask", "params": {"text": "\\udfff"}}', "bad_encoding"),
        (b'{"id": 1, "method": "status", "params": ' + b"[" * 10_000 + b"]" * 10_000 + b"}", "bad_request"),
        (b'{"id": 1, "method": "status", "params": ' + b'{"a": ' * 5_000 + b"1" + b"}" * 5_000 + b"}", "bad_request"),
    ],
)
def test_surrogates_and_deep_nesting_have_their_codes(line: bytes, code: str) -> None:
    with pytest.raises(ProtocolError) as info:
        decode_request(line, METHODS)
    assert info.value.code == code


def test_a_reply_may_be_larger_than_a_request() -> None:
    history = [{"transcript": "word " * 1000, "reply": "fine"}] * 100  # a long history: about 500 KB
    line = encode(Reply(1, history))
    assert len(line) > MAX_MESSAGE_BYTES
    assert decode_response(line) == Reply(1, history)


def test_every_method_the_cli_calls_is_one_the_daemon_declares() -> None:
    import re
    from pathlib import Path

    cli = Path(__file__).resolve().parents[2] / "assistant" / "cli"
    called = set()
    for module in cli.glob("*.py"):
        text = module.read_text()
        called |= set(re.findall(r'remote\(\s*"([a-z_.]+)"', text))
        called |= set(re.findall(r'call\([^,()]+, "([a-z_.]+)"', text))
    assert len(called) > 15  # the pattern still finds the calls
    assert sorted(called - set(METHODS)) == []


def test_a_method_group_missing_at_start_is_an_error_at_start() -> None:
    import asyncio

    from assistant.config.settings import Config
    from assistant.core.events import ignore
    from assistant.daemon.control import Control
    from assistant.turn.assistant import Assistant
    from assistant.turn.turns import Turns
    from assistant.vram.meter import SimulatedMeter

    async def build() -> None:
        assistant = Assistant.create(Config.load(), SimulatedMeter(16.0), persist=False)
        turns = Turns(assistant, None, ignore)
        # No wake word group, no timers, no tool servers: their methods would have no handler.
        with pytest.raises(ValueError, match="without a handler: .*wake.on"):
            Control(turns, None, ignore, lambda: None, 0.0, groups=[])

    asyncio.run(build())
