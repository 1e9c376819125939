"""A config table checked by pydantic in strict mode: a value of the wrong type is an error, never converted
("3" is not an int, true is not a number), so what config.toml says is what the daemon runs with.

The settings stay plain frozen dataclasses (the daemon compares and replaces them); the pydantic model that
checks a table is derived from the dataclass's own fields, so the two cannot drift apart.

Pydantic rather than msgspec: the MCP and openai SDKs bring it already, and each of its errors carries the
key and the kind of fault, which is what a one-line message naming the key needs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, fields, replace
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any, TypeVar, get_origin, get_type_hints

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, create_model
from pydantic_core import ErrorDetails

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T", bound="DataclassInstance")

# TOML has nan and inf; neither is a size, a volume or a time.
STRICT = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)


def _as_tuple(value: object) -> object:
    """TOML gives arrays as lists and tables as dicts; the settings hold tuples (a table as its sorted pairs)."""
    if isinstance(value, list):
        return tuple(value)
    if isinstance(value, dict):
        return tuple(sorted(value.items()))
    return value


@cache
def strict_model(cls: type, skip: frozenset[str] = frozenset()) -> type[BaseModel]:
    """The pydantic model of a settings dataclass's fields (less `skip`, the tables read on their own)."""
    hints = get_type_hints(cls)
    spec: dict[str, tuple[Any, Any]] = {}
    for f in fields(cls):
        if f.name in skip:
            continue
        kind = hints[f.name]
        if get_origin(kind) is tuple:
            kind = Annotated[kind, BeforeValidator(_as_tuple)]
        if f.default is not MISSING:
            default: object = f.default
        elif callable(f.default_factory):
            default = f.default_factory()
        else:
            default = ...  # required
        spec[f.name] = (kind, default)
    # mypy matches the **fields against create_model's own keyword options too, and finds no overload.
    model: type[BaseModel] = create_model(cls.__name__, __config__=STRICT, **spec)  # type: ignore[call-overload]
    return model


def field_types(cls: type) -> dict[str, object]:
    """Each field's declared type: what a problem says the value must be."""
    return get_type_hints(cls)


def validate_table(
    base: T, raw: Mapping[str, object], skip: frozenset[str] = frozenset()
) -> tuple[T, dict[str, ErrorDetails]]:
    """`base` with the table's good values, and the first error of each bad key (left out: its value in
    `base` stays)."""
    model = strict_model(type(base), skip)
    errors: dict[str, ErrorDetails] = {}
    while True:
        try:
            checked = model.model_validate({k: v for k, v in raw.items() if k not in errors})
        except ValidationError as exc:
            known = len(errors)
            for error in exc.errors():
                errors.setdefault(str(error["loc"][0]) if error["loc"] else "", error)
            if len(errors) == known:  # nothing left to leave out: not a table of fields
                raise
            continue
        return replace(base, **{name: getattr(checked, name) for name in checked.model_fields_set}), errors
