"""The endpoints: transcriptions, speech, chat completions, models, voices, and the arbiter's state.

Each request leases its model from the arbiter the way a desktop turn does (`arbiter.use`), inside a
slot of the request limits, so API clients, the desktop and Home Assistant share the same resident
weights and a model is never loaded twice. A streamed reply holds its slot and its lease until the
stream ends or the client goes away (Starlette then closes the body's generator, which leaves both).
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

from sse_starlette import EventSourceResponse
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse

from assistant.config.api import ApiSettings
from assistant.config.catalog import Catalog
from assistant.core.chat import TextDelta, ToolCall
from assistant.core.errors import AssistantError
from assistant.core.speech import Audio
from assistant.hosts.proxies import Asr, Llm, Tts
from assistant.openai_api import bodies
from assistant.openai_api.audio_work import Decoder, encode
from assistant.openai_api.bodies import choice, json_body
from assistant.openai_api.errors import ApiError, bad_request, from_assistant, resolve
from assistant.openai_api.formats import PCM_RATE, SpeechFormat, TranscriptFormat, chunk_bytes, transcript_body, wav_header
from assistant.openai_api.server import Handler, Limits
from assistant.turn.results import Models
from assistant.vram.arbiter import Arbiter

MAX_UPLOAD = 25 * 1024 * 1024  # OpenAI's cap on an audio upload
MAX_INPUT_CHARS = 4096  # OpenAI's cap on the text of one speech request


@dataclass
class Services:
    arbiter: Arbiter
    models: Callable[[], Models]  # the current model of each kind (`llm use` changes it)
    settings: ApiSettings
    limits: Limits
    decoder: Decoder  # uploads decoded in threads: the loop serves every other client meanwhile

    @property
    def catalog(self) -> Catalog:
        return self.arbiter.catalog


async def _leased(services: Services, work: Callable[[], Any]) -> Any:
    """Run `work` (a coroutine function) in a request slot; daemon errors become OpenAI's."""
    slot = await services.limits.slot()
    try:
        return await work()
    except AssistantError as exc:
        raise from_assistant(exc) from None
    finally:
        slot.release()


_DONE = object()


async def _stream(services: Services, body: AsyncIterator[Any], sse: bool, media_type: str = "",
                  headers: dict[str, str] | None = None) -> Response:
    """A streamed reply, its slot taken before the 200 goes out (a full queue is still a 429).

    The model's stream runs in a task of its own (which gives the slot back when it ends), and the
    response reads it through a small queue.
    A client that leaves has Starlette cancel the response inside an anyio cancel scope, which
    cancels every await again until the scope is left: the worker's clean-up (tell it to stop, wait
    for its word) would be cut short there and the worker killed. Cancelled once, as a task, the
    stream stops the way a barge-in stops a turn, and gives back its lease and then its slot.
    """
    slot = await services.limits.slot()
    items: asyncio.Queue[Any] = asyncio.Queue(maxsize=8)  # a slow reader holds the model back, not memory

    async def produce() -> None:
        try:
            async with asyncio.timeout(services.settings.request_timeout_s), aclosing(body) as source:  # type: ignore[type-var]
                async for item in source:
                    await items.put(item)
        except AssistantError as exc:
            error = from_assistant(exc)
            if sse:  # an audio stream has no place for a message: it just ends
                await items.put({"data": json.dumps({"error": {"message": error.message, "type": error.kind,
                                                               "code": error.code}})})
        except TimeoutError:
            pass  # over request_timeout_s: the stream ends there
        finally:
            slot.release()
            if not items.full():  # a full queue: the reader stops once it has drained it
                items.put_nowait(_DONE)

    producer = asyncio.get_running_loop().create_task(produce())
    _producers.add(producer)
    producer.add_done_callback(_producers.discard)

    async def relay() -> AsyncIterator[Any]:
        try:
            while not (producer.done() and items.empty()):
                item = await items.get()
                if item is _DONE:
                    return
                yield item
        finally:
            if not producer.done():
                producer.cancel()

    if sse:
        return EventSourceResponse(relay())
    return StreamingResponse(relay(), media_type=media_type, headers=headers)


_producers: set[asyncio.Task[None]] = set()  # held until done: a stream whose client left still cleans up


def routes(services: Services) -> list[tuple[str, str, Handler]]:
    arbiter, models = services.arbiter, services.models

    async def transcriptions(request: Request) -> Response:
        length = int(request.headers.get("content-length") or 0)
        if length > MAX_UPLOAD + 64 * 1024:
            raise ApiError(413, "the file is over 25 MB; send a shorter recording", code="file_too_large")
        try:
            # A file over 1 MB is spooled to a private temporary file: closed, and so removed, on leaving.
            async with request.form(max_files=1, max_fields=16) as form:
                upload = form.get("file")
                data = await upload.read() if isinstance(upload, UploadFile) else None
                fields = {key: str(value) for key, value in form.items() if not isinstance(value, UploadFile)}
        except Exception:  # python-multipart's own errors, for a body that is no form
            raise bad_request("send the audio as multipart/form-data with a 'file' field", "invalid_form") from None
        if data is None:
            raise bad_request("send the audio as multipart/form-data with a 'file' field", "missing_file")
        if len(data) > MAX_UPLOAD:
            raise ApiError(413, "the file is over 25 MB; send a shorter recording", code="file_too_large")
        model = resolve(services.catalog, fields.get("model", ""), "asr", models().asr)
        fmt = choice(fields.get("response_format") or "json", TranscriptFormat, "response_format")
        prompt = fields.get("prompt") or None
        stream = fields.get("stream", "").lower() == "true"
        try:
            audio = await services.decoder.speech(data)
        except AssistantError as exc:
            raise from_assistant(exc) from None

        async def run() -> Any:
            async with arbiter.use(model) as host:
                return await Asr(host).transcribe(audio, prompt)

        if stream:
            async def events() -> AsyncIterator[Any]:
                transcript = await run()
                for segment in transcript.segments:
                    if segment.text:
                        yield {"data": json.dumps({"type": "transcript.text.delta", "delta": segment.text + " "})}
                yield {"data": json.dumps({"type": "transcript.text.done", "text": transcript.text})}

            return await _stream(services, events(), sse=True)
        transcript = await _leased(services, run)
        body, media = transcript_body(transcript, fmt)
        if isinstance(body, dict):
            return JSONResponse(body)
        return PlainTextResponse(body, media_type=media)

    async def speech(request: Request) -> Response:
        body = await json_body(request)
        text = body.get("input")
        if not isinstance(text, str) or not text.strip():
            raise bad_request("'input' must be the text to speak", "missing_input")
        if len(text) > MAX_INPUT_CHARS:
            raise bad_request(f"'input' is over {MAX_INPUT_CHARS} characters; split it into shorter requests")
        voice = str(body.get("voice") or "")
        model = resolve(services.catalog, voice if voice in services.catalog.models else str(body.get("model") or ""),
                        "tts", models().tts)
        fmt = choice(body.get("response_format") or "mp3", SpeechFormat, "response_format")
        speed = body.get("speed", 1.0)
        if not isinstance(speed, (int, float)) or float(speed) != 1.0:
            raise bad_request(f"speed {speed!r} is not supported; this server speaks at speed 1.0", "unsupported_speed")
        sse = body.get("stream_format") == "sse"
        if sse and not fmt.streams:
            raise bad_request("stream_format 'sse' needs response_format 'pcm' or 'wav'")
        pieces = bodies.pieces(text)
        if not pieces:
            raise bad_request("'input' has nothing to speak (only symbols or markup)", "missing_input")

        async def chunks() -> AsyncIterator[tuple[Audio, int]]:
            # Sentence by sentence, as a turn speaks: the first audio goes out before the last is made.
            async with arbiter.use(model) as host:
                voice = Tts(host)
                for piece in pieces:
                    async with aclosing(voice.synthesize(piece)) as audio:
                        async for chunk in audio:
                            yield chunk.samples, chunk.sample_rate
        if fmt.streams:
            async def raw() -> AsyncIterator[bytes]:
                first = True
                async for samples, rate in chunks():
                    if first and fmt is SpeechFormat.WAV:
                        yield wav_header(rate)
                    first = False
                    yield chunk_bytes(samples, rate, fmt)

            if sse:
                async def events() -> AsyncIterator[Any]:
                    async for piece in raw():
                        yield {"data": json.dumps({"type": "speech.audio.delta",
                                                   "audio": base64.b64encode(piece).decode()})}
                    yield {"data": json.dumps({"type": "speech.audio.done"})}

                return await _stream(services, events(), sse=True)
            return await _stream(services, raw(), sse=False, media_type=fmt.media_type,
                                 headers={"X-Sample-Rate": str(PCM_RATE)} if fmt is SpeechFormat.PCM else None)

        async def whole() -> bytes:
            parts: list[Audio] = []
            rate = 0
            async for samples, rate in chunks():
                parts.append(samples)
            return await encode(parts, rate or 22050, fmt)

        return Response(await _leased(services, whole), media_type=fmt.media_type)

    async def chat(request: Request) -> Response:
        body = await json_body(request)
        model = resolve(services.catalog, str(body.get("model") or ""), "llm", models().llm)
        messages = bodies.messages(body.get("messages"))
        tools = bodies.tools(body.get("tools"))
        max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
        if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens < 1):
            raise bad_request("max_tokens must be a positive whole number")
        created, reply_id = int(time.time()), f"chatcmpl-{uuid.uuid4().hex[:24]}"

        async def events() -> AsyncIterator[TextDelta | ToolCall]:
            async with arbiter.use(model) as host, aclosing(Llm(host).chat(messages, max_tokens, tools)) as stream:
                async for event in stream:
                    yield event

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {"id": reply_id, "object": "chat.completion.chunk", "created": created, "model": model,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

        if body.get("stream"):
            async def sse() -> AsyncIterator[Any]:
                yield {"data": json.dumps(chunk({"role": "assistant", "content": ""}))}
                calls = 0
                async for event in events():
                    if isinstance(event, TextDelta):
                        yield {"data": json.dumps(chunk({"content": event.text}))}
                    else:
                        yield {"data": json.dumps(chunk({"tool_calls": [bodies.tool_call(event, calls)]}))}
                        calls += 1
                yield {"data": json.dumps(chunk({}, "tool_calls" if calls else "stop"))}
                yield {"data": "[DONE]"}

            return await _stream(services, sse(), sse=True)

        async def collect() -> tuple[str, list[ToolCall]]:
            text, calls = "", []
            async for event in events():
                if isinstance(event, TextDelta):
                    text += event.text
                else:
                    calls.append(event)
            return text, calls

        text, calls = await _leased(services, collect)
        message: dict[str, Any] = {"role": "assistant", "content": text or None}
        if calls:
            message["tool_calls"] = [bodies.tool_call(call, i) for i, call in enumerate(calls)]
        return JSONResponse({
            "id": reply_id, "object": "chat.completion", "created": created, "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if calls else "stop"}],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
        })

    async def list_models(request: Request) -> Response:
        states = {row["id"]: row for row in arbiter.snapshot()["models"]}
        current = models()
        return JSONResponse({"object": "list", "data": [
            {"id": spec.id, "object": "model", "created": 0, "owned_by": "assistant", "kind": spec.kind,
             "resident": states[spec.id]["state"] not in ("unloaded", "loading"),
             "current": getattr(current, spec.kind) == spec.id, "description": spec.description}
            for spec in services.catalog.models.values()
        ]})

    async def voices(request: Request) -> Response:
        return JSONResponse({"voices": [
            {"voice_id": spec.id, "name": spec.description or spec.id, "model": spec.id}
            for spec in services.catalog.of_kind("tts")
        ]})

    async def ps(request: Request) -> Response:
        counts = services.limits.counts
        return JSONResponse({
            "models": [
                {key: row[key] for key in ("id", "kind", "state", "device", "leases", "load_count", "measured_gb")}
                for row in arbiter.snapshot()["models"] if row["state"] != "unloaded"
            ],
            "requests": {"in_flight": counts.in_flight, "queued": counts.queued},
        })

    return [
        ("POST", "/v1/audio/transcriptions", transcriptions),
        ("POST", "/v1/audio/speech", speech),
        ("POST", "/v1/chat/completions", chat),
        ("GET", "/v1/models", list_models),
        ("GET", "/v1/audio/voices", voices),
        ("GET", "/api/ps", ps),
    ]
