"""The Wyoming server's listener: TCP (loopback unless configured otherwise) or a Unix socket, many clients."""

from __future__ import annotations

import asyncio
import logging
import os
import stat
from collections.abc import Callable
from pathlib import Path

from assistant.config.settings import WyomingBind
from assistant.core.errors import ConfigError
from assistant.turn.results import Models
from assistant.vram.arbiter import Arbiter
from assistant.wyoming.events import MAX_LINE
from assistant.wyoming.handler import Connection, Services

log = logging.getLogger(__name__)

MAX_CLIENTS = 32  # Home Assistant uses one connection per request; more than this at once is not a client


class WyomingServer:
    def __init__(self, bind: WyomingBind, services: Services) -> None:
        self.bind = bind
        self.services = services
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    @property
    def uri(self) -> str:
        """The address clients use; with port 0 in the config, the port the system picked."""
        if self.bind.scheme == "tcp" and self._server is not None and self._server.sockets:
            host, port = self._server.sockets[0].getsockname()[:2]
            return f"tcp://{host}:{port}"
        return self.bind.uri

    async def start(self) -> None:
        try:
            if self.bind.scheme == "tcp":
                self._server = await asyncio.start_server(self._accept, self.bind.host, self.bind.port, limit=MAX_LINE)
            else:
                path = Path(self.bind.path)
                path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                if path.exists() and stat.S_ISSOCK(path.stat().st_mode):
                    path.unlink()  # left by a daemon that did not exit cleanly
                self._server = await asyncio.start_unix_server(self._accept, str(path), limit=MAX_LINE)
                os.chmod(path, 0o600)  # only this user's programs may use the models
        except OSError as exc:
            reason = os.strerror(exc.errno) if exc.errno else str(exc)  # asyncio's text repeats the address
            raise ConfigError(
                f"cannot serve Wyoming on {self.bind.uri} ({reason}); pick another address in config.toml [wyoming] uri"
            ) from None
        log.info("serving Wyoming on %s", self.uri)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        connection = Connection(self.services, reader, writer)
        try:
            if len(self._connections) > MAX_CLIENTS:
                await connection.refuse(f"more than {MAX_CLIENTS} Wyoming clients at once; try again shortly")
                return
            await connection.run()
        finally:
            self._connections.discard(task)

    async def close(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for task in list(self._connections):
            task.cancel()  # a request in flight gives its lease back as it unwinds
        await asyncio.gather(*self._connections, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None
        if self.bind.scheme == "unix":
            Path(self.bind.path).unlink(missing_ok=True)


async def start_wyoming(bind: WyomingBind, arbiter: Arbiter, models: Callable[[], Models]) -> WyomingServer:
    server = WyomingServer(bind, Services(arbiter, models))
    await server.start()
    return server
