"""The control socket: a Unix-socket JSON-lines server that never lets one client hurt another."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import socket
import stat
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from assistant.api.protocol import (
    MAX_MESSAGE_BYTES,
    ErrorReply,
    Event,
    MethodSpec,
    ProtocolError,
    Reply,
    Request,
    decode_request,
    encode,
)
from assistant.core.errors import AssistantError
from assistant.core.paths import check_runtime_dir

log = logging.getLogger(__name__)

Handler = Callable[[Request, "Connection"], Awaitable[Any]]
# A client that does not read its replies for this long is dropped: it holds memory and answers nothing.
WRITE_TIMEOUT_S = 10.0
# Requests one connection may have unanswered; past it the daemon stops reading that connection until
# replies drain (backpressure), so a client pipelining without reading costs a bounded amount of memory.
MAX_IN_FLIGHT = 32
# Events queued for a subscriber that is not reading; past it the surplus is dropped and a `gap` event
# saying how many takes their place, so the subscriber knows it missed some.
EVENT_QUEUE = 256
# At shutdown, how long requests in flight have to send their "shutting down" reply.
CLOSE_REPLY_S = 1.0


class AlreadyRunning(AssistantError):
    code = "already_running"


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.subscribed = False
        self.slots = asyncio.Semaphore(MAX_IN_FLIGHT)
        self.tasks: set[asyncio.Task[None]] = set()
        self._write_lock = asyncio.Lock()
        self._events: asyncio.Queue[Event] = asyncio.Queue(EVENT_QUEUE)
        self._dropped = 0
        self._pump: asyncio.Task[None] | None = None

    async def send(self, message: Reply | ErrorReply | Event) -> None:
        async with self._write_lock:
            if self.writer.is_closing():
                raise ConnectionResetError("the client is gone")
            self.writer.write(encode(message))
            try:
                # The write buffer stays under the transport's high-water mark plus one message: a client
                # that does not read for WRITE_TIMEOUT_S is dropped rather than buffered for.
                await asyncio.wait_for(self.writer.drain(), WRITE_TIMEOUT_S)
            except asyncio.TimeoutError:
                log.warning("dropping a client that read no replies for %.0f s", WRITE_TIMEOUT_S)
                self.writer.transport.abort()
                raise

    def subscribe(self) -> None:
        if not self.subscribed:
            self.subscribed = True
            self._pump = asyncio.get_running_loop().create_task(self._pump_events())

    def push(self, event: Event) -> None:
        """Queue an event; a subscriber too slow to keep up loses events (marked by a gap), not the daemon
        its memory."""
        if not self.subscribed:
            return
        if self._dropped:
            if self._events.maxsize - self._events.qsize() < 2:
                self._dropped += 1
                return
            self._events.put_nowait(Event("gap", {"dropped": self._dropped}))
            self._dropped = 0
        if self._events.full():
            self._dropped += 1
            return
        self._events.put_nowait(event)

    async def _pump_events(self) -> None:
        # No write timeout here: the queue bounds what a paused subscriber costs, and it gets the stream
        # back (with a gap event where it lost some) when it reads again.
        with contextlib.suppress(ConnectionError, OSError, RuntimeError):
            while True:
                event = await self._events.get()
                async with self._write_lock:
                    if self.writer.is_closing():
                        return
                    self.writer.write(encode(event))
                    await self.writer.drain()

    def close(self) -> None:
        if self._pump is not None:
            self._pump.cancel()
        self.writer.close()


class ControlServer:
    def __init__(self, path: Path, handler: Handler, methods: Mapping[str, MethodSpec]) -> None:
        self.path = path
        self.handler = handler
        self.methods = methods  # what requests are decoded against: the methods the handler serves
        self.connections: set[Connection] = set()
        self._server: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        prepare_socket_dir(self.path)
        old_umask = os.umask(0o177)  # the socket is born 0600: no window where others could connect
        try:
            self._server = await asyncio.start_unix_server(self._serve, path=str(self.path), limit=MAX_MESSAGE_BYTES)
        finally:
            os.umask(old_umask)
        os.chmod(self.path, 0o600)

    async def close(self) -> None:
        if self._server is None:
            return  # never bound: the socket on disk (if any) belongs to another daemon
        self._server.close()
        # Requests in flight (an `ask` mid-turn) answer "shutting down" before their connection closes.
        pending = list(self._tasks)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=CLOSE_REPLY_S)
        for conn in list(self.connections):
            conn.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def broadcast(self, event: Event) -> None:
        for conn in list(self.connections):
            conn.push(event)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = Connection(reader, writer)
        self.connections.add(conn)
        try:
            async for line in _lines(reader):
                if line is None:
                    await conn.send(ErrorReply(None, "too_large", f"message over {MAX_MESSAGE_BYTES} bytes; send less"))
                    continue
                if not line.strip():
                    continue
                # Backpressure: with MAX_IN_FLIGHT requests unanswered, read no more until one is.
                await conn.slots.acquire()
                # Each request runs on its own, so a long `ask` never holds up a `status` on the same socket.
                task = asyncio.get_running_loop().create_task(self._answer(line, conn))
                self._tasks.add(task)
                conn.tasks.add(task)
                task.add_done_callback(self._tasks.discard)
                task.add_done_callback(conn.tasks.discard)
                task.add_done_callback(lambda _: conn.slots.release())
            # End of input, perhaps only a half-close (`nc -N`, socat): answer all that was asked first.
            if conn.tasks:
                await asyncio.wait(list(conn.tasks))
        except (ConnectionError, asyncio.TimeoutError, OSError):
            pass
        finally:
            self.connections.discard(conn)
            conn.close()

    async def _answer(self, line: bytes, conn: Connection) -> None:
        request_id = None
        try:
            request = decode_request(line, self.methods)
            request_id = request.id
            result = await self.handler(request, conn)
            reply: Reply | ErrorReply = Reply(request_id, result)
        except ProtocolError as exc:
            reply = ErrorReply(exc.request_id, exc.code, exc.message)
        except AssistantError as exc:
            reply = ErrorReply(request_id, exc.code, exc.message)
        except asyncio.CancelledError:
            reply = ErrorReply(
                request_id, "shutting_down", "the daemon is shutting down; ask again once it is back"
            )
        except Exception as exc:  # a bug in a handler is reported, not fatal
            log.exception("internal error answering %r", line[:200])
            reply = ErrorReply(request_id, "internal", f"internal error: {exc}".splitlines()[0])
        with contextlib.suppress(ConnectionError, asyncio.TimeoutError, OSError, RuntimeError):
            await conn.send(reply)


async def _lines(reader: asyncio.StreamReader) -> AsyncIterator[bytes | None]:
    """Yield complete lines; None for one that was too long (skipped up to its newline)."""
    buffer = b""
    skipping = False
    while True:
        chunk = await reader.read(65536)
        if not chunk:
            return  # a half-sent last message from a client that hung up is dropped
        buffer += chunk
        while True:
            newline = buffer.find(b"\n")
            if newline < 0:
                if len(buffer) > MAX_MESSAGE_BYTES:
                    if not skipping:
                        skipping = True
                        yield None
                    buffer = b""
                break
            line, buffer = buffer[:newline], buffer[newline + 1 :]
            if skipping:
                skipping = False
                continue
            yield None if len(line) > MAX_MESSAGE_BYTES else line


def prepare_socket_dir(path: Path) -> None:
    """Make the runtime dir 0700 (or refuse one that others could reach), and clear a stale socket or
    refuse if a daemon answers on it."""
    check_runtime_dir(path.parent, create=True)
    if not path.exists() and not path.is_symlink():
        return
    if not stat.S_ISSOCK(path.lstat().st_mode):
        raise AssistantError(f"{path} exists and is not a socket; remove it and start again")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        probe.connect(str(path))
    except OSError as exc:
        if exc.errno in (errno.ECONNREFUSED, errno.ENOENT):
            log.info("removing stale socket %s left by a daemon that is gone", path)
            path.unlink(missing_ok=True)
            return
        raise
    finally:
        probe.close()
    raise AlreadyRunning(f"assistant is already running (socket {path}); stop it first with `assistant shutdown`")
