"""The one codec between typed values and JSON: the daemon's replies and events go out through `to_json`, and
a client reads a reply back as its type with `from_json`, so a renamed or missing field fails loudly at
the client instead of reading as an empty value."""

from __future__ import annotations

import dataclasses
import enum
import functools
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

T = TypeVar("T")
_SCALARS = frozenset({str, int, float, bool})


class WireError(ValueError):
    """A reply that does not have the shape of its type (a daemon of another version, most likely)."""


def wire_name(name: str) -> dict[str, str]:
    """A field's metadata for a key that cannot be a Python name (`class`): `field(metadata=wire_name("class"))`."""
    return {"wire": name}


def _key(f: dataclasses.Field[Any]) -> str:
    return str(f.metadata.get("wire", f.name))


def to_json(value: object) -> Any:
    """A dataclass becomes an object of its public fields, an enum its value, a sequence a list; anything
    else must already be JSON."""
    if value is None or type(value) in _SCALARS:  # most values; an enum (a StrEnum is a str) is not one of these
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {key: to_json(getattr(value, name)) for name, key in _public_fields(type(value))}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_json(v) for v in value]
    return value


@functools.cache
def _public_fields(kind: type) -> tuple[tuple[str, str], ...]:
    """(attribute, JSON key) of each public field."""
    return tuple((f.name, _key(f)) for f in dataclasses.fields(kind) if not f.name.startswith("_"))


def from_json(kind: type[T], data: object) -> T:
    """`data` (parsed JSON) as a `kind` dataclass; fields it does not know are ignored (a newer daemon may
    add some), a missing required one or a wrong type is a WireError."""
    hint: Any = kind
    value: T = _decoder(hint)(data, kind.__name__)
    return value


def from_json_as(data: object, *kinds: type) -> Any:
    """`data` as the first of `kinds` it fits, in order (a reply that is one of several types)."""
    for kind in kinds:
        try:
            hint: Any = kind
            return _decoder(hint)(data, kind.__name__)
        except WireError:
            continue
    raise WireError(f"the reply fits none of {', '.join(k.__name__ for k in kinds)}: {data!r}")


# A type's decoder: (data, where it sits, for the error) → the value. Each type's is built once and kept:
# the history reads thousands of turns back at a start, and walking each type hint per value made that
# ten times slower than parsing the JSON.
Decoder = Callable[[object, str], Any]


@functools.cache
def _decoder(hint: Any) -> Decoder:
    if hint is Any or hint is object:
        return lambda data, where: data
    origin = typing.get_origin(hint)
    if isinstance(hint, types.UnionType) or origin is typing.Union:
        return _union(hint)
    if origin is typing.Literal:
        return _literal(hint)
    if hint is type(None):
        return _none
    if origin in (list, tuple):
        return _sequence(hint, origin)
    if origin is dict or hint is dict:
        return _mapping(hint)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return _enum(hint)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _record(hint)
    return _plain(hint)


def _union(hint: Any) -> Decoder:
    options = [_decoder(option) for option in typing.get_args(hint)]
    takes_none = type(None) in typing.get_args(hint)

    def decode(data: object, where: str) -> Any:
        if data is None and takes_none:
            return None
        for option in options:
            try:
                return option(data, where)
            except WireError:
                continue
        raise WireError(f"{where}: {data!r} fits none of {hint}")

    return decode


def _literal(hint: Any) -> Decoder:
    values = typing.get_args(hint)

    def decode(data: object, where: str) -> Any:
        if data in values and not isinstance(data, bool):
            return data
        raise WireError(f"{where}: {data!r} is not one of {', '.join(map(repr, values))}")

    return decode


def _none(data: object, where: str) -> None:
    if data is not None:
        raise WireError(f"{where}: expected null, got {data!r}")


def _sequence(hint: Any, origin: type) -> Decoder:
    args = typing.get_args(hint)
    item = _decoder(args[0] if args else Any)

    def decode(data: object, where: str) -> Any:
        if not isinstance(data, list):
            raise WireError(f"{where}: expected a list, got {type(data).__name__}")
        items = [item(v, f"{where}[{i}]") for i, v in enumerate(data)]
        return items if origin is list else tuple(items)

    return decode


def _mapping(hint: Any) -> Decoder:
    args = typing.get_args(hint)
    value = _decoder(args[1]) if args else None

    def decode(data: object, where: str) -> Any:
        if not isinstance(data, dict):
            raise WireError(f"{where}: expected an object, got {type(data).__name__}")
        return {k: value(v, f"{where}.{k}") for k, v in data.items()} if value is not None else dict(data)

    return decode


def _enum(hint: type[enum.Enum]) -> Decoder:
    def decode(data: object, where: str) -> Any:
        try:
            return hint(data)
        except ValueError:
            raise WireError(f"{where}: {data!r} is not a {hint.__name__}") from None

    return decode


def _record(hint: type) -> Decoder:
    # (name, JSON key, required, decoder) per field, made at the first use: a record may name itself in a field.
    resolved: dict[str, list[tuple[str, str, bool, Decoder]]] = {}

    def decode(data: object, where: str) -> Any:
        fields = resolved.get("fields")
        if fields is None:
            hints = typing.get_type_hints(hint)
            fields = resolved["fields"] = [
                (f.name, _key(f), f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING,
                 _decoder(hints[f.name]))
                for f in dataclasses.fields(hint)
            ]
        if not isinstance(data, dict):
            raise WireError(f"{where}: expected an object, got {type(data).__name__}")
        values = {}
        for name, key, required, field_decoder in fields:
            if key in data:
                values[name] = field_decoder(data[key], f"{where}.{key}")
            elif required:
                raise WireError(f"{where}: the reply has no {key!r}")
        return hint(**values)

    return decode


def _plain(hint: Any) -> Decoder:
    def decode(data: object, where: str) -> Any:
        if hint is float and isinstance(data, int) and not isinstance(data, bool):
            return float(data)  # JSON has one number type: 2 is a fine float
        if isinstance(hint, type) and isinstance(data, hint) and not (isinstance(data, bool) and hint is not bool):
            return data
        raise WireError(f"{where}: expected {getattr(hint, '__name__', hint)}, got {data!r}")

    return decode
