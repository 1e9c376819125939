"""The OpenAI-compatible API (HTTP, and the Realtime API's WebSocket) over the daemon's resident models (off unless [api] listen is set)."""

from __future__ import annotations

from collections.abc import Callable

from assistant.config.api import ApiSettings, parse_api_listen
from assistant.openai_api.assistant_model import AssistantModel
from assistant.openai_api.audio_work import Decoder
from assistant.openai_api.realtime import realtime_route
from assistant.openai_api.routes import Services, routes
from assistant.openai_api.server import ApiServer, Counts, Limits
from assistant.turn.pipeline import Pipeline
from assistant.turn.results import Models
from assistant.vram.arbiter import Arbiter


async def start_api(
    settings: ApiSettings, arbiter: Arbiter, models: Callable[[], Models], pipeline: Pipeline | None = None
) -> ApiServer:
    """Serve the API; `pipeline` (one with a conversation of its own) answers `model = "assistant"`."""
    counts = Counts()
    limits = Limits(settings.max_concurrent, settings.max_queue, counts)
    assistant = AssistantModel(pipeline, models) if pipeline is not None else None
    services = Services(arbiter, models, settings, limits, Decoder(counts), assistant)
    sockets = [("/v1/realtime", lambda key: realtime_route(services, key))]
    server = ApiServer(parse_api_listen(settings.listen), settings, routes(services), counts, sockets)
    await server.start()
    return server
