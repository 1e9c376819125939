"""[[mcp]]: the tool servers config.toml names, each checked on its own (its types by pydantic, strictly)
with errors naming the server."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, fields
from pathlib import Path

from assistant.config.problems import did_you_mean
from assistant.config.strict import validate_table
from assistant.core.errors import ConfigError, config_problems

MCP_NAME = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


@dataclass(frozen=True)
class McpServerSettings:
    """One `[[mcp]]` tool server: `command` + `args` (stdio), or `url` (streamable HTTP)."""

    name: str
    command: str | None = None
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()  # extra environment for a stdio server
    url: str | None = None
    token_env: str | None = None  # the environment variable holding a bearer token for `url`
    retry_s: float = 30.0  # how often a server that is down is tried again

    @property
    def token(self) -> str | None:
        return os.environ.get(self.token_env) if self.token_env else None


_MCP_KEYS = {f.name for f in fields(McpServerSettings)}


def parse_mcp(path: Path, raw: object) -> tuple[McpServerSettings, ...]:
    if not isinstance(raw, list):
        raise ConfigError(f"{path}: 'mcp' must be an array of tables, written [[mcp]]")
    servers: list[McpServerSettings] = []
    for index, entry in enumerate(raw):
        servers.append(_server(path, index, entry, servers))
    return tuple(servers)


def _server(path: Path, index: int, entry: object, before: list[McpServerSettings]) -> McpServerSettings:
    """One [[mcp]] table; pydantic checks the types, and the first problem (in this order) is the one named."""
    where = f"[[mcp]] #{index + 1}"
    if not isinstance(entry, dict):
        raise ConfigError(f"{path}: {where}: each [[mcp]] must be a table")
    name = entry.get("name")
    if not isinstance(name, str) or not MCP_NAME.match(name):
        raise ConfigError(f"{path}: {where}: field 'name' must be 1-32 letters, digits, '_' or '-', got {name!r}")
    where = f"[[mcp]] {name!r}"
    unknown = sorted(set(entry) - _MCP_KEYS)
    if unknown:
        raise config_problems([f"{path}: {where}: unknown field {k!r}; {did_you_mean(k, _MCP_KEYS)}" for k in unknown])
    if any(server.name == name for server in before):
        raise ConfigError(f"{path}: {where}: duplicate name; each [[mcp]] server needs its own")
    server, errors = validate_table(McpServerSettings(name), entry)
    command, url = entry.get("command"), entry.get("url")
    if (command is None) == (url is None):
        raise ConfigError(f"{path}: {where}: give either 'command' (a stdio server) or 'url' (streamable HTTP)")
    if "command" in errors or (isinstance(command, str) and not command.strip()):
        raise ConfigError(f"{path}: {where}: field 'command' must be a non-empty string")
    if "url" in errors or (isinstance(url, str) and not url.startswith(("http://", "https://"))):
        raise ConfigError(f"{path}: {where}: field 'url' must start with http:// or https://, got {url!r}")
    if "args" in errors:
        raise ConfigError(f"{path}: {where}: field 'args' must be a list of strings")
    if "env" in errors:
        raise ConfigError(f"{path}: {where}: field 'env' must be a table of strings")
    if server.url is not None and (server.args or server.env):
        raise ConfigError(f"{path}: {where}: 'args' and 'env' are for a 'command'; a 'url' server takes neither")
    if "token_env" in errors or (server.token_env is not None and server.url is None):
        raise ConfigError(f"{path}: {where}: field 'token_env' names an environment variable, for a 'url' server")
    if "retry_s" in errors or server.retry_s < 1:
        raise ConfigError(f"{path}: {where}: field 'retry_s' must be a number of seconds, at least 1")
    return server
