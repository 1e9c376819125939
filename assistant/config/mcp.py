"""[[mcp]]: the tool servers config.toml names, each checked on its own with errors naming the server."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.config.problems import did_you_mean
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


_MCP_KEYS = {"name", "command", "args", "env", "url", "token_env", "retry_s"}


def parse_mcp(path: Path, raw: Any) -> tuple[McpServerSettings, ...]:
    if not isinstance(raw, list):
        raise ConfigError(f"{path}: 'mcp' must be an array of tables, written [[mcp]]")
    servers: list[McpServerSettings] = []
    for index, entry in enumerate(raw):
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
        if any(server.name == name for server in servers):
            raise ConfigError(f"{path}: {where}: duplicate name; each [[mcp]] server needs its own")
        command, url = entry.get("command"), entry.get("url")
        if (command is None) == (url is None):
            raise ConfigError(f"{path}: {where}: give either 'command' (a stdio server) or 'url' (streamable HTTP)")
        if command is not None and (not isinstance(command, str) or not command.strip()):
            raise ConfigError(f"{path}: {where}: field 'command' must be a non-empty string")
        if url is not None and (not isinstance(url, str) or not url.startswith(("http://", "https://"))):
            raise ConfigError(f"{path}: {where}: field 'url' must start with http:// or https://, got {url!r}")
        args = entry.get("args", [])
        if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
            raise ConfigError(f"{path}: {where}: field 'args' must be a list of strings")
        env = entry.get("env", {})
        if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
            raise ConfigError(f"{path}: {where}: field 'env' must be a table of strings")
        if url is not None and (args or env):
            raise ConfigError(f"{path}: {where}: 'args' and 'env' are for a 'command'; a 'url' server takes neither")
        token_env = entry.get("token_env")
        if token_env is not None and (not isinstance(token_env, str) or url is None):
            raise ConfigError(f"{path}: {where}: field 'token_env' names an environment variable, for a 'url' server")
        retry_s = entry.get("retry_s", 30.0)
        if isinstance(retry_s, bool) or not isinstance(retry_s, (int, float)) or retry_s < 1:
            raise ConfigError(f"{path}: {where}: field 'retry_s' must be a number of seconds, at least 1")
        servers.append(
            McpServerSettings(name, command, tuple(args), tuple(sorted(env.items())), url, token_env, float(retry_s))
        )
    return tuple(servers)
