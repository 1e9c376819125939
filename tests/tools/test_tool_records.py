"""Each builtin tool's JSON Schema (what the LLM is shown, worded by hand) and the record its handler takes agree.

And the arguments are read into the record as the schema means them: "600" is a number, a value left
out takes the record's default, what does not fit is answered in one sentence, the tool's own question
where it has one, without running the tool.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import types
import typing
from typing import Any

import pytest

from assistant.tools.alarms import Alarms
from assistant.tools.arithmetic import NO_SUM
from assistant.tools.builtin import builtin_tools
from assistant.tools.media import WHAT_TO_DO as MEDIA_WHAT_TO_DO
from assistant.tools.registry import NoArguments, Tool, ToolResult, builtin_tool
from assistant.tools.reminders import ABOUT_WHAT, WHEN
from assistant.tools.timers import HOW_LONG, NOT_RUNNING
from assistant.tools.volume import TO_WHAT
from assistant.tools.volume import WHAT_TO_DO as VOLUME_WHAT_TO_DO

pytestmark = pytest.mark.quick  # pure logic: runs on the light store

TOOLS = builtin_tools(Alarms(None), lambda: 8)
JSON_TYPES: dict[str, type] = {"string": str, "number": float, "integer": int, "boolean": bool}


def _tool(name: str) -> Tool:
    return next(tool for tool in TOOLS if tool.name == name)


def _run(name: str, arguments: dict[str, Any]) -> ToolResult:
    return asyncio.run(_tool(name).run(arguments))


@pytest.mark.parametrize("tool", TOOLS, ids=lambda tool: tool.name)
def test_the_schema_and_the_record_name_the_same_arguments(tool: Tool) -> None:
    assert tool.record is not None and dataclasses.is_dataclass(tool.record), f"{tool.name} takes no record"
    assert tool.parameters["type"] == "object"
    fields = {f.name: f for f in dataclasses.fields(tool.record)}
    properties = tool.parameters.get("properties", {})
    assert set(fields) == set(properties), tool.name
    without_default = {
        name for name, f in fields.items() if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }
    assert without_default == set(tool.parameters.get("required", [])), tool.name


@pytest.mark.parametrize("tool", TOOLS, ids=lambda tool: tool.name)
def test_each_argument_has_the_type_its_schema_says(tool: Tool) -> None:
    assert tool.record is not None
    hints = typing.get_type_hints(tool.record)
    for name, schema in tool.parameters.get("properties", {}).items():
        kinds = [k for k in typing.get_args(hints[name]) if k is not type(None)] or [hints[name]]
        if isinstance(hints[name], types.UnionType):
            assert type(None) in typing.get_args(hints[name]), f"{tool.name}.{name}: only None may join a type"
        (kind,) = kinds
        if "enum" in schema:
            assert isinstance(kind, type) and issubclass(kind, enum.Enum), f"{tool.name}.{name} is no enum"
            assert [member.value for member in kind] == schema["enum"], f"{tool.name}.{name}: the enum's values"
        else:
            assert kind is JSON_TYPES[schema["type"]], f"{tool.name}.{name}: {kind} for {schema['type']}"


def test_values_are_read_as_the_schema_means_them() -> None:
    # "600" as the number it says: the timer is refused for want of a daemon, not for its arguments.
    assert _run("start_timer", {"duration_s": "600", "label": None}).text == NOT_RUNNING
    assert _run("calculate", {"expression": "twelve times seven", "unasked": 1}).text == "12 times 7 is 84."
    assert _run("list_reminders", {"anything": "at all"}).text == "You have no reminders."


@pytest.mark.parametrize(
    ("name", "arguments", "said"),
    [
        ("start_timer", {}, HOW_LONG),
        ("start_timer", {"duration_s": "ten minutes"}, HOW_LONG),
        ("add_reminder", {"when": "at 5 pm"}, ABOUT_WHAT),
        ("add_reminder", {"text": "call my mother"}, WHEN),
        ("calculate", {}, NO_SUM),
        ("set_volume", {"action": "louder"}, VOLUME_WHAT_TO_DO),
        ("set_volume", {"action": "set", "percent": "half"}, TO_WHAT),
        ("media_control", {"action": "rewind"}, MEDIA_WHAT_TO_DO),
        ("cancel_timer", {"all": ["yes"]}, "The cancel_timer tool takes the all as yes or no."),
        ("get_time", {"place": ["Tokyo"]}, "The get_time tool takes the place as text."),
    ],
)
def test_arguments_that_do_not_fit_are_answered_in_one_sentence(name: str, arguments: dict[str, Any], said: str) -> None:
    result = _run(name, arguments)
    assert not result.ok and result.text == said


def test_a_handler_is_not_run_when_its_arguments_do_not_fit() -> None:
    ran: list[NoArguments] = []

    async def handler(args: NoArguments) -> ToolResult:
        ran.append(args)
        return ToolResult("ran")

    tool = builtin_tool("strict", "", {"type": "object", "properties": {}, "additionalProperties": False}, NoArguments, handler)
    assert asyncio.run(tool.run({})).text == "ran"
    refused = asyncio.run(tool.run({"extra": 1}))
    assert not refused.ok and refused.text == "The strict tool does not take some of the arguments given."
    assert len(ran) == 1
