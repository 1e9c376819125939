"""The OpenAI-compatible HTTP API: Starlette under uvicorn's Server, in the daemon's own event loop.

Starlette and uvicorn come with the MCP SDK the daemon already uses, and Starlette has what these
endpoints need built in or beside it: multipart uploads (python-multipart), streamed bodies, and
server-sent events (sse-starlette, also an MCP dependency). uvicorn's Server runs as a task of the
daemon's loop, so every request leases its model from the one arbiter as a desktop turn does. Two
things are ours: the socket is bound here (a taken port is a clear line, not uvicorn's exit), and
uvicorn does not take over SIGINT/SIGTERM, which the daemon owns.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket

from assistant.config.api import ApiBind, ApiSettings
from assistant.core.errors import ConfigError
from assistant.openai_api.errors import ApiError

log = logging.getLogger(__name__)

Handler = Callable[[Request], Awaitable[Response]]
Socket = Callable[[WebSocket], Awaitable[None]]
# A message over this closes the WebSocket (1009). It is above realtime_events.MAX_MESSAGE, so a message
# between the two is read and answered with an error event, and the session lives on.
WS_MAX_MESSAGE = 32 * 1024 * 1024


@dataclass
class Counts:
    requests: int = 0
    errors: int = 0  # answered with a 4xx or 5xx
    rejected: int = 0  # of those, turned away because the queue was full (429)
    in_flight: int = 0
    queued: int = 0
    decoding: int = 0  # uploads being decoded now, in threads (status shows the loop answers meanwhile)
    sessions: int = 0  # Realtime API sessions open now (realtime.py)
    guesses_taken: int = 0  # Realtime answers made ahead at a pause and sent (realtime_guess.py)
    guesses_dropped: int = 0  # ... and thrown away: the user spoke on, or the conversation changed
    by_path: dict[str, int] = field(default_factory=dict)


class Limits:
    """At most `concurrent` requests work at once; up to `queue` more wait; beyond that, 429."""

    def __init__(self, concurrent: int, queue: int, counts: Counts) -> None:
        self._slots = asyncio.Semaphore(concurrent)
        self._queue = queue
        self.counts = counts

    async def slot(self) -> Slot:
        """A place to work: waits in the queue for one, or raises the 429 when the queue is full."""
        if self._slots.locked() and self.counts.queued >= self._queue:
            self.counts.rejected += 1
            raise ApiError(429, "the server is busy; retry in a moment", "rate_limit_exceeded",
                           "rate_limit_exceeded", {"Retry-After": "1"})
        self.counts.queued += 1
        try:
            await self._slots.acquire()
        finally:
            self.counts.queued -= 1
        self.counts.in_flight += 1
        return Slot(self)

    def _release(self) -> None:
        self.counts.in_flight -= 1
        self._slots.release()


class Slot:
    """One request's place; release() is safe to call more than once (a stream's end and its clean-up)."""

    def __init__(self, limits: Limits) -> None:
        self._limits: Limits | None = limits

    def release(self) -> None:
        limits, self._limits = self._limits, None
        if limits is not None:
            limits._release()


def guarded(handler: Handler, settings: ApiSettings, counts: Counts, key: str | None) -> Handler:
    """Every endpoint: the key checked, the request counted, and any error in OpenAI's shape."""

    async def run(request: Request) -> Response:
        counts.requests += 1
        counts.by_path[request.url.path] = counts.by_path.get(request.url.path, 0) + 1
        try:
            if key is not None:
                given = request.headers.get("authorization", "")
                scheme, _, token = given.partition(" ")
                if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), key.encode()):
                    raise ApiError(401, "a valid API key is needed: send Authorization: Bearer KEY",
                                   "authentication_error", "invalid_api_key")
            async with asyncio.timeout(settings.request_timeout_s):
                response = await handler(request)
        except ApiError as exc:
            counts.errors += 1
            return exc.response()
        except TimeoutError:
            counts.errors += 1
            return ApiError(408, f"the request took longer than {settings.request_timeout_s:g} s and was ended",
                            "timeout", "timeout").response()
        if response.status_code >= 400:
            counts.errors += 1
        return response

    return run


class _InLoopServer:
    """uvicorn's Server as a task of the daemon's loop, without its signal handling."""

    def __init__(self, app: Starlette, sock: socket.socket) -> None:
        import uvicorn

        class Server(uvicorn.Server):
            @contextlib.contextmanager
            def capture_signals(self) -> Iterator[None]:
                yield  # the daemon handles SIGINT and SIGTERM, and closes this server in its own order

        config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off", timeout_keep_alive=5,
                                limit_concurrency=256, h11_max_incomplete_event_size=64 * 1024,
                                ws_max_size=WS_MAX_MESSAGE, ws_ping_interval=20.0, ws_ping_timeout=20.0)
        self.server = Server(config)
        self.sock = sock
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self.server.serve(sockets=[self.sock]))
        while not self.server.started:
            if self.task.done():
                self.task.result()
                raise ConfigError("the API server stopped as it started; see the log")
            await asyncio.sleep(0.01)

    async def close(self) -> None:
        self.server.should_exit = True
        if self.task is not None:
            with contextlib.suppress(Exception):
                await self.task


class ApiServer:
    def __init__(
        self,
        bind: ApiBind,
        settings: ApiSettings,
        routes: list[tuple[str, str, Handler]],
        counts: Counts,
        sockets: list[tuple[str, Callable[[str | None], Socket]]] | None = None,
    ) -> None:
        """`sockets`: WebSocket endpoints, each made with the key it checks itself (realtime.py)."""
        self.bind = bind
        self.settings = settings
        self.counts = counts
        key = settings.key()
        if settings.api_key_env and key is None:
            raise ConfigError(f"[api] api_key_env names {settings.api_key_env}, which is not set in the environment; "
                              "set it to the key, or remove api_key_env (loopback only)")
        if not bind.loopback and key is None:
            raise ConfigError(f"[api] listen {bind.host}:{bind.port} is reachable from the network and no key is set; "
                              "set api_key_env, or listen on 127.0.0.1")
        self.keyed = key is not None
        served: list[BaseRoute] = [
            Route(path, guarded(handler, settings, self.counts, key), methods=[method]) for method, path, handler in routes
        ]
        served += [WebSocketRoute(path, make(key)) for path, make in sockets or []]
        self.app = Starlette(
            routes=served,
            exception_handlers={404: self._no_route, 405: self._no_route},
        )
        self._server: _InLoopServer | None = None

    async def _no_route(self, request: Request, exc: Exception) -> Response:
        """An unknown path (404) or a method the path does not take (405), in OpenAI's error shape: a
        client reads `error.message` from every answer, and Starlette's own is the plain text "Not Found".
        Whether a path exists is no secret, so this answers before any key check."""
        self.counts.requests += 1
        self.counts.errors += 1
        where = f"{request.method} {request.url.path}"
        if isinstance(exc, HTTPException) and exc.status_code == 405:
            allowed = (exc.headers or {}).get("Allow", "")
            return ApiError(405, f"{where} is not allowed; {request.url.path} takes {allowed}", code="method_not_allowed",
                            headers={"Allow": allowed} if allowed else None).response()
        return ApiError(404, f"Invalid URL ({where}): no such endpoint; the API is under /v1 (GET /v1/models lists "
                        "the models)", code="unknown_url").response()

    @property
    def url(self) -> str:
        host, port = (self._server.sock.getsockname()[:2] if self._server else (self.bind.host, self.bind.port))
        return f"http://{host}:{port}"

    async def start(self) -> None:
        family = socket.AF_INET6 if ":" in self.bind.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.bind.host, self.bind.port))
        except OSError as exc:
            sock.close()
            reason = os.strerror(exc.errno) if exc.errno else str(exc)
            raise ConfigError(f"cannot serve the API on {self.bind.host}:{self.bind.port} ({reason}); "
                              "pick another address in config.toml [api] listen") from None
        sock.listen(128)
        sock.setblocking(False)
        self._server = _InLoopServer(self.app, sock)
        await self._server.start()
        log.info("serving the OpenAI-compatible API on %s%s", self.url, " (key required)" if self.keyed else "")

    async def close(self) -> None:
        if self._server is not None:
            await self._server.close()
            self._server.sock.close()
