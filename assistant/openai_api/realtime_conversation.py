"""A Realtime conversation: its items, and its responses, one at a time.

A response starts when turn detection commits an utterance (`create_response`) or when the client sends
`response.create`. An utterance committed while a reply is still being made (with `interrupt_response`
off, so its speech did not stop it) replaces that reply: the user has said something newer. It waits for the transcripts of the utterances before it (they run in the input
side's order), then reads every item after the session's instructions, and streams the reply
(realtime_reply.py) as OpenAI's events: the message item, its content part, the transcript and audio
deltas sentence by sentence (or text deltas), a function-call item per call, and `response.done`.

Barge-in: speech that starts during a response cancels it (`interrupt_response`), and the assistant's
item is cut to what the user heard. A WebSocket client plays what it receives as it comes, so what it
heard is estimated as the audio sent, up to the time since the first audio went out, less the speech
the detector needed to hear before it said so. A client that knows better sends
`conversation.item.truncate` with its own `audio_end_ms`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Literal, TypedDict

from openai.types.realtime import RealtimeResponse, RealtimeResponseStatus, RealtimeResponseUsage
from openai.types.realtime import realtime_response, realtime_response_status
from openai.types.realtime.realtime_audio_formats import AudioPCM
from openai.types.realtime.response_content_part_done_event import Part

from assistant.core.chat import Message
from assistant.core.errors import AssistantError
from assistant.openai_api.errors import ApiError, from_assistant
from assistant.openai_api.realtime_config import Modality, ResponseOptions, SessionConfig
from assistant.openai_api.realtime_events import (
    ClientEvent,
    ItemCreate,
    ItemDelete,
    ItemTruncate,
    ResponseCancel,
    ResponseCreate,
    error_event,
    new_id,
    server_event,
)
from assistant.openai_api.realtime_items import AssistantMessage, FunctionCall, FunctionOutput, Item, UserMessage
from assistant.openai_api.realtime_reply import Call, Reply, Sound, Used, Words
from assistant.turn.history import estimate_tokens

log = logging.getLogger(__name__)

BYTES_PER_MS = 48  # 24 kHz, 16-bit
# What the LLM reads of the conversation, as the desktop's default history_tokens: with the instructions
# and the reply it fits the embedded LLM's 2048-token context.
HISTORY_TOKENS = 1024
TRANSCRIPTION_ONLY = ("a transcription session makes no responses; connect with ?model=… (or send session.update "
                      "with type 'realtime') for a conversation")

Send = Callable[[str], Awaitable[None]]
Status = Literal["completed", "cancelled", "failed", "incomplete", "in_progress"]
Reason = Literal["turn_detected", "client_cancelled"]


class _Where(TypedDict):
    """Where a response's event belongs: OpenAI's three fields on each of them."""

    response_id: str
    item_id: str
    output_index: int


@dataclass
class _Spoken:
    """A sentence of the reply and where its audio lies in the item's audio."""

    text: str
    start_ms: float
    end_ms: float | None = None  # None: its audio has not gone out yet


@dataclass
class _Response:
    id: str
    config: SessionConfig
    task: asyncio.Task[None] | None = None
    output: list[Item] = field(default_factory=list)
    message: AssistantMessage | None = None  # the message item being written
    spoken: list[_Spoken] = field(default_factory=list)
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


class Conversation:
    def __init__(self, reply: Reply, send: Send, config: Callable[[], SessionConfig]) -> None:
        """`reply` makes a response's parts; `send` writes a server event; `config` is the session's, now."""
        self._reply = reply
        self._send = send
        self._config = config
        self.items: list[Item] = []
        self._active: _Response | None = None
        self._last_audio: _Response | None = None  # the last response that spoke: a barge-in may cut it
        self._heard = asyncio.Condition()  # a spoken item's transcript arrived (or failed)
        self._first: str | None = None  # the oldest item the LLM reads (HISTORY_TOKENS)

    # ------------------------------------------------------------------ the input side's news

    def spoken(self, item_id: str) -> None:
        """An utterance was committed: its item waits for its transcript."""
        self.items.append(UserMessage(item_id, None, spoken=True))

    async def transcribed(self, item_id: str, text: str | None) -> None:
        async with self._heard:
            for item in self.items:
                if isinstance(item, UserMessage) and item.id == item_id:
                    item.text = text or ""  # "" when it failed: the response goes on without it
            self._heard.notify_all()

    async def committed_by_detection(self) -> None:
        config = self._config()
        if config.intent == "realtime" and config.create_response:
            if self._active is not None:
                await self._finish(self._active, "cancelled", "turn_detected")  # the user spoke on: answer that
            self._start(ResponseOptions())

    async def speech_started(self, ago_s: float) -> None:
        """The user began to speak `ago_s` ago: a barge-in when a reply is being made or still playing."""
        config = self._config()
        if config.intent != "realtime" or not config.interrupt_response:
            return
        active = self._active
        if active is not None:
            await self._finish(active, "cancelled", "turn_detected", ago_s)
        elif self._last_audio is not None:
            last = self._last_audio
            heard = last.heard_ms(ago_s)
            if heard < last.audio_ms and last.message is not None:
                await self._truncate(last, last.message, heard)
            self._last_audio = None

    # ------------------------------------------------------------------ the client's events

    async def take(self, event: ClientEvent) -> None:
        if self._config().intent != "realtime":
            await self._send(error_event(TRANSCRIPTION_ONLY, "unsupported_event", getattr(event, "event_id", None)))
            return
        if isinstance(event, ResponseCreate):
            if self._active is not None:
                await self._send(error_event(
                    f"response {self._active.id} is in progress; cancel it (response.cancel) or wait for response.done",
                    "conversation_already_has_active_response", event.event_id))
                return
            self._start(event.options)
        elif isinstance(event, ResponseCancel):
            active = self._active
            if active is None or (event.response_id and event.response_id != active.id):
                await self._send(error_event("there is no response in progress to cancel", "response_cancel_not_active",
                                             event.event_id))
                return
            await self._finish(active, "cancelled", "client_cancelled")
        elif isinstance(event, ItemCreate):
            await self._add(event)
        elif isinstance(event, ItemTruncate):
            await self._client_truncate(event)
        elif isinstance(event, ItemDelete):
            found = [item for item in self.items if item.id == event.item_id]
            if not found:
                await self._send(error_event(f"there is no item {event.item_id!r}", "item_not_found", event.event_id))
                return
            self.items.remove(found[0])
            await self._send(server_event("conversation.item.deleted", item_id=event.item_id))

    async def close(self) -> None:
        """The client left: the response stops (giving back its leases), and nothing more is sent."""
        active, self._active = self._active, None
        if active is not None and active.task is not None:
            active.task.cancel()
            await asyncio.gather(active.task, return_exceptions=True)

    async def _add(self, event: ItemCreate) -> None:
        ids = [item.id for item in self.items]
        if event.previous_item_id is not None and event.previous_item_id not in ids:
            await self._send(error_event(f"there is no item {event.previous_item_id!r} to add after", "item_not_found",
                                         event.event_id))
            return
        at = ids.index(event.previous_item_id) + 1 if event.previous_item_id else len(self.items)
        previous = self.items[at - 1].id if at else None
        self.items.insert(at, event.item)
        await self._send(server_event("conversation.item.added", previous_item_id=previous, item=event.item.wire()))
        await self._send(server_event("conversation.item.done", previous_item_id=previous, item=event.item.wire()))

    async def _client_truncate(self, event: ItemTruncate) -> None:
        for response in (self._active, self._last_audio):
            if response is not None and response.message is not None and response.message.id == event.item_id:
                if event.audio_end_ms > response.audio_ms:
                    await self._send(error_event(f"audio_end_ms {event.audio_end_ms} is past the item's "
                                                 f"{response.audio_ms:.0f} ms of audio", "invalid_value", event.event_id))
                    return
                await self._truncate(response, response.message, event.audio_end_ms)
                return
        await self._send(error_event(f"{event.item_id!r} is not an assistant item with audio that can be truncated",
                                     "item_not_found", event.event_id))

    async def _truncate(self, response: _Response, message: AssistantMessage, heard_ms: float) -> None:
        """The item keeps the words the user heard: whole sentences, and the share of the one cut through."""
        words: list[str] = []
        for sentence in response.spoken:
            if sentence.end_ms is None:
                break
            if sentence.end_ms <= heard_ms:
                words += sentence.text.split()
            elif sentence.start_ms < heard_ms:
                share = (heard_ms - sentence.start_ms) / max(1.0, sentence.end_ms - sentence.start_ms)
                words += sentence.text.split()[: int(len(sentence.text.split()) * share)]
        message.text = " ".join(words)
        message.status = "incomplete"
        await self._send(server_event("conversation.item.truncated", item_id=message.id, content_index=0,
                                      audio_end_ms=round(heard_ms)))

    # ------------------------------------------------------------------ a response

    def _start(self, options: ResponseOptions) -> None:
        response = _Response(new_id("resp"), options.over(self._config()))
        self._active = response
        response.task = asyncio.get_running_loop().create_task(self._run(response))

    async def _run(self, response: _Response) -> None:
        await self._send(server_event("response.created", response=response.wire("in_progress")))
        try:
            async with self._heard:  # the transcripts of what the user said before this response
                await self._heard.wait_for(lambda: all(
                    not isinstance(item, UserMessage) or item.text is not None for item in self.items))
            async with aclosing(self._reply(response.config, self._messages(response.config))) as parts:
                async for part in parts:
                    if isinstance(part, Words):
                        await self._words(response, part.text)
                    elif isinstance(part, Sound):
                        await self._sound(response, part.pcm)
                    elif isinstance(part, Call):
                        await self._call(response, FunctionCall.of(part.call))
                    elif isinstance(part, Used):
                        usage = part.usage
                        response.usage = RealtimeResponseUsage(
                            input_tokens=usage.prompt_tokens, output_tokens=usage.completion_tokens,
                            total_tokens=usage.prompt_tokens + usage.completion_tokens)
        except (AssistantError, ApiError) as exc:
            error = from_assistant(exc) if isinstance(exc, AssistantError) else exc
            log.info("a realtime response failed: %s", error.message)
            self._active = None
            await self._close_message(response, "incomplete")
            await self._send(error_event(error.message, error.code or "server_error", kind="server_error"))
            await self._send(server_event("response.done", response=response.wire("failed", RealtimeResponseStatus(
                type="failed", error=realtime_response_status.Error(type="server_error",
                                                                    code=error.code or "server_error")))))
            return
        self._active = None
        await self._close_message(response, "completed")
        await self._send(server_event("response.done", response=response.wire("completed")))

    def _messages(self, config: SessionConfig) -> list[Message]:
        """The instructions, then the items that fit HISTORY_TOKENS, oldest first.

        As the desktop's history does (turn/history.py), once the items outgrow the budget the oldest go
        in one step, down to half of it, and the view then starts at the same item for several turns, so
        the LLM's KV cache is reused rather than the whole conversation read again each turn. The items
        themselves stay (a client may still truncate or delete them); only what the LLM reads is cut.
        """
        start = next((i for i, item in enumerate(self.items) if item.id == self._first), 0)
        sizes = [sum(estimate_tokens(m["content"] + json.dumps(m.get("tool_calls", ""))) for m in item.messages())
                 for item in self.items]
        if sum(sizes[start:]) > HISTORY_TOKENS:
            kept, start = 0, len(self.items)
            while start > 0 and kept + sizes[start - 1] <= HISTORY_TOKENS // 2:
                start -= 1
                kept += sizes[start]
            start = min(start, len(self.items) - 1)  # the newest item always, however long
        while start < len(self.items) - 1 and isinstance(self.items[start], (AssistantMessage, FunctionOutput)):
            start += 1  # never begin with a reply or an output whose question or call was cut
        self._first = self.items[start].id if self.items else None
        messages: list[Message] = [{"role": "system", "content": config.instructions}] if config.instructions else []
        for item in self.items[start:]:
            messages += item.messages()
        return messages

    def _where(self, response: _Response, item: Item) -> _Where:
        return {"response_id": response.id, "item_id": item.id, "output_index": response.output.index(item)}

    async def _words(self, response: _Response, text: str) -> None:
        message = response.message
        if message is None:
            message = await self._open_message(response)
        audio = response.config.modality is Modality.AUDIO
        message.text = f"{message.text} {text}".strip() if audio else message.text + text
        if audio:
            response.spoken.append(_Spoken(text, response.audio_ms))
            delta = text if len(response.spoken) == 1 else " " + text  # joined, the deltas are the transcript
            await self._send(server_event("response.output_audio_transcript.delta", **self._where(response, message),
                                          content_index=0, delta=delta))
        else:
            await self._send(server_event("response.output_text.delta", **self._where(response, message),
                                          content_index=0, delta=text))

    async def _sound(self, response: _Response, pcm: bytes) -> None:
        message = response.message or await self._open_message(response)
        if response.first_audio_at is None:
            response.first_audio_at = time.monotonic()
            self._last_audio = response
        response.audio_ms += len(pcm) / BYTES_PER_MS
        if response.spoken:
            response.spoken[-1].end_ms = response.audio_ms
        await self._send(server_event("response.output_audio.delta", **self._where(response, message), content_index=0,
                                      delta=base64.b64encode(pcm).decode()))

    async def _open_message(self, response: _Response) -> AssistantMessage:
        message = AssistantMessage(new_id("item"), spoken=response.config.modality is Modality.AUDIO)
        response.message = message
        await self._open(response, message)
        part = Part(type="audio", transcript="") if message.spoken else Part(type="text", text="")
        await self._send(server_event("response.content_part.added", **self._where(response, message), content_index=0,
                                      part=part))
        return message

    async def _open(self, response: _Response, item: Item) -> None:
        previous = self.items[-1].id if self.items else None
        self.items.append(item)
        response.output.append(item)
        await self._send(server_event("response.output_item.added", response_id=response.id,
                                      output_index=len(response.output) - 1, item=item.wire()))
        await self._send(server_event("conversation.item.added", previous_item_id=previous, item=item.wire()))

    async def _close_message(self, response: _Response, status: Status) -> None:
        message = response.message
        if message is None:
            return
        response.message = None if status == "completed" else message
        if message.status == "in_progress":
            message.status = "completed" if status == "completed" else "incomplete"
        where = self._where(response, message)
        if message.spoken:
            await self._send(server_event("response.output_audio.done", **where, content_index=0))
            await self._send(server_event("response.output_audio_transcript.done", **where, content_index=0,
                                          transcript=message.text))
            part = Part(type="audio", transcript=message.text)
        else:
            await self._send(server_event("response.output_text.done", **where, content_index=0, text=message.text))
            part = Part(type="text", text=message.text)
        await self._send(server_event("response.content_part.done", **where, content_index=0, part=part))
        await self._send(server_event("response.output_item.done", response_id=response.id,
                                      output_index=where["output_index"], item=message.wire()))
        await self._send(server_event("conversation.item.done", item=message.wire()))
        response.message = message  # kept: a barge-in after the response may still cut it

    async def _call(self, response: _Response, call: FunctionCall) -> None:
        if response.message is not None:  # text before the call ends its message
            await self._close_message(response, "completed")
            response.message = None
        await self._open(response, call)
        where = self._where(response, call) | {"call_id": call.call_id}
        await self._send(server_event("response.function_call_arguments.delta", **where, delta=call.arguments))
        await self._send(server_event("response.function_call_arguments.done", **where, name=call.name,
                                      arguments=call.arguments))
        await self._send(server_event("response.output_item.done", response_id=response.id,
                                      output_index=where["output_index"], item=call.wire()))
        await self._send(server_event("conversation.item.done", item=call.wire()))

    async def _finish(self, response: _Response, status: Literal["cancelled"], reason: Reason, ago_s: float = 0.0) -> None:
        """Stop a response in progress: its task (and so its leases), then its closing events."""
        self._active = None
        if response.task is not None and not response.task.done():
            response.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(response.task, return_exceptions=True)
        message = response.message
        if message is not None and message.spoken and response.first_audio_at is not None:
            heard = response.heard_ms(ago_s)
            if heard < response.audio_ms:
                await self._truncate(response, message, heard)
        await self._close_message(response, "incomplete")
        await self._send(server_event("response.done",
                                      response=response.wire(status, RealtimeResponseStatus(type=status, reason=reason))))
        self._last_audio = None
