"""Reading Wyoming events with limits: a client cannot make the daemon buffer without bound."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from wyoming.event import Event

MAX_LINE = 64 * 1024  # the header line; asyncio's own readline limit
MAX_DATA = 1024 * 1024  # the JSON data block that may follow the header
MAX_PAYLOAD = 4 * 1024 * 1024  # one audio chunk: a Wyoming client sends a few KiB at a time


class BadEvent(Exception):
    """The client sent something that is not a Wyoming event; the connection ends."""


async def read_event(reader: asyncio.StreamReader) -> Event | None:
    """The next event, None at a clean end of stream, BadEvent for anything malformed."""
    try:
        line = await reader.readline()
    except ValueError:  # asyncio's LimitOverrunError, surfaced as ValueError by readline
        raise BadEvent(f"a header line longer than {MAX_LINE} bytes") from None
    if not line:
        return None
    try:
        header = json.loads(line)
    except ValueError:
        raise BadEvent("a header line that is not JSON") from None
    if not isinstance(header, dict) or not isinstance(header.get("type"), str):
        raise BadEvent("a header without a string 'type'")
    data = header.get("data") or {}
    if not isinstance(data, dict):
        raise BadEvent("'data' that is not an object")
    data_length = _length(header, "data_length", MAX_DATA)
    payload_length = _length(header, "payload_length", MAX_PAYLOAD)
    try:
        if data_length:
            extra: Any = json.loads(await reader.readexactly(data_length))
            if not isinstance(extra, dict):
                raise BadEvent("a data block that is not a JSON object")
            data = {**data, **extra}
        payload = await reader.readexactly(payload_length) if payload_length else None
    except asyncio.IncompleteReadError:
        raise BadEvent("an event cut short (the client hung up mid-event)") from None
    except ValueError:
        raise BadEvent("a data block that is not JSON") from None
    return Event(type=header["type"], data=data, payload=payload)


def _length(header: dict[str, Any], key: str, limit: int) -> int:
    value = header.get(key) or 0
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise BadEvent(f"'{key}' that is not a byte count")
    if value > limit:
        raise BadEvent(f"'{key}' of {value} bytes; the limit is {limit}")
    return value
