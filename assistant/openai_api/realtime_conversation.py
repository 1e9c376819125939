"""A Realtime conversation: its items, and its responses, one at a time.

A response starts when turn detection commits an utterance (`create_response`) or when the client sends
`response.create`. An utterance committed while a reply is still being made (with `interrupt_response`
off, so its speech did not stop it) replaces that reply: the user has said something newer. It waits
for the transcripts of the utterances before it (they run in the input side's order), then reads every
item after the session's instructions (or takes the reply made ahead at the user's pause to the same
conversation: realtime_guess.py), and streams the reply
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
import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing
from typing import Literal

from openai.types.realtime import RealtimeResponseStatus, RealtimeResponseUsage, realtime_response_status
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
from assistant.openai_api.realtime_guess import Guess
from assistant.openai_api.realtime_items import AssistantMessage, FunctionCall, Item, UserMessage, view
from assistant.openai_api.realtime_reply import Call, Reply, Sound, Used, Words
from assistant.openai_api.realtime_reply import Part as ReplyPart
from assistant.openai_api.realtime_response import Response, Spoken, Status, Where
from assistant.openai_api.server import Counts

log = logging.getLogger(__name__)

BYTES_PER_MS = 48  # 24 kHz, 16-bit
TRANSCRIPTION_ONLY = ("a transcription session makes no responses; connect with ?model=… (or send session.update "
                      "with type 'realtime') for a conversation")

Send = Callable[[str], Awaitable[None]]
Reason = Literal["turn_detected", "client_cancelled"]


class Conversation:
    def __init__(self, reply: Reply, send: Send, config: Callable[[], SessionConfig], counts: Counts) -> None:
        """`reply` makes a response's parts; `send` writes a server event; `config` is the session's, now;
        `counts` are the server's (answers made ahead and taken or dropped are counted there)."""
        self._reply = reply
        self._send = send
        self._config = config
        self._counts = counts
        self._guess: Guess | None = None  # the answer to the words before the user's pause, made ahead
        self.items: list[Item] = []
        self._active: Response | None = None
        self._last_audio: Response | None = None  # the last response that spoke: a barge-in may cut it
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

    async def paused(self, item_id: str, text: str) -> None:
        """The user paused after `text`: the answer to it is made now, in case the turn ends here."""
        await self._drop_guess()
        config = self._config()
        if config.intent != "realtime" or not config.create_response or self._active is not None or not text:
            return
        options = ResponseOptions().over(config)  # as committed_by_detection will start the response
        messages = self._messages(options) + UserMessage(item_id, text, spoken=True).messages()
        self._guess = Guess.start(self._reply, options, messages)

    async def resumed(self) -> None:
        await self._drop_guess()

    async def _drop_guess(self) -> None:
        guess, self._guess = self._guess, None
        if guess is not None:
            self._counts.guesses_dropped += 1
            await guess.drop()

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
        await self._drop_guess()
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

    async def _truncate(self, response: Response, message: AssistantMessage, heard_ms: float) -> None:
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
        response = Response(new_id("resp"), options.over(self._config()))
        self._active = response
        response.task = asyncio.get_running_loop().create_task(self._run(response))

    async def _run(self, response: Response) -> None:
        await self._send(server_event("response.created", response=response.wire("in_progress")))
        try:
            async with self._heard:  # the transcripts of what the user said before this response
                await self._heard.wait_for(lambda: all(
                    not isinstance(item, UserMessage) or item.text is not None for item in self.items))
            async with aclosing(await self._parts(response.config)) as parts:
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
        messages, self._first = view(self.items, self._first, config.instructions)
        return messages

    async def _parts(self, config: SessionConfig) -> AsyncGenerator[ReplyPart, None]:
        """The reply: the one made ahead when it answers this very conversation, or a new one."""
        messages = self._messages(config)
        guess = self._guess
        if guess is not None and guess.answers(config, messages):
            self._guess = None
            self._counts.guesses_taken += 1
            return guess.stream()
        await self._drop_guess()
        return self._reply(config, messages)

    def _where(self, response: Response, item: Item) -> Where:
        return {"response_id": response.id, "item_id": item.id, "output_index": response.output.index(item)}

    async def _words(self, response: Response, text: str) -> None:
        message = response.message
        if message is None:
            message = await self._open_message(response)
        audio = response.config.modality is Modality.AUDIO
        message.text = f"{message.text} {text}".strip() if audio else message.text + text
        if audio:
            response.spoken.append(Spoken(text, response.audio_ms))
            delta = text if len(response.spoken) == 1 else " " + text  # joined, the deltas are the transcript
            await self._send(server_event("response.output_audio_transcript.delta", **self._where(response, message),
                                          content_index=0, delta=delta))
        else:
            await self._send(server_event("response.output_text.delta", **self._where(response, message),
                                          content_index=0, delta=text))

    async def _sound(self, response: Response, pcm: bytes) -> None:
        message = response.message or await self._open_message(response)
        if response.first_audio_at is None:
            response.first_audio_at = time.monotonic()
            self._last_audio = response
        response.audio_ms += len(pcm) / BYTES_PER_MS
        if response.spoken:
            response.spoken[-1].end_ms = response.audio_ms
        await self._send(server_event("response.output_audio.delta", **self._where(response, message), content_index=0,
                                      delta=base64.b64encode(pcm).decode()))

    async def _open_message(self, response: Response) -> AssistantMessage:
        message = AssistantMessage(new_id("item"), spoken=response.config.modality is Modality.AUDIO)
        response.message = message
        await self._open(response, message)
        part = Part(type="audio", transcript="") if message.spoken else Part(type="text", text="")
        await self._send(server_event("response.content_part.added", **self._where(response, message), content_index=0,
                                      part=part))
        return message

    async def _open(self, response: Response, item: Item) -> None:
        previous = self.items[-1].id if self.items else None
        self.items.append(item)
        response.output.append(item)
        await self._send(server_event("response.output_item.added", response_id=response.id,
                                      output_index=len(response.output) - 1, item=item.wire()))
        await self._send(server_event("conversation.item.added", previous_item_id=previous, item=item.wire()))

    async def _close_message(self, response: Response, status: Status) -> None:
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

    async def _call(self, response: Response, call: FunctionCall) -> None:
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

    async def _finish(self, response: Response, status: Literal["cancelled"], reason: Reason, ago_s: float = 0.0) -> None:
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
