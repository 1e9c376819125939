"""[api]: where the OpenAI-compatible API listens, and the key that guards it (openai_api/ serves it)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from assistant.core.errors import ConfigError

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class ApiSettings:
    """The OpenAI-compatible HTTP API (openai_api/): off unless `listen` is set."""

    listen: str = ""  # "127.0.0.1:8000"; a host other than loopback needs api_key_env
    api_key_env: str = ""  # the environment variable holding the bearer key every request must carry
    max_concurrent: int = 2  # requests worked on at once; the rest queue
    max_queue: int = 16  # queued beyond that are answered 429
    request_timeout_s: float = 300.0  # a request (upload, work and streamed reply) longer than this is ended
    max_sessions: int = 4  # Realtime API sessions (WebSockets) open at once; more are answered 429
    session_idle_s: float = 300.0  # a session with no event for this long is closed
    max_buffer_s: float = 60.0  # audio a session holds uncommitted (an utterance is cut, a manual buffer refused)

    def key(self) -> str | None:
        return os.environ.get(self.api_key_env) or None if self.api_key_env else None


@dataclass(frozen=True)
class ApiBind:
    host: str
    port: int

    @property
    def loopback(self) -> bool:
        return self.host in (LOOPBACK, "localhost", "::1") or self.host.startswith("127.")


def parse_api_listen(listen: str, where: str = "[api]") -> ApiBind:
    """HOST:PORT (port 0: the system picks one). A bare port binds loopback."""
    hint = 'write listen = "127.0.0.1:8000"'
    text = listen.strip()
    host, sep, port_text = text.rpartition(":")
    if not sep:
        host, port_text = "", text
    host = host.strip("[]") or LOOPBACK
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ConfigError(f"{where}: listen {listen!r} needs a port from 0 to 65535; {hint}")
    return ApiBind(host, int(port_text))


def check_api(path: Path, api: ApiSettings) -> None:
    if not api.listen.strip():
        return
    bind = parse_api_listen(api.listen, f"{path}: [api]")
    if not bind.loopback and not api.api_key_env:
        raise ConfigError(f"{path}: [api]: listen {api.listen!r} is reachable from the network; set api_key_env to "
                          "the environment variable holding a key, or listen on 127.0.0.1")
    if api.max_concurrent < 1 or api.max_queue < 0 or api.request_timeout_s <= 0:
        raise ConfigError(f"{path}: [api]: max_concurrent must be at least 1, max_queue at least 0, "
                          "request_timeout_s more than 0")
    if api.max_sessions < 0 or api.session_idle_s <= 0 or api.max_buffer_s <= 0:
        raise ConfigError(f"{path}: [api]: max_sessions must be at least 0 (0: no Realtime sessions), "
                          "session_idle_s and max_buffer_s more than 0")
