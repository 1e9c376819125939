"""Errors in OpenAI's shape ({"error": {"message", "type", "param", "code"}}, with its HTTP statuses), and
what a model name in a request means here."""

from __future__ import annotations

import re

from starlette.responses import JSONResponse

from assistant.config.catalog import Catalog
from assistant.core.errors import AssistantError, VramError
from assistant.core.models import Kind

# OpenAI's model names, as clients send them: each means the current model of its kind.
ALIASES: dict[str, Kind] = {
    "whisper-1": "asr", "gpt-4o-transcribe": "asr", "gpt-4o-mini-transcribe": "asr",
    "tts-1": "tts", "tts-1-hd": "tts", "gpt-4o-mini-tts": "tts",
}
CHAT_PREFIXES = ("gpt-", "chatgpt-", "o1", "o3", "o4")
# A path in an engine's message (a model file, a script) is the server's business, not the client's.
_PATH = re.compile(r"(?:~|/)[^\s'\",;:()]*(?:/[^\s'\",;:()]*)+")


class ApiError(Exception):
    def __init__(self, status: int, message: str, kind: str = "invalid_request_error", code: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind
        self.code = code
        self.headers = headers or {}

    def body(self) -> dict[str, dict[str, str | None]]:
        # `param` names the request field at fault in OpenAI's errors; ours say it in the message.
        return {"error": {"message": self.message, "type": self.kind, "param": None, "code": self.code}}

    def response(self) -> JSONResponse:
        body = self.body()
        return JSONResponse(body, status_code=self.status, headers=self.headers)


def bad_request(message: str, code: str = "invalid_value") -> ApiError:
    return ApiError(400, message, code=code)


def from_assistant(exc: AssistantError) -> ApiError:
    """A daemon error as the client sees it: its one line (no paths), with the status that fits."""
    message = _PATH.sub("(a local file)", exc.message)
    if isinstance(exc, VramError):
        return ApiError(503, message, "server_error", exc.code, {"Retry-After": "5"})
    if exc.code in ("bad_request", "audio"):
        return ApiError(400, message, code=exc.code)
    unavailable = exc.code.startswith(("model", "oom", "worker")) or exc.code in ("remote", "shutting_down")
    return ApiError(503 if unavailable else 500, message, "server_error", exc.code)


def resolve(catalog: Catalog, name: str | None, kind: Kind, current: str) -> str:
    """The catalog id a request's `model` (or `voice`) names: ours, OpenAI's for that kind, or none (the current)."""
    if not name:
        return current
    if name in catalog.models:
        spec = catalog.get(name)
        if spec.kind != kind:
            raise bad_request(f"{name} is a {spec.kind} model; this endpoint needs a {kind} model", "model_not_found")
        return name
    if ALIASES.get(name) == kind or (kind == "llm" and name.startswith(CHAT_PREFIXES)):
        return current
    known = ", ".join(spec.id for spec in catalog.of_kind(kind))
    raise ApiError(404, f"the model {name!r} does not exist here; use one of {known} (GET /v1/models)",
                   code="model_not_found")


class EventError(Exception):
    """A Realtime client event this server cannot take: OpenAI's error code and one line that says what to send.
    The session answers it with an `error` event and lives on."""

    def __init__(self, message: str, code: str = "invalid_value", event_id: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.event_id = event_id
