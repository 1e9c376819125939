"""Conversation sessions on `/v1/realtime`, on the real daemon, with the official SDK's realtime client.

Speech goes in at real-time pace; replies come back as the SDK's own events (each validated against its
pydantic types). Where a test needs to know what the LLM will say, or needs a model that calls a
client's function, it connects with the scripted stand-in (`scripted-tools`: no chat model that follows
a tool format ships on PyPI); the voice, the ASR and the SmolLM2 test are the real models.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import httpx
import numpy as np
import pytest

from assistant.audio.files import resample

from ..daemon_process import SCRIPTED, DaemonProcess, private_xdg
from ..speech import speak_16k, wer
from ..waiting import wait_for
from .test_realtime import Heard, checked, pcm16

pytestmark = pytest.mark.api

KEY = "test-key-conversation-41d0"
ANSWER = "Paris is the capital of France. It lies on the river Seine."
WEATHER = "It is mild and sunny in Paris today."
STORY = " ".join(f"This is sentence number {n} of a long story about a quiet village by the sea." for n in range(1, 41))
SCRIPT = {"turns": [
    {"match": "capital", "rounds": [[{"text": ANSWER}]]},
    {"match": "lights", "rounds": [[{"tool": "turn_on", "arguments": {"area": "kitchen"}}],
                                   [{"text": "Done. The tool said: {result}"}]]},
    {"match": "story", "rounds": [[{"text": STORY}]]},
    {"match": "paris", "rounds": [[{"text": WEATHER}]]},
]}
TURN_ON = {"type": "function", "name": "turn_on", "description": "Turn the lights of an area on.",
           "parameters": {"type": "object", "properties": {"area": {"type": "string"}}, "required": ["area"]}}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DaemonProcess, str]]:
    paths, env = private_xdg(tmp_path_factory.mktemp("conversation"))
    with paths.user_catalog.open("a") as catalog:
        catalog.write(SCRIPTED)
    (paths.config_dir / "script.json").write_text(json.dumps(SCRIPT))
    paths.config_file.write_text(
        '[api]\nlisten = "127.0.0.1:0"\napi_key_env = "ASSISTANT_TEST_API_KEY"\nmax_concurrent = 2\nmax_queue = 16\n'
    )
    with DaemonProcess(paths, "--no-audio", env={**env, "ASSISTANT_TEST_API_KEY": KEY}) as daemon:
        daemon.wait_warm()
        yield daemon, str(daemon.call("status")["api"]["url"])


class Talk:
    """One conversation through the SDK's realtime client: events received (validated), sent when asked."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.heard = Heard()
        self.started = time.perf_counter()

    async def until(self, kind: str, count: int = 1, timeout: float = 120) -> dict[str, Any]:
        """Receive until the `count`-th event of `kind` (counting those already received)."""
        async with asyncio.timeout(timeout):
            while len(self.heard.of(kind)) < count:
                event = checked(await self.connection.recv())
                self.heard.events.append((time.perf_counter() - self.started, event))
                assert event["type"] != "error" or kind == "error", event
        return self.heard.of(kind)[count - 1]

    async def say(self, text: str, quiet_s: float = 1.0) -> None:
        """Speech at real-time pace (100 ms appends, 24 kHz), then quiet."""
        await self.send(np.concatenate([speak_16k(text), np.zeros(int(16_000 * quiet_s), dtype=np.float32)]))

    async def send(self, audio: np.ndarray) -> None:
        """16 kHz audio at real-time pace (100 ms appends, 24 kHz)."""
        data = pcm16(audio, 24_000)
        for offset in range(0, len(data), 4800):
            await self.connection.input_audio_buffer.append(audio=base64.b64encode(data[offset : offset + 4800]).decode())
            await asyncio.sleep(0.1)

    async def write(self, text: str) -> None:
        await self.connection.conversation.item.create(item={"type": "message", "role": "user",
                                                             "content": [{"type": "input_text", "text": text}]})

    def audio_16k(self, response_id: str) -> np.ndarray:
        pcm = b"".join(base64.b64decode(e["delta"]) for e in self.heard.of("response.output_audio.delta")
                       if e["response_id"] == response_id)
        return resample(np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0, 24_000, 16_000)


async def talk(url: str, model: str, session: dict[str, Any], body: Any) -> Talk:
    from openai import AsyncOpenAI

    client = AsyncOpenAI(base_url=f"{url}/v1", api_key=KEY)
    async with client.realtime.connect(model=model) as connection:
        conversation = Talk(connection)
        await connection.session.update(session=cast(Any, {"type": "realtime", **session}))
        await conversation.until("session.updated")
        await body(conversation)
    return conversation


def transcribe(url: str, audio: np.ndarray, tmp_path: Path) -> str:
    import soundfile

    path = tmp_path / "reply.wav"
    soundfile.write(path, audio, 16_000)
    response = httpx.post(f"{url}/v1/audio/transcriptions", files={"file": ("reply.wav", path.read_bytes())},
                          headers={"Authorization": f"Bearer {KEY}"}, timeout=120)
    assert response.status_code == 200, response.text
    return str(response.json()["text"])


def test_a_spoken_question_is_answered_in_speech_sentence_by_sentence(
    served: tuple[DaemonProcess, str], tmp_path: Path
) -> None:
    daemon, url = served

    async def body(conversation: Talk) -> None:
        await conversation.say("What is the capital of France?")
        await conversation.until("response.done")

    heard = asyncio.run(talk(url, "scripted-tools", {"audio": {"input": {"turn_detection": {"type": "server_vad"}}}}, body))
    kinds = [event["type"] for _, event in heard.heard.events]
    order = ["input_audio_buffer.committed", "response.created", "conversation.item.input_audio_transcription.completed",
             "response.output_item.added", "response.output_audio_transcript.delta", "response.output_audio.delta",
             "response.output_audio_transcript.done", "response.output_item.done", "response.done"]
    assert [k for k in dict.fromkeys(kinds) if k in order] == order, kinds
    question = heard.heard.of("conversation.item.input_audio_transcription.completed")[0]["transcript"]
    assert "capital" in question.lower(), question  # the LLM was given what was said: its script matched it
    done = heard.heard.of("response.done")[0]["response"]
    assert done["status"] == "completed", done
    transcript = heard.heard.of("response.output_audio_transcript.done")[0]["transcript"]
    assert transcript == ANSWER
    deltas = heard.heard.of("response.output_audio_transcript.delta")
    assert len(deltas) == 2 and "".join(d["delta"] for d in deltas) == ANSWER  # a sentence at a time
    # Audio for the first sentence went out before the second sentence's words: it streams.
    first_audio = heard.heard.first("response.output_audio.delta")
    assert first_audio < [at for at, e in heard.heard.events if e["type"] == "response.output_audio_transcript.delta"][1]
    spoken = transcribe(url, heard.audio_16k(done["id"]), tmp_path)
    assert wer(ANSWER, spoken) <= 0.3, spoken
    assert done["output"][0]["content"][0]["transcript"] == ANSWER and done["usage"]["output_tokens"] > 0


def test_the_current_llm_answers_in_text_when_text_is_asked_for(served: tuple[DaemonProcess, str]) -> None:
    daemon, url = served

    async def body(conversation: Talk) -> None:
        await conversation.write("Name three colors.")
        await conversation.connection.response.create(response={"output_modalities": ["text"]})
        await conversation.until("response.done")

    heard = asyncio.run(talk(url, "gpt-realtime", {"instructions": "You answer in one short sentence."}, body))
    done = heard.heard.of("response.done")[0]["response"]
    assert done["status"] == "completed" and done["output_modalities"] == ["text"], done
    text = "".join(e["delta"] for e in heard.heard.of("response.output_text.delta"))
    assert text.strip() and heard.heard.of("response.output_text.done")[0]["text"] == text
    assert not heard.heard.of("response.output_audio.delta")  # text only
    assert done["output"][0]["content"][0]["text"] == text
    assert daemon.call("vram.status")  # the daemon is up after it


def test_a_client_function_comes_back_as_a_call_and_its_output_is_answered(served: tuple[DaemonProcess, str]) -> None:
    daemon, url = served

    async def body(conversation: Talk) -> None:
        await conversation.write("Turn on the kitchen lights.")
        await conversation.connection.response.create()
        call = await conversation.until("response.function_call_arguments.done")
        await conversation.until("response.done")
        await conversation.connection.conversation.item.create(item={
            "type": "function_call_output", "call_id": call["call_id"], "output": json.dumps({"brightness": 80})})
        await conversation.connection.response.create()
        await conversation.until("response.done", 2)

    heard = asyncio.run(talk(url, "scripted-tools", {"tools": [TURN_ON]}, body))
    call = heard.heard.of("response.function_call_arguments.done")[0]
    assert call["name"] == "turn_on" and json.loads(call["arguments"]) == {"area": "kitchen"}
    first, second = (event["response"] for event in heard.heard.of("response.done"))
    assert first["status"] == "completed" and [item["type"] for item in first["output"]] == ["function_call"]
    assert first["output"][0]["call_id"] == call["call_id"]
    assert not [e for e in heard.heard.of("response.output_audio.delta") if e["response_id"] == first["id"]]
    said = heard.heard.of("response.output_audio_transcript.done")[-1]["transcript"]
    assert "brightness" in said and "80" in said, said  # the reply read the client's output


def test_speech_during_a_reply_cancels_it_and_cuts_the_item_to_what_was_heard(served: tuple[DaemonProcess, str]) -> None:
    daemon, url = served

    async def body(conversation: Talk) -> None:
        await conversation.write("Tell me a story.")
        await conversation.connection.response.create()
        await conversation.until("response.output_audio.delta")
        await conversation.say("Stop, what time is it?")  # over the reply, as a user talks over a speaker
        await conversation.until("response.done", 2)

    heard = asyncio.run(talk(url, "scripted-tools", {"audio": {"input": {"turn_detection": {"type": "server_vad"}}}}, body))
    story, answer = (event["response"] for event in heard.heard.of("response.done"))
    assert story["status"] == "cancelled" and story["status_details"]["reason"] == "turn_detected", story
    truncated = heard.heard.of("conversation.item.truncated")[0]
    item = story["output"][0]
    assert truncated["item_id"] == item["id"] and item["status"] == "incomplete"
    sent_ms = len(heard.audio_16k(story["id"])) / 16
    assert 0 < truncated["audio_end_ms"] < sent_ms, (truncated, sent_ms)
    kept = item["content"][0]["transcript"]
    assert kept and STORY.startswith(kept.rstrip(".")[:40]) and len(kept) < len(STORY) / 2, kept
    assert answer["status"] == "completed"  # and the words spoken over it were answered
    assert heard.heard.first("input_audio_buffer.speech_started") < heard.heard.first("conversation.item.truncated")


def test_a_cancelled_reply_and_a_client_gone_mid_reply_give_the_leases_back(served: tuple[DaemonProcess, str]) -> None:
    daemon, url = served

    async def warm(conversation: Talk) -> None:
        await conversation.write("What is the capital of France?")
        await conversation.connection.response.create()
        await conversation.until("response.done")

    asyncio.run(talk(url, "scripted-tools", {}, warm))  # the stand-in LLM and the voice loaded
    workers = {m["id"]: m["pid"] for m in daemon.call("vram.status")["models"] if m["pid"]}
    loads = {m["id"]: m["load_count"] for m in daemon.call("vram.status")["models"]}

    async def body(conversation: Talk) -> None:
        await conversation.write("Tell me a story.")
        await conversation.connection.response.create()
        await conversation.until("response.output_audio.delta")
        await conversation.connection.response.cancel()
        await conversation.until("response.done")
        await conversation.connection.response.create()
        await conversation.until("response.output_audio.delta", 2)  # mid-reply: go away

    heard = asyncio.run(talk(url, "scripted-tools", {}, body))
    cancelled = heard.heard.of("response.done")[0]["response"]
    assert cancelled["status"] == "cancelled" and cancelled["status_details"]["reason"] == "client_cancelled"

    def ps() -> dict[str, Any]:
        return dict(httpx.get(f"{url}/api/ps", headers={"Authorization": f"Bearer {KEY}"}, timeout=10).json())

    def drained() -> bool:
        now = ps()
        return all(m["leases"] == 0 for m in now["models"]) and now["requests"]["in_flight"] == 0 \
            and now["realtime_sessions"] == 0

    wait_for(drained, 60, what=lambda: f"the leases back: {ps()}")
    assert {m["id"]: m["pid"] for m in daemon.call("vram.status")["models"] if m["pid"]} == workers
    assert {m["id"]: m["load_count"] for m in daemon.call("vram.status")["models"]} == loads


def test_an_answer_made_at_a_pause_goes_out_only_when_the_turn_ends_there(served: tuple[DaemonProcess, str]) -> None:
    """The user pauses mid-question (long enough for the words so far to be transcribed and answered
    ahead), speaks on, then stops: the guess at the first half is dropped unheard, and the one at the
    end is the response, with the whole question's answer."""
    daemon, url = served

    def ahead() -> dict[str, int]:
        reply = httpx.get(f"{url}/api/ps", headers={"Authorization": f"Bearer {KEY}"}, timeout=10).json()
        return dict(reply["answered_ahead"])

    before = ahead()

    async def body(conversation: Talk) -> None:
        first, rest = speak_16k("What is the weather like", pad_s=0.5), speak_16k("in Paris today?", pad_s=0.5)
        await conversation.send(np.concatenate([first, rest, np.zeros(40_000, dtype=np.float32)]))
        await conversation.until("response.done")

    detection = {"type": "server_vad", "silence_duration_ms": 1500}
    heard = asyncio.run(talk(url, "scripted-tools", {"audio": {"input": {"turn_detection": detection}}}, body))
    after = ahead()
    assert len(heard.heard.of("input_audio_buffer.committed")) == 1  # one turn, across the pause
    assert heard.heard.first("input_audio_buffer.committed") < heard.heard.first("response.created")
    assert len(heard.heard.of("response.created")) == 1  # nothing made at the pause was sent
    question = heard.heard.of("conversation.item.input_audio_transcription.completed")[0]["transcript"]
    assert "weather" in question.lower() and "paris" in question.lower(), question
    done = heard.heard.of("response.done")[0]["response"]
    assert done["status"] == "completed" and done["output"][0]["content"][0]["transcript"] == WEATHER, done
    assert after["taken"] - before["taken"] == 1, (before, after)  # the answer at the end was made ahead
    assert after["dropped"] - before["dropped"] >= 1, (before, after)  # ... and the one at the pause dropped
