"""The CLI's client of the control socket: one request, one reply (or a stream of events)."""

from __future__ import annotations

import itertools
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from assistant.api.protocol import ErrorReply, Event, Reply, Request, decode_response, encode
from assistant.core.errors import AssistantError
from assistant.core.paths import check_runtime_dir

NOT_RUNNING = "assistant is not running; start it with `assistant run` or `systemctl --user start assistant`"


class NotRunning(AssistantError):
    code = "not_running"


class Client:
    def __init__(self, path: Path, timeout: float | None = 600.0) -> None:
        self.path = path
        self.timeout = timeout
        self._ids = itertools.count(1)
        self._sock: socket.socket | None = None
        self._buffer = b""

    def __enter__(self) -> Client:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def connect(self) -> None:
        # Before a word is sent: a socket in a directory another user controls may be theirs, not ours.
        check_runtime_dir(self.path.parent)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(str(self.path))
        except (FileNotFoundError, ConnectionRefusedError):
            sock.close()
            raise NotRunning(NOT_RUNNING) from None
        except PermissionError:
            sock.close()
            raise AssistantError(f"no permission to open {self.path}; is the daemon run by another user?") from None
        self._sock = sock

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _read_message(self) -> Reply | ErrorReply | Event:
        assert self._sock is not None
        while b"\n" not in self._buffer:
            try:
                chunk = self._sock.recv(65536)
            except socket.timeout:
                raise AssistantError("the daemon did not answer in time") from None
            if not chunk:
                raise NotRunning("the daemon closed the connection (it may be shutting down)")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return decode_response(line)

    def call(self, method: str, **params: Any) -> Any:
        """Send one request; return its result or raise its error as an AssistantError."""
        if self._sock is None:
            self.connect()
        assert self._sock is not None
        request_id = next(self._ids)
        self._sock.sendall(encode(Request(request_id, method, params)))
        while True:
            message = self._read_message()
            if isinstance(message, Event):
                continue
            # An error with id null is about a message the daemon could not read (too large, not UTF-8):
            # on this one-request-at-a-time connection that is ours, and no other reply will come.
            if message.id != request_id and not (isinstance(message, ErrorReply) and message.id is None):
                continue
            if isinstance(message, ErrorReply):
                raise AssistantError(message.message, code=message.code)
            return message.result

    def events(self, subscribed: bool = False) -> Iterator[Event]:
        """The daemon's events as they come; `subscribed` when call("subscribe") was already made."""
        if not subscribed:
            self.call("subscribe")
        while True:
            message = self._read_message()
            if isinstance(message, Event):
                yield message


def call(path: Path, method: str, timeout: float | None = 600.0, **params: Any) -> Any:
    with Client(path, timeout) as client:
        return client.call(method, **params)
