"""`/v1/realtime`: OpenAI's Realtime API over a WebSocket, on the same server, key and limits as the HTTP API.

A session is one WebSocket. It is refused before the handshake completes (an HTTP answer in OpenAI's
error shape, as the HTTP endpoints give) when the key is wrong or `[api] max_sessions` are open. Then
each message is one event: realtime_events.py reads it, realtime_session.py acts on it. A bad event is
answered with an `error` event and the session lives on; a session with no message for
`[api] session_idle_s` is closed. Each ASR pass takes a request slot and the model's lease, as an
upload does, and gives both back when it ends, so desktop turns and other clients interleave with it.

Two kinds of session: a transcription session (`?intent=transcription`, or `session.update` with a
transcription session) only transcribes (realtime_session.py); a conversation session (`?model=…`,
a catalog LLM or OpenAI's name for the current one) also answers (realtime_conversation.py), with the
input side telling the conversation when speech starts and what was said.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging

from starlette.websockets import WebSocket, WebSocketDisconnect

from assistant.core.speech import Audio
from assistant.openai_api.common import Services, leased
from assistant.openai_api.errors import ApiError, resolve
from assistant.openai_api.realtime_config import SessionConfig
from assistant.openai_api.realtime_conversation import Conversation
from assistant.openai_api.realtime_events import Append, Clear, Commit, EventError, Update, error_event, read, server_event
from assistant.openai_api.realtime_reply import Reply, replier
from assistant.openai_api.realtime_session import Transcribe, TranscriptionSession
from assistant.openai_api.server import Counts, Socket
from assistant.turn.hearing import hear
from assistant.turn.utterance import End, Source, Utterance

log = logging.getLogger(__name__)

KEY_PROTOCOL = "openai-insecure-api-key."  # browsers cannot set headers: the key rides in a subprotocol


def _authorized(websocket: WebSocket, key: str | None) -> bool:
    if key is None:
        return True
    scheme, _, token = websocket.headers.get("authorization", "").partition(" ")
    offered = [p.strip() for p in websocket.headers.get("sec-websocket-protocol", "").split(",")]
    tokens = [token.strip()] if scheme.lower() == "bearer" else []
    tokens += [p[len(KEY_PROTOCOL):] for p in offered if p.startswith(KEY_PROTOCOL)]
    return any(hmac.compare_digest(t.encode(), key.encode()) for t in tokens)


def realtime_route(services: Services, key: str | None) -> Socket:
    """The WebSocket endpoint (a Starlette WebSocketRoute's function)."""
    settings, counts = services.settings, services.limits.counts

    async def transcribe(audio: Audio, config: SessionConfig) -> str:
        model = resolve(services.catalog, config.model, "asr", services.models().asr)

        async def run() -> str:
            utterance = Utterance.spoken(audio, Source.API, End.COMMIT)
            return (await hear(services.arbiter, utterance, model, config.prompt)).text

        text: str = await leased(services, run)  # a request slot, then the ASR's lease, for this pass only
        return text

    async def endpoint(websocket: WebSocket) -> None:
        counts.requests += 1
        counts.by_path[websocket.url.path] = counts.by_path.get(websocket.url.path, 0) + 1
        if not _authorized(websocket, key):
            counts.errors += 1
            await websocket.send_denial_response(ApiError(
                401, "a valid API key is needed: send Authorization: Bearer KEY", "authentication_error",
                "invalid_api_key").response())
            return
        if counts.sessions >= settings.max_sessions:
            counts.errors += 1
            counts.rejected += 1
            await websocket.send_denial_response(ApiError(
                429, f"{settings.max_sessions} realtime sessions are open, the most [api] max_sessions allows; "
                "close one, or retry in a moment", "rate_limit_exceeded", "session_limit",
                {"Retry-After": "5"}).response())
            return
        # ?intent=transcription opens a transcription session; otherwise a conversation with ?model=… (a
        # catalog LLM, or OpenAI's name for the current one: checked now, so a wrong name is refused at once).
        transcription = websocket.query_params.get("intent") == "transcription"
        llm = "" if transcription else websocket.query_params.get("model", "")
        try:
            resolve(services.catalog, llm, "llm", services.models().llm)
        except ApiError as exc:
            counts.errors += 1
            await websocket.send_denial_response(exc.response())
            return
        offered = [p.strip() for p in websocket.headers.get("sec-websocket-protocol", "").split(",") if p.strip()]
        await websocket.accept(subprotocol="realtime" if "realtime" in offered else None)
        counts.sessions += 1
        config = SessionConfig(intent="transcription" if transcription else "realtime", llm=llm)
        try:
            await _serve(websocket, config, transcribe, replier(services), counts, settings.session_idle_s,
                         settings.max_buffer_s)
        finally:
            counts.sessions -= 1

    return endpoint


async def _serve(
    websocket: WebSocket, config: SessionConfig, transcribe: Transcribe, reply: Reply, counts: Counts, idle_s: float,
    max_buffer_s: float,
) -> None:
    """One session, from the handshake to the client's leaving (or its idle timeout)."""
    sending = asyncio.Lock()

    async def send(message: str) -> None:
        async with sending:  # the receive loop and the session's passes both send: one message at a time
            with contextlib.suppress(WebSocketDisconnect, RuntimeError):
                await websocket.send_text(message)

    session = TranscriptionSession(config, transcribe, send, max_buffer_s)
    conversation = Conversation(reply, send, lambda: session.config, counts)
    session.listener = conversation
    await send(server_event("session.created", session=config.wire()))
    try:
        while True:
            try:
                async with asyncio.timeout(idle_s):
                    message = await websocket.receive()
            except TimeoutError:
                await send(error_event(f"no event for {idle_s:g} s; the session is closed", "session_idle_timeout"))
                await websocket.close(1000)
                return
            if message["type"] == "websocket.disconnect":
                return
            data = message.get("text")
            if data is None:
                data = message.get("bytes") or b""
            try:
                event = read(data, session.config)
            except EventError as exc:
                await send(error_event(exc.message, exc.code, exc.event_id))
                continue
            if isinstance(event, (Append, Commit, Clear, Update)):
                await session.take(event)
            else:
                await conversation.take(event)
    finally:
        await conversation.close()
        await session.close()

