"""A Realtime response as it is made: its output items, the sentences spoken and where their audio lies,
and its wire form (the SDK's `RealtimeResponse`)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Literal, TypedDict

from openai.types.realtime import RealtimeResponse, RealtimeResponseStatus, RealtimeResponseUsage, realtime_response
from openai.types.realtime.realtime_audio_formats import AudioPCM

from assistant.openai_api.realtime_config import SessionConfig
from assistant.openai_api.realtime_items import AssistantMessage, Item

Status = Literal["completed", "cancelled", "failed", "incomplete", "in_progress"]


class Where(TypedDict):
    """Where a response's event belongs: OpenAI's three fields on each of them."""

    response_id: str
    item_id: str
    output_index: int


@dataclass
class Spoken:
    """A sentence of the reply and where its audio lies in the item's audio."""

    text: str
    start_ms: float
    end_ms: float | None = None  # None: its audio has not gone out yet


@dataclass
class Response:
    id: str
    config: SessionConfig
    task: asyncio.Task[None] | None = None
    output: list[Item] = field(default_factory=list)
    message: AssistantMessage | None = None  # the message item being written
    spoken: list[Spoken] = field(default_factory=list)
    audio_ms: float = 0.0
    first_audio_at: float | None = None
    usage: RealtimeResponseUsage | None = None

    def heard_ms(self, ago_s: float = 0.0) -> float:
        """The audio the client has played by now (less `ago_s`), at real-time pace from the first delta."""
        if self.first_audio_at is None:
            return 0.0
        return max(0.0, min(self.audio_ms, (time.monotonic() - ago_s - self.first_audio_at) * 1000))

    def wire(self, status: Status, details: RealtimeResponseStatus | None = None) -> RealtimeResponse:
        return RealtimeResponse(
            id=self.id, object="realtime.response", status=status, status_details=details,
            output=[item.wire() for item in self.output], output_modalities=[self.config.modality.value],
            conversation_id="conv_default", max_output_tokens=self.config.max_output_tokens or "inf",
            audio=realtime_response.Audio(output=realtime_response.AudioOutput(
                format=AudioPCM(type="audio/pcm", rate=24_000), voice=self.config.voice or "alloy")),
            usage=self.usage)
