"""The OpenAI-compatible HTTP API over the daemon's resident models (off unless [api] listen is set)."""

from __future__ import annotations

from collections.abc import Callable

from assistant.config.api import ApiSettings, parse_api_listen
from assistant.openai_api.audio_work import Decoder
from assistant.openai_api.routes import Services, routes
from assistant.openai_api.server import ApiServer, Counts, Limits
from assistant.turn.results import Models
from assistant.vram.arbiter import Arbiter


async def start_api(settings: ApiSettings, arbiter: Arbiter, models: Callable[[], Models]) -> ApiServer:
    counts = Counts()
    services = Services(arbiter, models, settings, Limits(settings.max_concurrent, settings.max_queue, counts), Decoder(counts))
    server = ApiServer(parse_api_listen(settings.listen), settings, routes(services), counts)
    await server.start()
    return server
