"""What every endpoint shares: the services they use, the JSON body, and a request's slot and lease.

Each request leases its model from the arbiter the way a desktop turn does (`arbiter.use`), inside a
slot of the request limits, so API clients, the desktop and Home Assistant share the same resident
weights and a model is never loaded twice. A streamed reply holds its slot and its lease until the
stream ends or the client goes away (Starlette then closes the body's generator, which leaves both).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

from sse_starlette import EventSourceResponse
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from assistant.config.api import ApiSettings
from assistant.config.catalog import Catalog
from assistant.core.errors import AssistantError
from assistant.openai_api.assistant_model import AssistantModel
from assistant.openai_api.audio_work import Decoder
from assistant.openai_api.errors import ApiError, bad_request, from_assistant
from assistant.openai_api.server import Limits
from assistant.turn.results import Models
from assistant.vram.arbiter import Arbiter

MAX_BODY = 4 * 1024 * 1024  # a JSON request (chat messages and tools)


@dataclass
class Services:
    arbiter: Arbiter
    models: Callable[[], Models]  # the current model of each kind (`llm use` changes it)
    settings: ApiSettings
    limits: Limits
    decoder: Decoder  # uploads decoded in threads: the loop serves every other client meanwhile
    assistant: AssistantModel | None = None  # `model = "assistant"`; None serves the raw models only

    @property
    def catalog(self) -> Catalog:
        return self.arbiter.catalog


async def read_json(request: Request) -> dict[str, Any]:
    length = int(request.headers.get("content-length") or 0)
    if length > MAX_BODY:
        raise ApiError(413, f"the request body is over {MAX_BODY // (1024 * 1024)} MB", code="request_too_large")
    try:
        body = json.loads(await request.body())
    except ValueError:
        raise bad_request("the body is not JSON; send a JSON object", "invalid_json") from None
    if not isinstance(body, dict):
        raise bad_request("the body must be a JSON object", "invalid_json")
    return body


async def leased(services: Services, work: Callable[[], Any]) -> Any:
    """Run `work` (a coroutine function) in a request slot; daemon errors become OpenAI's."""
    slot = await services.limits.slot()
    try:
        return await work()
    except AssistantError as exc:
        raise from_assistant(exc) from None
    finally:
        slot.release()


_DONE = object()


async def stream(services: Services, body: AsyncIterator[Any], sse: bool, media_type: str = "",
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
                await items.put({"data": json.dumps(error.body())})
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
