"""The one codec between typed values and JSON: the daemon's replies and events go out through `to_json`, and
a client reads a reply back as its type with `from_json`, so a renamed or missing field fails loudly at
the client instead of reading as an empty value."""

from __future__ import annotations

import dataclasses
import enum
import functools
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

T = TypeVar("T")


class WireError(ValueError):
    """A reply that does not have the shape of its type (a daemon of another version, most likely)."""


def to_json(value: object) -> Any:
    """A dataclass becomes an object of its public fields, an enum its value, a sequence a list; anything
    else must already be JSON."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value) if not f.name.startswith("_")}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_json(v) for v in value]
    return value


def from_json(kind: type[T], data: object) -> T:
    """`data` (parsed JSON) as a `kind` dataclass; fields it does not know are ignored (a newer daemon may
    add some), a missing required one or a wrong type is a WireError."""
    value: T = _decode(kind, data, kind.__name__)
    return value


def from_json_as(data: object, *kinds: type) -> Any:
    """`data` as the first of `kinds` it fits, in order (a reply that is one of several types)."""
    for kind in kinds:
        try:
            return _decode(kind, data, kind.__name__)
        except WireError:
            continue
    raise WireError(f"the reply fits none of {', '.join(k.__name__ for k in kinds)}: {data!r}")


@functools.cache
def _hints(kind: type) -> dict[str, Any]:
    # Resolved once per dataclass: a history of thousands of turns is read back line by line.
    return typing.get_type_hints(kind)


def _decode(hint: Any, data: object, where: str) -> Any:
    if hint is Any or hint is object:
        return data
    origin = typing.get_origin(hint)
    if isinstance(hint, types.UnionType) or origin is typing.Union:
        for option in typing.get_args(hint):
            try:
                return _decode(option, data, where)
            except WireError:
                continue
        raise WireError(f"{where}: {data!r} fits none of {hint}")
    if origin is typing.Literal:
        if data in typing.get_args(hint) and not isinstance(data, bool):
            return data
        raise WireError(f"{where}: {data!r} is not one of {', '.join(map(repr, typing.get_args(hint)))}")
    if hint is type(None):
        if data is not None:
            raise WireError(f"{where}: expected null, got {data!r}")
        return None
    if origin in (list, tuple):
        if not isinstance(data, list):
            raise WireError(f"{where}: expected a list, got {type(data).__name__}")
        args = typing.get_args(hint)
        item = args[0] if args else Any
        items = [_decode(item, v, f"{where}[{i}]") for i, v in enumerate(data)]
        return items if origin is list else tuple(items)
    if origin is dict or hint is dict:
        if not isinstance(data, dict):
            raise WireError(f"{where}: expected an object, got {type(data).__name__}")
        args = typing.get_args(hint)
        return {k: _decode(args[1], v, f"{where}.{k}") for k, v in data.items()} if args else dict(data)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        try:
            return hint(data)
        except ValueError:
            raise WireError(f"{where}: {data!r} is not a {hint.__name__}") from None
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        if not isinstance(data, dict):
            raise WireError(f"{where}: expected an object, got {type(data).__name__}")
        hints = _hints(hint)
        values = {}
        for f in dataclasses.fields(hint):
            if f.name in data:
                values[f.name] = _decode(hints[f.name], data[f.name], f"{where}.{f.name}")
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise WireError(f"{where}: the reply has no {f.name!r}")
        return hint(**values)
    if hint is float and isinstance(data, int) and not isinstance(data, bool):
        # JSON has one number type: 2 is a fine float, and kept an int (as typing's numeric tower allows),
        # so a record read back is written out as it came (a count in the turn's timings stays 3, not 3.0).
        return data
    if isinstance(hint, type) and isinstance(data, hint) and not (isinstance(data, bool) and hint is not bool):
        return data
    raise WireError(f"{where}: expected {getattr(hint, '__name__', hint)}, got {data!r}")
