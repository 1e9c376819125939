"""Every tool the assistant can run, builtin or from an MCP server, gathered in one place."""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from assistant.core.chat import ToolSpec
from assistant.core.errors import AssistantError
from assistant.core.records import ToolCallRecord as ToolCallRecord  # re-exported: a turn's tool runs
from assistant.core.records import ToolRoute
from assistant.core.wire import WireError, from_json
from assistant.tools.arguments import Misfit, misfit, plain_error, shape


@dataclass(frozen=True)
class ToolResult:
    """What a tool did, in words: `text` is shown and spoken (numbers as digits; the voice reads them out).

    `data` is the machine-readable result: a typed record (a `Timer`, the `CancelledAlarms`), or JSON
    where JSON is what the tool gave (an MCP server's structured content); `ok` is False when the tool
    could not do what was asked, and `text` then says why and what would make it possible.
    """

    text: str
    data: object = field(default_factory=dict)
    ok: bool = True


# A tool's arguments arrive as JSON (the LLM's, or a local intent's slots): a builtin tool reads them into
# its record (builtin_tool), an MCP tool passes them on as they are.
Run = Callable[[dict[str, Any]], Awaitable[ToolResult]]
Record = TypeVar("Record")


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    parameters: dict[str, Any]  # a JSON schema (type: object) for the arguments
    run: Run
    source: str = "builtin"  # "builtin" or "mcp:SERVER"
    remote: str = ""  # an MCP tool's own name on its server (HassTurnOff), which `name` prefixes with the server's
    record: type[object] | None = None  # a builtin tool's arguments, as the dataclass its handler takes

    @property
    def spec(self) -> ToolSpec:
        return ToolSpec(self.name, self.description, self.parameters)

    def describe(self) -> ToolInfo:
        return ToolInfo(self.name, self.description, self.parameters, self.source)


@dataclass(frozen=True)
class ToolInfo:
    """A tool as `assistant tools` lists it."""

    name: str
    description: str
    parameters: dict[str, Any]  # its arguments' JSON schema
    source: str  # "builtin" or "mcp:SERVER"


@dataclass(frozen=True)
class NoArguments:
    """The record of a tool that takes no arguments."""


def builtin_tool(
    name: str,
    description: str,
    parameters: dict[str, Any],
    record: type[Record],
    handler: Callable[[Record], Awaitable[ToolResult]],
    asks: Mapping[str, str] | None = None,
) -> Tool:
    """A builtin tool whose handler takes its arguments as `record`, read from the JSON once it fits `parameters`.

    `parameters` is the JSON Schema the LLM is shown, written by hand (its wording is tuned); `record`
    must agree with it (tests/tools/test_tool_records.py checks). Arguments are shaped to the schema first
    ("40" for 40), as an MCP tool's are, then checked: what does not fit is answered in one sentence, the
    tool's own question from `asks` for the argument at fault ("How long should it be?") where it has one.
    """

    async def run(arguments: dict[str, Any]) -> ToolResult:
        shaped = shape(arguments, parameters)
        refused = misfit(shaped, parameters, name)
        if refused is None:
            try:
                typed = from_json(record, shaped)
            except WireError:  # the schema lets through what the record cannot hold (a test keeps the two agreeing)
                refused = Misfit("", f"The {name} tool did not accept its arguments.")
            else:
                return await handler(typed)
        return ToolResult((asks or {}).get(refused.argument, refused.sentence), ok=False)

    return Tool(name, description, parameters, run, record=record)


class Registry:
    def __init__(self, tools: Iterable[Tool] = (), on_call: Callable[[ToolCallRecord], None] | None = None) -> None:
        self._tools: dict[str, Tool] = {}
        self.on_call = on_call  # told of every run, whatever the route (the daemon's `tool.called` event)
        self._held: Callable[[], Awaitable[None]] | None = None
        for tool in tools:
            self.add(tool)

    def held(self, until: Callable[[], Awaitable[None]]) -> Registry:
        """The same tools, each run waiting first for `until`: what a turn answered ahead on a guess uses.

        `until` returns once the guessed words are confirmed, and is cancelled if they are not. Every
        tool run, whatever the route (a local intent, the LLM, an MCP server), passes through `call`,
        so a turn given this view cannot act on a guess. The view shares the tools: an MCP server
        that connects or goes away meanwhile shows in both.
        """
        view = copy.copy(self)
        view._held = until
        return view

    def add(self, tool: Tool) -> None:
        if tool.name in self._tools:
            raise ValueError(f"two tools are named {tool.name!r} ({self._tools[tool.name].source} and {tool.source})")
        self._tools[tool.name] = tool

    def remove_source(self, source: str) -> None:
        """Drop every tool of one source (an MCP server that went away); in place, for the held views too."""
        for name in [name for name, tool in self._tools.items() if tool.source == source]:
            del self._tools[name]

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def __iter__(self) -> Iterator[Tool]:
        return iter(self._tools.values())

    def __len__(self) -> int:
        return len(self._tools)

    def specs(self) -> list[ToolSpec]:
        return [tool.spec for tool in self._tools.values()]

    async def call(
        self, name: str, arguments: dict[str, Any], route: ToolRoute, records: list[ToolCallRecord]
    ) -> ToolResult:
        """Run a tool and append its record to `records` (a turn's); a failure becomes an honest result.

        Nothing but a cancel leaves here as an exception, and a cancelled run is recorded too (result
        "cancelled"): the history says the call was made, rather than forgetting it.
        """
        if self._held is not None:
            await self._held()
        started = time.perf_counter()
        tool = self._tools.get(name)
        if tool is None:
            result = ToolResult(f"I have no tool called {name}.", ok=False)
        else:
            try:
                result = await tool.run(arguments)
            except asyncio.CancelledError:
                records.append(ToolCallRecord(name, arguments, "cancelled", False, _ms_since(started), route))
                raise
            except AssistantError as exc:
                result = ToolResult(f"I couldn't do that: {exc.message}", ok=False)
            except Exception as exc:  # a tool's bug must become a sentence, not a dead turn
                result = ToolResult(f"I couldn't do that: the {name} tool failed ({plain_error(str(exc))}).", ok=False)
        record = ToolCallRecord(name, arguments, result.text, result.ok, _ms_since(started), route)
        records.append(record)
        if self.on_call is not None:
            self.on_call(record)
        return result


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
