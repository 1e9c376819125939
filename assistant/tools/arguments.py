"""A tool's arguments shaped to its own JSON Schema and checked against it before the call; a refusal in one sentence.

A local intent knows its slots as hassil read them: "light" for a domain, "40" or 40.0 for a brightness.
A tool says what it takes as a JSON Schema, and servers built on pydantic (the MCP SDK's) use the whole
of it: an optional list is `anyOf: [{type: array, items: {type: string}}, {type: null}]`, an enum sits
behind a `$ref` into `$defs`, `integer` is not `number`. Such a server refuses a plain "light" where its
schema declares a list, and its refusal is a validation dump with a URL in it. So the values are shaped
here to what the schema asks, then checked with jsonschema: a call that still does not fit is refused
before it is made, in one sentence of ours, and a tool's own error text is cut to its first plain line.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# A value that fits none of a schema's branches: the branch is passed over (None is a value: JSON's null).
_NO = object()
_MAX_DEPTH = 32  # $refs that point at each other must not loop forever


def shape(arguments: Mapping[str, Any], schema: Mapping[str, Any]) -> dict[str, Any]:
    """`arguments` as `schema` (an object schema) asks: lists, whole numbers, the enum's spelling, no None where optional.

    Only what a value plainly means is changed: "40" becomes 40 for an integer, "light" becomes
    ["light"] for a list, "Light" becomes "light" for an enum that spells it so. A value that fits no
    reading is passed on as it is, for the check to name.
    """
    shaper = _Shaper(schema)
    shaped = shaper.object(dict(arguments), shaper.resolve(schema), 0)
    return shaped if isinstance(shaped, dict) else dict(arguments)


@dataclass(frozen=True)
class Misfit:
    """Why a tool's arguments do not fit its schema: the argument at fault ("" when it is the whole) and a sentence."""

    argument: str
    sentence: str


def problem(arguments: Mapping[str, Any], schema: Mapping[str, Any], tool: str) -> str | None:
    """Why `arguments` do not fit `schema`, as one sentence naming the tool; None when they fit."""
    found = misfit(arguments, schema, tool)
    return None if found is None else found.sentence


def misfit(arguments: Mapping[str, Any], schema: Mapping[str, Any], tool: str) -> Misfit | None:
    """What does not fit `schema` in `arguments`, and why in one sentence naming the tool; None when they fit.

    A schema jsonschema cannot read is the server's business: it is let through, for the server to judge.
    """
    from jsonschema import exceptions, validators

    try:
        validator = validators.validator_for(schema)(schema)
        error = exceptions.best_match(validator.iter_errors(dict(arguments)))
    except Exception:  # a malformed schema (an unknown $ref, a bad pattern): not ours to refuse with
        return None
    if error is None:
        return None
    error = _closest(error)
    return Misfit(_argument(error), _sentence(error, tool))


def load_checker() -> None:
    """Import and run the check once, ahead of the first command: jsonschema takes some 50 ms to import."""
    misfit({}, {"type": "object"}, "")


def plain_error(text: str, limit: int = 160) -> str:
    """A tool's error text as a short plain clause: its first line, without URLs, class names or dumps.

    pydantic's "1 validation error for X" is not what a listener needs: the field and what was wrong
    with it are ("domain should be a valid list"). The clause has no final period; the caller adds one.
    """
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return "it reported an error"
    first = lines[0]
    if _DUMP.search(first) and len(lines) >= 3:
        where, what = lines[1], _PYDANTIC_TAIL.sub("", lines[2]).strip()
        first = re.sub(r"^Input\b", where, what) if what.startswith("Input") else f"{where}: {what}"
    first = _FURTHER.sub("", first)
    first = _URL.sub("", first)
    first = _PREFIX.sub("", first).strip(" :;,.-")
    first = _ONLY_HOW.sub("", first)  # "Error executing tool X" and no more: that says nothing
    first = _NEXT_SENTENCE.split(first, maxsplit=1)[0].strip(" :;,.-")  # one sentence is what is said
    if len(first) > limit:
        first = first[:limit].rsplit(" ", 1)[0].rstrip(" :;,.-")
    return first or "it reported an error"


# ---------------------------------------------------------------- shaping

_TRUE, _FALSE = {"true", "yes", "on"}, {"false", "no", "off"}


class _Shaper:
    def __init__(self, root: Mapping[str, Any]) -> None:
        self.root = root

    def resolve(self, schema: Any, depth: int = 0) -> Mapping[str, Any]:
        """The schema a local `$ref` points at (`#/$defs/Name`, `#/definitions/Name`, any JSON pointer).

        Siblings of a $ref count too (2020-12 allows them): a `description` beside it, or a `default`.
        A remote $ref is not fetched: it is read as "anything", and the server judges.
        """
        if schema is False:
            return {"not": {}}  # JSON Schema's `false`: nothing fits
        if not isinstance(schema, Mapping):
            return {}  # `true`, or something that is no schema: anything fits
        ref = schema.get("$ref")
        if not isinstance(ref, str) or depth > _MAX_DEPTH:
            return schema
        target: Any = self.root
        if not ref.startswith("#"):
            target = {}
        for part in ref.lstrip("#").split("/")[1:] if ref.startswith("#/") else ():
            part = part.replace("~1", "/").replace("~0", "~")
            target = target.get(part, {}) if isinstance(target, Mapping) else {}
        siblings = {k: v for k, v in schema.items() if k != "$ref"}
        resolved = self.resolve(target, depth + 1)
        return {**resolved, **siblings} if siblings else resolved

    def value(self, value: Any, schema: Any, depth: int) -> Any:
        """`value` read as `schema` asks, or _NO when no reading fits."""
        schema = self.resolve(schema)
        if depth > _MAX_DEPTH:
            return value
        if "not" in schema and schema["not"] == {} and len(schema) == 1:
            return _NO
        for part in schema.get("allOf", ()):
            value = self.value(value, part, depth + 1)
            if value is _NO:
                return _NO
        for key in ("anyOf", "oneOf"):
            branches = schema.get(key)
            if isinstance(branches, Sequence) and branches:
                value = self.branch(value, list(branches), depth)
                if value is _NO:
                    return _NO
        kinds = schema.get("type")
        if isinstance(kinds, str):
            value = self.typed(value, kinds, schema, depth)
        elif isinstance(kinds, Sequence) and kinds:
            plain = {k: v for k, v in schema.items() if k not in ("anyOf", "oneOf", "allOf")}  # read above
            value = self.branch(value, [{**plain, "type": kind} for kind in kinds], depth)
        if value is _NO:
            return _NO
        return self.member(value, schema)

    def branch(self, value: Any, branches: list[Any], depth: int) -> Any:
        """The reading of the first branch `value` already fits, else of the first it can be shaped to.

        Where none fits, the first reading that has a branch's form (["sunroof"] for a list of device
        classes) is passed on, so the check names what is wrong inside it, not that it is no list.
        """
        branches = [self.resolve(b) for b in branches]
        if value is None:
            # None is "not given" as often as it is null: a nullable branch takes it, nothing else does.
            return None if any(self.fits(None, b) for b in branches) else _NO
        for branch in branches:
            if self.fits(value, branch):
                return value
        formed: Any = _NO
        for branch in branches:
            if branch.get("type") == "null":
                continue
            shaped = self.value(value, branch, depth + 1)
            if shaped is not _NO and self.fits(shaped, branch):
                return shaped
            formed = shaped if formed is _NO else formed
        return formed

    def typed(self, value: Any, kind: str, schema: Mapping[str, Any], depth: int) -> Any:
        reader = _READERS.get(kind)
        if kind == "array":
            items = schema.get("items", {})
            values = value if isinstance(value, list) else [value]
            shaped = [self.value(v, items, depth + 1) for v in values]
            return _NO if any(v is _NO for v in shaped) else shaped
        if kind == "object":
            return self.object(value, schema, depth) if isinstance(value, dict) else _NO
        return reader(value) if reader is not None else value

    def object(self, value: dict[str, Any], schema: Mapping[str, Any], depth: int) -> Any:
        """The properties shaped one by one; an optional one that is None is left out, as never given."""
        properties = schema.get("properties")
        properties = properties if isinstance(properties, Mapping) else {}
        required = set(schema.get("required", ()))
        out: dict[str, Any] = {}
        for name, item in value.items():
            if properties and name not in properties:
                continue  # a slot the tool does not take (HA's sentences carry more than a tool may declare)
            if item is None and name not in required:
                continue
            shaped = self.value(item, properties.get(name, {}), depth + 1)
            out[name] = item if shaped is _NO else shaped
        return out

    def member(self, value: Any, schema: Mapping[str, Any]) -> Any:
        """An enum's or const's own spelling of `value` ("Light" for "light"), else the value unchanged."""
        options = schema.get("enum") if "enum" in schema else ([schema["const"]] if "const" in schema else None)
        if not isinstance(options, Sequence) or value in options or not isinstance(value, str):
            return value
        wanted = _folded(value)
        return next((o for o in options if isinstance(o, str) and _folded(o) == wanted), value)

    def fits(self, value: Any, schema: Mapping[str, Any]) -> bool:
        """Whether `value` is valid for `schema`, a part of the root schema (its $refs resolve against the root)."""
        from jsonschema import validators

        try:
            cls = validators.validator_for(self.root)
            return bool(cls({**schema, **_definitions(self.root)}).is_valid(value))
        except Exception:  # a schema jsonschema cannot read: a reading of it cannot be told apart
            return False


def _definitions(root: Mapping[str, Any]) -> dict[str, Any]:
    """The root's definitions, carried into a branch so a `#/$defs/...` $ref inside it still resolves."""
    return {key: root[key] for key in ("$defs", "definitions") if key in root}


def _folded(text: str) -> str:
    return re.sub(r"[\s_-]+", " ", text).strip().casefold()


def _integer(value: Any) -> Any:
    number = _number(value)
    if number is _NO or isinstance(number, bool):
        return _NO
    return number if isinstance(number, int) else _NO


def _number(value: Any) -> Any:
    """A JSON number from a number or its digits ("40", "21.5", "40%"); integral ones as int."""
    if isinstance(value, bool):
        return _NO
    if isinstance(value, str):
        try:
            value = float(value.strip().rstrip("%").strip())
        except ValueError:
            return _NO
    if isinstance(value, float):
        return int(value) if value.is_integer() else value
    return value if isinstance(value, int) else _NO


def _string(value: Any) -> Any:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value:g}"
    return _NO


def _boolean(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    return _NO


_READERS: dict[str, Callable[[Any], Any]] = {
    "integer": _integer, "number": _number, "string": _string, "boolean": _boolean,
    "null": lambda value: None if value is None else _NO,
}

# ---------------------------------------------------------------- saying what is wrong

_WORDS_OF_TYPE = {"integer": "a whole number", "number": "a number", "string": "text", "array": "a list",
                  "boolean": "yes or no", "object": "a set of values", "null": "nothing"}

_DUMP = re.compile(r"\b\d+ validation errors? for \S+")
_PYDANTIC_TAIL = re.compile(r"\s*\[type=.*$")
_FURTHER = re.compile(r"\s*For further information visit\b.*$", re.IGNORECASE)
_URL = re.compile(r"\s*\([^()]*\bhttps?://[^()]*\)|\s*\bhttps?://\S+")  # a link, or an aside holding one
_ONLY_HOW = re.compile(r"^Error (?:executing|calling) tool(?: \S+)?$")
_NEXT_SENTENCE = re.compile(r"(?<=[a-z0-9)])[.!?]\s+(?=[A-Z])")
# "Error executing tool HassTurnOff: ", "Error calling tool: ", "MatchFailedError: ": how, not what.
_PREFIX = re.compile(r"^(?:(?:Error (?:executing|calling) tool(?: \S+)?|[A-Z][A-Za-z]*(?:Error|Exception))\s*:\s*)+")


def _kinds(schema: Mapping[str, Any]) -> list[str]:
    kinds = schema.get("type", [])
    return [kinds] if isinstance(kinds, str) else [k for k in kinds if isinstance(k, str)]


def _closest(error: Any) -> Any:
    """Within an anyOf or oneOf, the error of the branch the value was meant for.

    The branches whose type the value does not have say nothing ("not null"): left out, what remains is
    the real complaint (a device class not among the enum's, inside the list branch).
    """
    from jsonschema import exceptions

    while error.validator in ("anyOf", "oneOf") and error.context:
        meant = [e for e in error.context if not (e.validator == "type" and not e.relative_path)]
        if not meant:
            break
        error = exceptions.best_match(meant)
    return error


def _where(error: Any) -> str:
    # The argument by its name: a list's index is no word ("device_class", not "device_class.0").
    return ".".join(str(part) for part in error.absolute_path if isinstance(part, str))


def _missing(error: Any) -> str | None:
    """The property a `required` error names (jsonschema says it only in its message: "'when' is a required property")."""
    found = re.match(r"'([^']+)'", str(error.message))
    return found.group(1) if found else None


def _argument(error: Any) -> str:
    """The top-level argument an error is about: the one missing, else the first name on its path."""
    if error.validator == "required" and not error.absolute_path:
        return _missing(error) or ""
    return next((str(part) for part in error.absolute_path if isinstance(part, str)), "")


def _sentence(error: Any, tool: str) -> str:
    """A jsonschema error as the listener needs it: which argument, and what it should be."""
    where = _where(error)
    the = f"the {where}" if where else "its arguments"
    rule, expected = error.validator, error.validator_value
    if rule == "required":
        missing = _missing(error)
        return f"The {tool} tool needs {('a ' + missing) if missing else 'more'}."
    if rule == "type":
        kinds = [expected] if isinstance(expected, str) else list(expected)
        return f"The {tool} tool takes {the} as {' or '.join(_WORDS_OF_TYPE.get(k, k) for k in kinds)}."
    if rule in ("anyOf", "oneOf"):
        kinds = [k for b in expected if isinstance(b, Mapping) for k in _kinds(b) if k != "null"]
        if kinds:
            return f"The {tool} tool takes {the} as {' or '.join(_WORDS_OF_TYPE.get(k, k) for k in dict.fromkeys(kinds))}."
    if rule in ("enum", "const"):
        options = list(expected) if rule == "enum" else [expected]
        shown = ", ".join(str(o) for o in options[:6]) + (" and more" if len(options) > 6 else "")
        return f"The {tool} tool takes {the} as one of: {shown}."
    a = f"a {where}" if where else "values"
    if rule in ("minimum", "exclusiveMinimum"):
        return f"The {tool} tool takes {a} of {'at least' if rule == 'minimum' else 'more than'} {expected}."
    if rule in ("maximum", "exclusiveMaximum"):
        return f"The {tool} tool takes {a} of {'at most' if rule == 'maximum' else 'less than'} {expected}."
    if rule == "additionalProperties":
        return f"The {tool} tool does not take some of the arguments given."
    return f"The {tool} tool did not accept {the}."
