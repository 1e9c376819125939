"""The endpoints: transcriptions, speech, chat completions (chat.py), models, voices, and the arbiter's state.

How a request takes its slot and its model's lease is common.py's.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from assistant.core.errors import AssistantError
from assistant.core.speech import Audio, Transcript
from assistant.hosts.proxies import Tts
from assistant.openai_api.assistant_model import ASSISTANT, DESCRIPTION
from assistant.openai_api.audio_work import encode
from assistant.openai_api.chat import chat_route
from assistant.openai_api.common import Services, leased, read_json, stream
from assistant.openai_api.errors import ApiError, bad_request, from_assistant, resolve
from assistant.openai_api.formats import (
    PCM_RATE,
    SpeechFormat,
    TranscriptFormat,
    chunk_bytes,
    transcript_body,
    wav_header,
)
from assistant.openai_api.server import Handler
from assistant.turn.hearing import hear, hear_segments
from assistant.turn.sentences import SentenceSplitter, speakable
from assistant.turn.utterance import End, Source, Utterance
from assistant.vram.snapshot import ModelState

__all__ = ["Services", "routes"]

MAX_UPLOAD = 25 * 1024 * 1024  # OpenAI's cap on an audio upload
MAX_INPUT_CHARS = 4096  # OpenAI's cap on the text of one speech request


def _choice(value: object, kind: type[Any], name: str) -> Any:
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise bad_request(f"{name} {value!r} is not one of {allowed}") from None


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
        fmt = _choice(fields.get("response_format") or "json", TranscriptFormat, "response_format")
        prompt = fields.get("prompt") or None
        streamed = fields.get("stream", "").lower() == "true"
        try:
            audio = await services.decoder.speech(data)  # in a thread: every other client is served meanwhile
        except AssistantError as exc:
            raise from_assistant(exc) from None

        async def run() -> Transcript:
            return await hear(arbiter, Utterance.spoken(audio, Source.API, End.COMMIT), model, prompt)

        if streamed:
            async def events() -> AsyncIterator[Any]:
                # Each segment as the ASR worker decodes it: a long file's first words go out before its last
                # 30 s window is read.
                utterance = Utterance.spoken(audio, Source.API, End.COMMIT)
                async with aclosing(hear_segments(arbiter, utterance, model, prompt)) as items:
                    async for item in items:
                        if isinstance(item, Transcript):
                            yield {"data": json.dumps({"type": "transcript.text.done", "text": item.text})}
                        elif item.text:
                            yield {"data": json.dumps({"type": "transcript.text.delta", "delta": item.text + " "})}

            return await stream(services, events(), sse=True)
        transcript = await leased(services, run)
        body, media = transcript_body(transcript, fmt)
        if isinstance(body, dict):
            return JSONResponse(body)
        return PlainTextResponse(body, media_type=media)

    async def speech(request: Request) -> Response:
        body = await read_json(request)
        text = body.get("input")
        if not isinstance(text, str) or not text.strip():
            raise bad_request("'input' must be the text to speak", "missing_input")
        if len(text) > MAX_INPUT_CHARS:
            raise bad_request(f"'input' is over {MAX_INPUT_CHARS} characters; split it into shorter requests")
        voice = str(body.get("voice") or "")
        model = resolve(services.catalog, voice if voice in services.catalog.models else str(body.get("model") or ""),
                        "tts", models().tts)
        fmt = _choice(body.get("response_format") or "mp3", SpeechFormat, "response_format")
        speed = body.get("speed", 1.0)
        if not isinstance(speed, (int, float)) or float(speed) != 1.0:
            raise bad_request(f"speed {speed!r} is not supported; this server speaks at speed 1.0", "unsupported_speed")
        sse = body.get("stream_format") == "sse"
        if sse and not fmt.streams:
            raise bad_request("stream_format 'sse' needs response_format 'pcm' or 'wav'")
        pieces = _pieces(text)
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

                return await stream(services, events(), sse=True)
            return await stream(services, raw(), sse=False, media_type=fmt.media_type,
                                 headers={"X-Sample-Rate": str(PCM_RATE)} if fmt is SpeechFormat.PCM else None)

        async def whole() -> bytes:
            parts: list[Audio] = []
            rate = 0
            async for samples, rate in chunks():
                parts.append(samples)
            return await encode(parts, rate or 22050, fmt)

        return Response(await leased(services, whole), media_type=fmt.media_type)

    async def list_models(request: Request) -> Response:
        snapshot = arbiter.snapshot()
        current = models()

        def resident(model_id: str) -> bool:
            return snapshot.row(model_id).state not in (ModelState.UNLOADED, ModelState.LOADING)

        data = [
            {"id": spec.id, "object": "model", "created": 0, "owned_by": "assistant", "kind": spec.kind,
             "resident": resident(spec.id), "current": getattr(current, spec.kind) == spec.id,
             "description": spec.description}
            for spec in services.catalog.models.values()
        ]
        if services.assistant is not None:
            # Not a model of the catalog: the desktop's turn over the current LLM (ready when that is).
            data.insert(0, {"id": ASSISTANT, "object": "model", "created": 0, "owned_by": "assistant", "kind": "llm",
                            "resident": resident(current.llm), "current": False, "description": DESCRIPTION})
        return JSONResponse({"object": "list", "data": data})

    async def voices(request: Request) -> Response:
        return JSONResponse({"voices": [
            {"voice_id": spec.id, "name": spec.description or spec.id, "model": spec.id}
            for spec in services.catalog.of_kind("tts")
        ]})

    async def ps(request: Request) -> Response:
        counts = services.limits.counts
        return JSONResponse({
            "models": [
                {"id": row.id, "kind": row.kind, "state": row.state.value, "device": row.device, "leases": row.leases,
                 "load_count": row.load_count, "measured_gb": row.measured_gb}
                for row in arbiter.snapshot().resident
            ],
            "requests": {"in_flight": counts.in_flight, "queued": counts.queued},
            "realtime_sessions": counts.sessions,
            # Realtime answers made ahead at a pause: sent, or dropped (the user spoke on)
            "answered_ahead": {"taken": counts.guesses_taken, "dropped": counts.guesses_dropped},
        })

    return [
        ("POST", "/v1/audio/transcriptions", transcriptions),
        ("POST", "/v1/audio/speech", speech),
        ("POST", "/v1/chat/completions", chat_route(services)),
        ("GET", "/v1/models", list_models),
        ("GET", "/v1/audio/voices", voices),
        ("GET", "/api/ps", ps),
    ]


def _pieces(text: str) -> list[str]:
    splitter = SentenceSplitter()
    return [p for p in (speakable(piece) for piece in [*splitter.feed(text), *splitter.flush()]) if p]
