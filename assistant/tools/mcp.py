"""MCP tool servers from config.toml: connected at start, their tools in the registry, retried while down.

Each server lives in its own task, which holds the SDK's client open (its anyio scopes must be entered
and left in one task) and pings it now and then; a server that is down or goes away is reported once
(a log line and an `mcp` event), its tools leave the registry, and it is retried in the background.
Nothing here ever waits inside a turn: a turn sees the tools that are connected at that moment.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from assistant.api.protocol import method
from assistant.config.settings import McpServerSettings
from assistant.core.events import Emit, McpChanged, ignore
from assistant.tools.arguments import plain_error, problem, shape
from assistant.tools.registry import Registry, Run, Tool, ToolResult

if TYPE_CHECKING:  # the SDK is imported when a server is configured, not at every start
    from mcp import Client
    from mcp.types import Tool as McpTool

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 20.0
CALL_TIMEOUT_S = 60.0
PING_EVERY_S = 30.0

# Function names in OpenAI-style tool lists (and most chat templates) are [A-Za-z0-9_-]{1,64}: a dot is
# not allowed, so a server's tool is named SERVER__TOOL.
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def tool_name(server: str, tool: str) -> str:
    return f"{server}__{_UNSAFE.sub('_', tool)}"[:64]


@dataclass(frozen=True)
class ServerStatus:
    """An [[mcp]] server as `assistant status` and `mcp.status` show it."""

    name: str
    connected: bool
    tools: tuple[str, ...]  # the registry's names of its tools (SERVER__TOOL)
    error: str | None  # why it is down (the last failure), None while connected


@dataclass
class ServerState:
    """A server's live state, kept by the task that serves it."""

    name: str
    connected: bool = False
    tools: list[str] = field(default_factory=list)
    error: str | None = None

    def status(self) -> ServerStatus:
        return ServerStatus(self.name, self.connected, tuple(self.tools), self.error)


class McpServers:
    def __init__(
        self,
        servers: Sequence[McpServerSettings],
        registry: Registry,
        emit: Emit = ignore,
        on_tools: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        self.servers = list(servers)
        self.registry = registry
        self.emit = emit
        self.on_tools = on_tools  # after a server's tools change (the home intents re-read its live context)
        self.states = {server.name: ServerState(server.name) for server in servers}
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        """Connect every server in the background; returns at once."""
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._keep(server), name=f"mcp-{server.name}") for server in self.servers]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    def status(self) -> list[ServerStatus]:
        return [state.status() for state in self.states.values()]

    @method("mcp.status")
    async def methods_status(self) -> list[ServerStatus]:
        """The `mcp.status` socket method: each [[mcp]] server, connected or not, its tools, its last error."""
        return self.status()

    async def _keep(self, server: McpServerSettings) -> None:
        state = self.states[server.name]
        reported = False
        while True:
            try:
                await self._serve(server, state)
                problem = "the server closed the connection"
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # anyio wraps failures in ExceptionGroups; one line is what a user needs
                problem = _one_line(exc)
            finally:
                if state.connected:
                    reported = False  # it was up: losing it again is news worth reporting
                self.registry.remove_source(f"mcp:{server.name}")
                state.connected, state.tools = False, []
            state.error = problem
            if not reported:
                # Once per outage: a server that stays down must not fill the log every retry.
                log.warning("MCP server %s is not connected: %s; retrying every %.0f s", server.name, problem, server.retry_s)
                self.emit(McpChanged(server.name, connected=False, error=problem))
                reported = True
            await asyncio.sleep(server.retry_s)

    async def _serve(self, server: McpServerSettings, state: ServerState) -> None:
        """Connect, list and register the tools, then re-list now and then until the connection fails."""
        async with AsyncExitStack() as stack:
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                client = await stack.enter_async_context(_client(server))
                listing = await client.list_tools()
            self._register(server, state, client, listing.tools)
            await self._tools_changed()
            log.info("MCP server %s connected with %d tools: %s", server.name, len(state.tools), ", ".join(state.tools))
            self.emit(McpChanged(server.name, connected=True, tools=tuple(state.tools)))
            while True:
                await asyncio.sleep(PING_EVERY_S)
                # The 2026 protocol has no ping: listing the tools is the liveness check, and keeps them fresh.
                async with asyncio.timeout(CONNECT_TIMEOUT_S):
                    listing = await client.list_tools(cache_mode="bypass")
                if sorted(tool_name(server.name, t.name) for t in listing.tools) != sorted(state.tools):
                    self._register(server, state, client, listing.tools)
                    await self._tools_changed()

    async def _tools_changed(self) -> None:
        if self.on_tools is not None:
            try:
                await self.on_tools()
            except Exception as exc:  # a hook's failure must not take the server's connection down
                log.warning("after the MCP tools changed: %s", _one_line(exc))

    def _register(self, server: McpServerSettings, state: ServerState, client: Client, listed_tools: list[McpTool]) -> None:
        source = f"mcp:{server.name}"
        self.registry.remove_source(source)
        names = []
        for listed in listed_tools:
            name = tool_name(server.name, listed.name)
            tool = Tool(
                name=name,
                description=listed.description or listed.title or listed.name,
                parameters=dict(listed.input_schema or {"type": "object"}),
                run=_runner(client, listed.name, dict(listed.input_schema or {"type": "object"})),
                source=source,
                remote=listed.name,
            )
            try:
                self.registry.add(tool)
            except ValueError as exc:
                log.warning("MCP server %s: tool %s skipped: %s", server.name, listed.name, exc)
                continue
            names.append(name)
        state.connected, state.tools, state.error = True, names, None


def _client(server: McpServerSettings) -> Client:
    from mcp import Client, StdioServerParameters

    if server.command is not None:
        params = StdioServerParameters(command=server.command, args=list(server.args), env=dict(server.env) or None)
        return Client(params, read_timeout_seconds=CALL_TIMEOUT_S)
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    assert server.url is not None
    token = server.token
    headers = {"Authorization": f"Bearer {token}"} if token else None
    transport = streamable_http_client(server.url, http_client=create_mcp_http_client(headers=headers))
    return Client(transport, read_timeout_seconds=CALL_TIMEOUT_S)


def _runner(client: Client, name: str, schema: dict[str, Any]) -> Run:
    async def run(arguments: dict[str, Any]) -> ToolResult:
        from mcp.types import TextContent

        # Shaped to the tool's schema and checked before the call, whatever the route (a local intent's
        # slots, an LLM's arguments): what does not fit is refused here in a sentence of ours, not by the
        # server in its validator's words.
        arguments = shape(arguments, schema)
        refused = problem(arguments, schema, name)
        if refused is not None:
            return ToolResult(refused, {"arguments": arguments}, ok=False)
        result = await client.call_tool(name, arguments)
        texts = [block.text for block in result.content if isinstance(block, TextContent)]
        text = " ".join(texts).strip()
        data = result.structured_content if isinstance(result.structured_content, dict) else {}
        if not text and result.structured_content is not None:
            text = json.dumps(result.structured_content)
        if result.is_error:
            return ToolResult(f"The {name} tool could not do that: {plain_error(text)}.", data, ok=False)
        return ToolResult(text or "Done.", data)

    return run


def _one_line(exc: BaseException) -> str:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
