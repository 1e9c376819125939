"""The control API: JSON lines over a Unix socket, as dataclasses with one codec.

Request  {"id": 1, "method": "status", "params": {}}
Reply    {"id": 1, "result": {...}}
Error    {"id": 1, "error": {"code": "bad_params", "message": "..."}}
Event    {"event": "state", "data": {...}}          (only after `subscribe`)
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, Union

from assistant.core.wire import to_json

MAX_MESSAGE_BYTES = 64 * 1024

# A handler takes its method's request (a dataclass), or nothing for a method without parameters, and
# returns its reply: a dataclass, a list of them, or plain JSON; core/wire.py turns it into the reply's form.
Handler = Callable[..., Awaitable[object]]
RequestId = int | str | None  # what the client chose; echoed in the reply
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Param:
    """One parameter as the decoder checks it, read off the request dataclass's field."""

    type: type | tuple[type, ...]
    required: bool = False


def _params(request: type | None) -> dict[str, Param]:
    """The parameters of a request dataclass: each field's type (`X | None` is an optional X), required
    when it has no default."""
    if request is None:
        return {}
    hints = typing.get_type_hints(request)
    params = {}
    for f in dataclasses.fields(request):
        hint = hints[f.name]
        if isinstance(hint, types.UnionType):
            kinds = tuple(t for t in typing.get_args(hint) if t is not type(None))
            kind: type | tuple[type, ...] = kinds[0] if len(kinds) == 1 else kinds
        else:
            kind = hint
        has_default = f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        params[f.name] = Param(kind, required=not has_default)
    return params


@dataclass(frozen=True)
class MethodSpec:
    """A control method as the wire knows it: its name, and the dataclass its parameters make (None: none)."""

    name: str
    request: type | None = None
    params: Mapping[str, Param] = field(default_factory=dict)

    @classmethod
    def of(cls, name: str, request: type | None = None) -> MethodSpec:
        return cls(name, request, _params(request))

    def build(self, params: Mapping[str, Any]) -> object | None:
        """The request object of decoded params (None for a method without parameters)."""
        return self.request(**params) if self.request is not None else None


@dataclass(frozen=True)
class Method:
    """A control method with the handler that serves it."""

    spec: MethodSpec
    handler: Handler


# The socket's own method: the server keeps the subscription on the connection, so no part handles it.
SUBSCRIBE = MethodSpec("subscribe")


def method(name: str, request: type | None = None) -> Callable[[F], F]:
    """Declare a control method on the handler that serves it: its name, its request dataclass (the
    parameters, with their types and defaults) and, by the handler's return type, its reply: one place."""

    def mark(handler: F) -> F:
        handler.__dict__["control_method"] = MethodSpec.of(name, request)
        return handler

    return mark


async def serve(method: Method, params: Mapping[str, Any]) -> Any:
    """Run a method's handler on decoded params and give its reply in wire form."""
    request = method.spec.build(params)
    return to_json(await (method.handler(request) if request is not None else method.handler()))


def _marked(cls: type) -> list[tuple[str, MethodSpec]]:
    found = []
    for attr in dir(cls):
        spec = getattr(getattr(cls, attr, None), "control_method", None)
        if isinstance(spec, MethodSpec):
            found.append((attr, spec))
    return found


def declared(*classes: type) -> dict[str, MethodSpec]:
    """Every method the classes declare, by name (and `subscribe`); a name declared twice is a ValueError."""
    table = {SUBSCRIBE.name: SUBSCRIBE}
    for cls in classes:
        for _, spec in _marked(cls):
            if spec.name in table:
                raise ValueError(f"socket method {spec.name} is declared twice")
            table[spec.name] = spec
    return table


def bind(*servers: object) -> dict[str, Method]:
    """The declared methods of these objects with their bound handlers; a name given twice is a ValueError."""
    table: dict[str, Method] = {}
    for server in servers:
        for attr, spec in _marked(type(server)):
            if spec.name in table or spec.name == SUBSCRIBE.name:
                raise ValueError(f"socket methods given twice: {spec.name}")
            table[spec.name] = Method(spec, getattr(server, attr))
    return table


class ProtocolError(Exception):
    def __init__(self, code: str, message: str, request_id: RequestId = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.request_id = request_id


@dataclass(frozen=True)
class Request:
    id: RequestId
    method: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Reply:
    id: RequestId
    result: Any


@dataclass(frozen=True)
class ErrorReply:
    id: RequestId
    code: str
    message: str


@dataclass(frozen=True)
class Event:
    event: str
    data: dict[str, Any]


Message = Union[Request, Reply, ErrorReply, Event]


def encode(message: Message) -> bytes:
    if isinstance(message, Request):
        obj: dict[str, Any] = {"id": message.id, "method": message.method, "params": message.params}
    elif isinstance(message, Reply):
        obj = {"id": message.id, "result": message.result}
    elif isinstance(message, ErrorReply):
        obj = {"id": message.id, "error": {"code": message.code, "message": message.message}}
    else:
        obj = {"event": message.event, "data": message.data}
    try:
        return json.dumps(obj, ensure_ascii=False, default=str).encode("utf-8") + b"\n"
    except UnicodeEncodeError:
        # A lone surrogate (from a command line argument in a broken locale, say) has no UTF-8 form;
        # escaped as \udXXX it is still valid JSON, and the receiver decides what to do with it.
        return json.dumps(obj, ensure_ascii=True, default=str).encode("ascii") + b"\n"


def _valid_unicode(value: object) -> bool:
    """False when a string anywhere in value holds a lone surrogate (a JSON escape such as \\ud800 makes one)."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _parse(line: bytes, limit: int | None = MAX_MESSAGE_BYTES) -> dict[str, Any]:
    if limit is not None and len(line) > limit:
        raise ProtocolError("too_large", f"message over {MAX_MESSAGE_BYTES} bytes; send less")
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError("bad_encoding", "message is not valid UTF-8") from None
    try:
        obj = json.loads(text)
    except ValueError:
        raise ProtocolError("bad_json", "message is not valid JSON; send one JSON object per line") from None
    except RecursionError:
        raise ProtocolError("bad_request", "message is nested too deeply; send a flat JSON object") from None
    if not isinstance(obj, dict):
        raise ProtocolError("bad_request", "message must be a JSON object with id, method and params")
    return obj


def decode_request(line: bytes, methods: Mapping[str, MethodSpec]) -> Request:
    obj = _parse(line)
    try:
        valid = _valid_unicode(obj)
    except RecursionError:
        raise ProtocolError("bad_request", "message is nested too deeply; send a flat JSON object") from None
    if not valid:
        request_id = obj.get("id")
        raise ProtocolError(
            "bad_encoding",
            "message holds a lone surrogate (an invalid \\uXXXX escape); send valid Unicode text",
            request_id if _valid_unicode(request_id) and isinstance(request_id, (int, str)) else None,
        )
    request_id = obj.get("id")
    if not isinstance(request_id, (int, str, type(None))) or isinstance(request_id, bool):
        raise ProtocolError("bad_request", "'id' must be a number or a string")
    unknown = set(obj) - {"id", "method", "params"}
    if unknown:
        raise ProtocolError("bad_request", f"unknown key {sorted(unknown)[0]!r}; use id, method, params", request_id)
    method = obj.get("method")
    if not isinstance(method, str):
        raise ProtocolError("bad_request", "'method' must be a string", request_id)
    if method not in methods:
        raise ProtocolError("unknown_method", f"unknown method {method!r}; known: {', '.join(methods)}", request_id)
    params = obj.get("params", {})
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise ProtocolError("bad_params", "'params' must be an object", request_id)
    schema = methods[method].params
    for name, value in params.items():
        if name not in schema:
            raise ProtocolError("bad_params", f"{method} takes no parameter {name!r}", request_id)
        expected = schema[name].type
        if not isinstance(value, expected) or (isinstance(value, bool) and expected is not bool):
            type_name = expected.__name__ if isinstance(expected, type) else "/".join(t.__name__ for t in expected)
            raise ProtocolError("bad_params", f"{method}: {name!r} must be {type_name}", request_id)
    for name, param in schema.items():
        if param.required and name not in params:
            raise ProtocolError("bad_params", f"{method} needs parameter {name!r}", request_id)
    return Request(request_id, method, params)


def decode_response(line: bytes) -> Reply | ErrorReply | Event:
    # No size limit: the limit guards the daemon against its clients, and a long history is one big reply.
    obj = _parse(line, limit=None)
    if "event" in obj:
        return Event(str(obj["event"]), dict(obj.get("data") or {}))
    if "error" in obj and isinstance(obj["error"], dict):
        err = obj["error"]
        return ErrorReply(obj.get("id"), str(err.get("code", "error")), str(err.get("message", "")))
    if "result" in obj:
        return Reply(obj.get("id"), obj["result"])
    raise ProtocolError("bad_reply", "reply has neither result, error nor event")
