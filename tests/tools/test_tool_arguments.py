"""Tool arguments shaped to a tool's JSON Schema and checked before the call (assistant/tools/arguments.py).

The schemas are written as the servers that send them write them: pydantic's (the MCP SDK's) optional
values as anyOf with null and enums behind $ref, a hand-written one with oneOf, type lists and
`definitions` (draft 7), and HA's own plain ones. The check is jsonschema's.
"""

from __future__ import annotations

from typing import Any

import pytest

from assistant.tools.arguments import plain_error, problem, shape

pytestmark = pytest.mark.quick  # pure logic: runs on the light store

# pydantic's schema for `domain: list[str] | None = None, device_class: list[DeviceClass] | None = None,
# brightness: Annotated[int, Field(ge=0, le=100)] | None = None, temperature: float` (mcp SDK, pydantic 2).
PYDANTIC: dict[str, Any] = {
    "type": "object",
    "$defs": {"DeviceClass": {"enum": ["awning", "blind", "curtain", "garage"], "title": "DeviceClass", "type": "string"}},
    "properties": {
        "name": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None, "title": "Name"},
        "domain": {"anyOf": [{"items": {"type": "string"}, "type": "array"}, {"type": "null"}], "default": None},
        "device_class": {"anyOf": [{"items": {"$ref": "#/$defs/DeviceClass"}, "type": "array"}, {"type": "null"}],
                         "default": None},
        "brightness": {"anyOf": [{"maximum": 100, "minimum": 0, "type": "integer"}, {"type": "null"}], "default": None},
        "temperature": {"type": "number", "title": "Temperature"},
    },
    "required": ["temperature"],
}


def test_a_scalar_becomes_the_list_an_optional_array_branch_asks_for() -> None:
    assert shape({"domain": "light", "temperature": 20}, PYDANTIC) == {"domain": ["light"], "temperature": 20}
    assert shape({"domain": ["light", "switch"], "temperature": 20}, PYDANTIC)["domain"] == ["light", "switch"]
    assert problem(shape({"domain": "light", "temperature": 20}, PYDANTIC), PYDANTIC, "HassTurnOff") is None


def test_none_for_an_optional_argument_is_left_out_and_unknown_slots_are_dropped() -> None:
    shaped = shape({"name": None, "domain": None, "temperature": "21", "response": "default"}, PYDANTIC)
    assert shaped == {"temperature": 21}


def test_an_enum_behind_a_ref_gets_its_own_spelling_inside_the_list() -> None:
    assert shape({"device_class": "Blind", "temperature": 1}, PYDANTIC)["device_class"] == ["blind"]
    unknown = shape({"device_class": "sunroof", "temperature": 1}, PYDANTIC)
    said = problem(unknown, PYDANTIC, "HassTurnOn")
    assert said is not None and "device_class" in said and "blind" in said, said


@pytest.mark.parametrize("given,integer,number", [
    ("40", 40, 40), (40.0, 40, 40), ("21.5", "21.5", 21.5), (7, 7, 7), ("40%", 40, 40), (" 12 ", 12, 12),
])
def test_integer_and_number_are_told_apart(given: Any, integer: Any, number: Any) -> None:
    schema = {"type": "object", "properties": {"i": {"type": "integer"}, "n": {"type": "number"}}}
    shaped = shape({"i": given, "n": given}, schema)
    assert shaped == {"i": integer, "n": number}
    assert type(shaped["i"]) is type(integer)
    said = problem(shaped, schema, "t")
    assert (said is None) == isinstance(integer, int), said


def test_a_fraction_for_an_integer_is_refused_in_one_sentence_before_the_call() -> None:
    said = problem(shape({"brightness": "40.5", "temperature": 20}, PYDANTIC), PYDANTIC, "HassLightSet")
    assert said == "The HassLightSet tool takes the brightness as a whole number."
    said = problem(shape({"brightness": 140, "temperature": 20}, PYDANTIC), PYDANTIC, "HassLightSet")
    assert said == "The HassLightSet tool takes a brightness of at most 100."
    assert problem({}, PYDANTIC, "HassClimateSetTemperature") == "The HassClimateSetTemperature tool needs a temperature."


# Hand-written, draft 7: oneOf, a type list, `definitions`, a $ref to a $ref, a boolean.
HANDWRITTEN: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "definitions": {"Level": {"$ref": "#/definitions/Named"}, "Named": {"type": "string", "enum": ["low", "high"]}},
    "properties": {
        "level": {"oneOf": [{"type": "integer", "minimum": 0}, {"$ref": "#/definitions/Level"}]},
        "count": {"type": ["integer", "null"]},
        "mode": {"const": "heat_cool"},
        "on": {"type": "boolean"},
        "label": {"type": "string"},
    },
    "additionalProperties": False,
}


@pytest.mark.parametrize("given,wanted", [
    ({"level": "40"}, {"level": 40}),
    ({"level": "High"}, {"level": "high"}),
    ({"level": 3}, {"level": 3}),
    ({"count": "5"}, {"count": 5}),
    ({"count": None}, {}),
    ({"mode": "Heat Cool"}, {"mode": "heat_cool"}),
    ({"on": "on"}, {"on": True}),
    ({"on": "off"}, {"on": False}),
    ({"label": 12}, {"label": "12"}),
    ({"extra": 1, "label": "x"}, {"label": "x"}),
])
def test_oneof_type_lists_refs_to_refs_consts_and_booleans(given: dict[str, Any], wanted: dict[str, Any]) -> None:
    shaped = shape(given, HANDWRITTEN)
    assert shaped == wanted
    assert problem(shaped, HANDWRITTEN, "t") is None


def test_a_value_no_branch_takes_is_passed_on_for_the_check_to_name() -> None:
    shaped = shape({"level": "medium"}, HANDWRITTEN)
    assert shaped == {"level": "medium"}
    said = problem(shaped, HANDWRITTEN, "SetLevel")
    assert said is not None and said.startswith("The SetLevel tool takes the level as")


def test_a_ref_that_loops_or_points_away_does_not_hang_or_refuse() -> None:
    schema = {"type": "object", "$defs": {"A": {"$ref": "#/$defs/A"}},
              "properties": {"a": {"$ref": "#/$defs/A"}, "b": {"$ref": "https://example.com/b.json"}}}
    assert shape({"a": "x", "b": "y"}, schema) == {"a": "x", "b": "y"}
    assert problem({"a": "x", "b": "y"}, schema, "t") is None  # the server judges what we cannot read


def test_ha_s_plain_schema_still_gets_lists_and_whole_numbers() -> None:
    schema = {"type": "object", "properties": {"name": {"type": "string"}, "domain": {"type": "array", "items": {"type": "string"}},
                                               "brightness": {"type": "integer", "minimum": 0, "maximum": 100}}}
    assert shape({"name": "Desk Lamp", "domain": "light", "brightness": 40.0}, schema) == {
        "name": "Desk Lamp", "domain": ["light"], "brightness": 40}


@pytest.mark.parametrize("text,said", [
    ("Error executing tool HassTurnOff: 1 validation error for turn_offArguments\ndomain\n  Input should be a valid list "
     "[type=list_type, input_value='light', input_type=str]\n    For further information visit "
     "https://errors.pydantic.dev/2.14/v/list_type", "domain should be a valid list"),
    ("Error calling tool: MatchFailedError: no entity named jacuzzi", "no entity named jacuzzi"),
    ("Provided temperature 40.0 is not valid. Accepted range is 7 to 35.\nFor further information visit "
     "https://www.home-assistant.io/integrations/climate", "Provided temperature 40.0 is not valid"),
    ("Timed out (see https://example.com/help) while waiting", "Timed out while waiting"),
    ("Error executing tool HassTurnOn", "it reported an error"),
    ("", "it reported an error"),
    ("\n\n  RuntimeError: the broken tool broke, as it always does\nTraceback ...", "the broken tool broke, as it always does"),
])
def test_a_tool_s_error_is_cut_to_one_plain_clause(text: str, said: str) -> None:
    assert plain_error(text) == said


def test_a_long_error_is_cut_at_a_word() -> None:
    said = plain_error("word " * 100)
    assert len(said) <= 160 and said.endswith("word")
