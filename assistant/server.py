"""The control socket: a Unix-socket JSON-lines server that never lets one client hurt another."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import socket
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from .errors import AssistantError
from .protocol import MAX_MESSAGE_BYTES, ErrorReply, Event, ProtocolError, Reply, Request, decode_request, encode

log = logging.getLogger(__name__)

Handler = Callable[[Request, "Connection"], Awaitable[Any]]
WRITE_TIMEOUT_S = 10.0
EVENT_QUEUE = 256


class AlreadyRunning(AssistantError):
    code = "already_running"


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.subscribed = False
        self._write_lock = asyncio.Lock()
        self._events: asyncio.Queue[Event] = asyncio.Queue(EVENT_QUEUE)
        self._pump: asyncio.Task[None] | None = None

    async def send(self, message: Reply | ErrorReply | Event) -> None:
        async with self._write_lock:
            self.writer.write(encode(message))
            # A client that stops reading must not stall the daemon: give up on it after a while.
            await asyncio.wait_for(self.writer.drain(), WRITE_TIMEOUT_S)

    def subscribe(self) -> None:
        if not self.subscribed:
            self.subscribed = True
            self._pump = asyncio.get_running_loop().create_task(self._pump_events())

    def push(self, event: Event) -> None:
        if self.subscribed:
            try:
                self._events.put_nowait(event)
            except asyncio.QueueFull:
                pass  # a subscriber too slow to keep up loses events, not the daemon its time

    async def _pump_events(self) -> None:
        with contextlib.suppress(Exception):
            while True:
                await self.send(await self._events.get())

    def close(self) -> None:
        if self._pump is not None:
            self._pump.cancel()
        self.writer.close()


class ControlServer:
    def __init__(self, path: Path, handler: Handler) -> None:
        self.path = path
        self.handler = handler
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
        for conn in list(self.connections):
            conn.close()
        for task in list(self._tasks):
            task.cancel()
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
                # Each request runs on its own, so a long `ask` never holds up a `status` on the same socket.
                task = asyncio.get_running_loop().create_task(self._answer(line, conn))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        except (ConnectionError, asyncio.TimeoutError, OSError):
            pass
        finally:
            self.connections.discard(conn)
            conn.close()

    async def _answer(self, line: bytes, conn: Connection) -> None:
        request_id = None
        try:
            request = decode_request(line)
            request_id = request.id
            result = await self.handler(request, conn)
            reply: Reply | ErrorReply = Reply(request_id, result)
        except ProtocolError as exc:
            reply = ErrorReply(exc.request_id, exc.code, exc.message)
        except AssistantError as exc:
            reply = ErrorReply(request_id, exc.code, exc.message)
        except asyncio.CancelledError:
            reply = ErrorReply(request_id, "cancelled", "the daemon is shutting down")
        except Exception as exc:  # a bug in a handler is reported, not fatal
            log.exception("internal error answering %r", line[:200])
            reply = ErrorReply(request_id, "internal", f"internal error: {exc}".splitlines()[0])
        with contextlib.suppress(ConnectionError, asyncio.TimeoutError, OSError, RuntimeError):
            await conn.send(reply)


async def _lines(reader: asyncio.StreamReader) -> Any:
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
    """Make the runtime dir 0700, and clear a stale socket or refuse if a daemon answers on it."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path.parent, 0o700)
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
