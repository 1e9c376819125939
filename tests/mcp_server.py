"""A real MCP tool server for the tests (stdio), written with the SDK's MCPServer (FastMCP in mcp 1.x).

Run as `python tests/mcp_server.py MARKER_DIR` (stdio) or `... MARKER_DIR --http PORT` (streamable HTTP on
loopback, at /mcp). Each call and each cancelled call leaves a file in MARKER_DIR, so a test can see what
the server really did.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

from mcp.server.mcpserver import MCPServer

MARKERS = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(".")
server = MCPServer("testtools")


def _mark(name: str, text: str) -> None:
    MARKERS.mkdir(parents=True, exist_ok=True)
    (MARKERS / f"{name}-{time.time_ns()}").write_text(text)


@server.tool(description="Add two whole numbers and return the exact sum.")
def add(a: int, b: int) -> str:
    _mark("add", f"{a}+{b}")
    return str(a + b)


@server.tool(description="Turn a room's lights on or off.")
def lights(room: str, on: bool) -> str:
    _mark("lights", f"{room}:{on}")
    return f"The {room} lights are now {'on' if on else 'off'}."


@server.tool(description="Wait for a number of seconds, then say so (a slow tool).")
async def slow(seconds: float) -> str:
    _mark("slow-started", str(seconds))
    try:
        await asyncio.sleep(seconds)
    except asyncio.CancelledError:
        _mark("slow-cancelled", str(seconds))
        raise
    return f"Waited {seconds} seconds."


@server.tool(description="A tool that always fails.")
def broken() -> str:
    raise RuntimeError("the broken tool broke, as it always does")


if __name__ == "__main__":
    if "--http" in sys.argv:
        port = int(sys.argv[sys.argv.index("--http") + 1])
        server.run("streamable-http", host="127.0.0.1", port=port, streamable_http_path="/mcp")
    else:
        server.run("stdio")
