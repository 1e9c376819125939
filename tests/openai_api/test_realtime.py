"""`/v1/realtime` on the real daemon: the official SDK's realtime client, and a raw WebSocket client for bad input.

Audio goes out at real-time pace in 100 ms appends, as a microphone would send it. Every server event is
checked against the SDK's own event types (pydantic), so the test reads the protocol, not our reading of it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import httpx
import numpy as np
import pytest

from assistant.audio.files import resample

from ..daemon_process import DaemonProcess, private_xdg
from ..speech import speak_16k, wer
from .test_openai_api import LOCAL_PATH
from ..waiting import wait_for

pytestmark = pytest.mark.api

KEY = "test-key-realtime-7c2a"
SESSIONS = 5
TEXT = ("The quick brown fox jumps over the lazy dog, and then it runs across the wide green field "
        "to find its friends by the river.")  # about 7 s in Piper's voice


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DaemonProcess, str]]:
    paths, env = private_xdg(tmp_path_factory.mktemp("realtime"))
    paths.config_file.write_text(
        f'[api]\nlisten = "127.0.0.1:0"\napi_key_env = "ASSISTANT_TEST_API_KEY"\nmax_sessions = {SESSIONS}\n'
        "max_concurrent = 2\nmax_queue = 16\nmax_buffer_s = 20\n"
    )
    with DaemonProcess(paths, "--no-audio", env={**env, "ASSISTANT_TEST_API_KEY": KEY}) as daemon:
        daemon.wait_warm()
        yield daemon, str(daemon.call("status")["api"]["url"])


@dataclass
class Heard:
    events: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    speech_sent_at: float = 0.0  # when the last append of speech (before the trailing quiet) went out

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [event for _, event in self.events if event["type"] == kind]

    def first(self, kind: str) -> float:
        return next(at for at, event in self.events if event["type"] == kind)


def checked(event: Any) -> dict[str, Any]:
    """A server event as the SDK received it, validated against the SDK's type for it."""
    from openai.types.realtime import RealtimeServerEvent
    from pydantic import TypeAdapter

    data = event.model_dump(exclude_unset=True) if hasattr(event, "model_dump") else dict(event)
    TypeAdapter(RealtimeServerEvent).validate_python(data)
    return data


def pcm16(audio16k: np.ndarray, rate: int) -> bytes:
    audio = resample(audio16k, 16_000, rate) if rate != 16_000 else audio16k
    return (np.clip(audio, -1.0, 1.0) * 32767).astype("<i2").tobytes()


async def stream_live(url: str, speech: np.ndarray, detection: dict[str, Any] | None, rate: int = 24_000,
                      commit: bool = False) -> Heard:
    """Speech (16 kHz) streamed at real-time pace through the SDK's realtime client, then quiet; the
    events until the transcript is complete."""
    from openai import AsyncOpenAI
    from openai.types.realtime import RealtimeTranscriptionSessionCreateRequestParam

    client = AsyncOpenAI(base_url=f"{url}/v1", api_key=KEY)
    heard = Heard()
    started = time.perf_counter()
    async with client.realtime.connect(extra_query={"intent": "transcription"}) as connection:
        session: RealtimeTranscriptionSessionCreateRequestParam = {
            "type": "transcription",
            "audio": {"input": {"format": {"type": "audio/pcm", "rate": cast(Any, rate)},
                                "transcription": {"model": "gpt-4o-transcribe"}, "turn_detection": cast(Any, detection)}},
        }
        await connection.session.update(session=session)

        async def send() -> None:
            step = rate // 10 * 2  # 100 ms of 16-bit samples
            for part, audio in (("speech", speech), ("quiet", np.zeros(24_000, dtype=np.float32))):
                data = pcm16(audio, rate)
                for offset in range(0, len(data), step):
                    await connection.input_audio_buffer.append(audio=base64.b64encode(data[offset : offset + step]).decode())
                    await asyncio.sleep(0.1)
                if part == "speech":
                    heard.speech_sent_at = time.perf_counter() - started
            if commit:
                await connection.input_audio_buffer.commit()

        sender = asyncio.create_task(send())
        async with asyncio.timeout(120):
            async for event in connection:
                heard.events.append((time.perf_counter() - started, checked(event)))
                if event.type in ("conversation.item.input_audio_transcription.completed", "error"):
                    break
        await sender
    return heard


def file_wer(url: str, speech: np.ndarray, tmp_path: Path, text: str = TEXT) -> float:
    """The file endpoint's word error rate on the same audio: Piper's voice differs a little at each
    synthesis, and tiny.en mishears some takes; a live transcript is held to what the file got."""
    import soundfile

    path = tmp_path / "speech.wav"
    soundfile.write(path, speech, 16_000)
    response = httpx.post(f"{url}/v1/audio/transcriptions", files={"file": ("speech.wav", path.read_bytes())},
                          headers={"Authorization": f"Bearer {KEY}"}, timeout=120)
    assert response.status_code == 200, response.text
    return wer(text, response.json()["text"])


def test_server_vad_sends_words_while_the_user_speaks_and_the_whole_transcript_at_the_end(
    served: tuple[DaemonProcess, str], tmp_path: Path
) -> None:
    daemon, url = served
    speech = speak_16k(TEXT)
    heard = asyncio.run(stream_live(url, speech, {"type": "server_vad", "silence_duration_ms": 500}))
    kinds = [event["type"] for _, event in heard.events]
    assert kinds[:2] == ["session.created", "session.updated"], kinds
    assert heard.of("session.updated")[0]["session"]["audio"]["input"]["turn_detection"]["type"] == "server_vad"
    order = ["input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped", "input_audio_buffer.committed",
             "conversation.item.input_audio_transcription.completed"]
    assert [kind for kind in kinds if kind in order] == order, kinds
    deltas = heard.of("conversation.item.input_audio_transcription.delta")
    # Words while the user speaks: before the last of the speech was sent, at least one per 2 s of it.
    early = [at for at, event in heard.events if event["type"].endswith(".delta") and at < heard.speech_sent_at]
    assert len(early) >= 1, (heard.speech_sent_at, heard.events)
    completed = heard.of("conversation.item.input_audio_transcription.completed")[0]
    item = heard.of("input_audio_buffer.committed")[0]["item_id"]
    assert completed["item_id"] == item and all(d["item_id"] == item for d in deltas)
    assert wer(TEXT, completed["transcript"]) <= file_wer(url, speech, tmp_path) + 0.05, completed["transcript"]
    # The deltas add up to the transcript when no pass disagreed with an earlier one.
    assert wer(completed["transcript"], "".join(d["delta"] for d in deltas)) <= 0.1, deltas
    stopped = heard.of("input_audio_buffer.speech_stopped")[0]
    assert stopped["audio_end_ms"] > heard.of("input_audio_buffer.speech_started")[0]["audio_start_ms"]


def test_semantic_vad_ends_a_finished_question_by_the_end_of_turn_model(served: tuple[DaemonProcess, str]) -> None:
    daemon, url = served
    question = "What time is it?"
    # Eagerness "low" waits up to 8 s of quiet, and only 1.5 s follows: an end comes from the model alone.
    heard = asyncio.run(stream_live(url, speak_16k(question), {"type": "semantic_vad", "eagerness": "low"}))
    kinds = [event["type"] for _, event in heard.events]
    assert "input_audio_buffer.speech_stopped" in kinds, kinds
    completed = heard.of("conversation.item.input_audio_transcription.completed")[0]
    assert wer(question, completed["transcript"]) <= 0.25, completed["transcript"]


def test_a_recording_sent_from_its_first_word_keeps_that_word(served: tuple[DaemonProcess, str], tmp_path: Path) -> None:
    """The voice detector scores nothing for its first 0.75 s: speech there must not lose its start."""
    daemon, url = served
    question = "What is the capital of France?"
    speech = speak_16k(question, pad_s=0.0)[:-1]  # no quiet before the first word
    heard = asyncio.run(stream_live(url, speech, {"type": "server_vad"}))
    completed = heard.of("conversation.item.input_audio_transcription.completed")[0]
    assert heard.of("input_audio_buffer.speech_started")[0]["audio_start_ms"] == 0
    assert wer(question, completed["transcript"]) <= file_wer(url, speech, tmp_path, question) + 0.05, completed


def test_without_turn_detection_the_client_commits(served: tuple[DaemonProcess, str]) -> None:
    daemon, url = served
    question = "How far away is the moon?"
    # 24 kHz, the SDK's only rate (16 kHz, which this server also takes, is the raw client's below).
    heard = asyncio.run(stream_live(url, speak_16k(question), None, rate=24_000, commit=True))
    kinds = [event["type"] for _, event in heard.events]
    assert "input_audio_buffer.speech_started" not in kinds and "input_audio_buffer.committed" in kinds, kinds
    completed = heard.of("conversation.item.input_audio_transcription.completed")[0]
    assert wer(question, completed["transcript"]) <= 0.25, completed["transcript"]


# ---------------------------------------------------------------------------------------- a raw client


def raw(url: str, key: str | None = KEY, query: str = "?intent=transcription") -> Any:
    from websockets.sync.client import connect

    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    return connect(url.replace("http://", "ws://") + "/v1/realtime" + query, additional_headers=headers,
                   max_size=None, open_timeout=10)


def receive(ws: Any, kind: str, timeout: float = 60) -> dict[str, Any]:
    """The next event of `kind` (others before it are skipped)."""
    deadline = time.monotonic() + timeout
    while True:
        event = json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
        if event["type"] == kind:
            return dict(event)


def test_bad_events_get_an_error_event_and_the_session_lives_on(served: tuple[DaemonProcess, str]) -> None:
    daemon, url = served
    with raw(url) as ws:
        assert receive(ws, "session.created")["session"]["type"] == "transcription"
        bad = [
            ({"type": "input_audio_buffer.append", "audio": "***", "event_id": "e1"}, "invalid_audio"),
            ({"type": "input_audio_buffer.wiggle"}, "unknown_event"),
            ({"type": "session.update", "session": {"audio": {"input": {"format": {"type": "audio/pcm", "rate": 44100}}}}},
             "unsupported_rate"),
            ({"type": "response.create"}, "unsupported_event"),
            ({"type": "input_audio_buffer.commit"}, "input_audio_buffer_commit_empty"),
        ]
        for event, code in bad:
            ws.send(json.dumps(event))
            error = receive(ws, "error")["error"]
            assert error["code"] == code, error
            assert not LOCAL_PATH.search(error["message"]), error  # no path of this machine leaks
        assert receive_after(ws, "not json at all")["error"]["code"] == "invalid_json"
        huge = json.dumps({"type": "input_audio_buffer.append", "audio": "A" * (30 * 1024 * 1024)})
        assert receive_after(ws, huge)["error"]["code"] == "message_too_large"
        # Alive: it still takes an update and answers with the session.
        ws.send(json.dumps({"type": "session.update", "session": {"type": "transcription", "audio": {"input": {
            "turn_detection": None}}}}))
        assert receive(ws, "session.updated")["session"]["audio"]["input"]["turn_detection"] is None
    assert daemon.call("status")["state"] == "idle"


def receive_after(ws: Any, message: str) -> dict[str, Any]:
    ws.send(message)
    return receive(ws, "error")


def test_a_wrong_or_missing_key_and_sessions_beyond_the_limit_are_refused(served: tuple[DaemonProcess, str]) -> None:
    from websockets.exceptions import InvalidStatus

    daemon, url = served
    for key in (None, "wrong"):
        with pytest.raises(InvalidStatus) as refused:
            raw(url, key)
        assert refused.value.response.status_code == 401
        assert json.loads(refused.value.response.body)["error"]["code"] == "invalid_api_key"
    with contextlib.ExitStack() as opened:
        for _ in range(SESSIONS):
            opened.enter_context(raw(url))
        wait_for(lambda: daemon.call("status")["api"]["sessions"] == SESSIONS, 10, what="the sessions counted")
        with pytest.raises(InvalidStatus) as full:
            raw(url)
        assert full.value.response.status_code == 429
        assert json.loads(full.value.response.body)["error"]["code"] == "session_limit"
    wait_for(lambda: daemon.call("status")["api"]["sessions"] == 0, 10, what="the sessions closed")
    with raw(url) as ws:  # room again
        assert receive(ws, "session.created")


def test_a_client_that_vanishes_mid_transcription_gives_its_lease_back(served: tuple[DaemonProcess, str]) -> None:
    daemon, url = served
    workers = {m["id"]: m["pid"] for m in daemon.call("vram.status")["models"] if m["pid"]}
    loads = {m["id"]: m["load_count"] for m in daemon.call("vram.status")["models"]}
    with raw(url) as ws:
        receive(ws, "session.created")
        ws.send(json.dumps({"type": "session.update", "session": {"type": "transcription", "audio": {"input": {
            "format": {"type": "audio/pcm", "rate": 16000}, "turn_detection": None}}}}))
        ws.send(json.dumps({"type": "input_audio_buffer.append",
                            "audio": base64.b64encode(pcm16(speak_16k(TEXT), 16_000)).decode()}))
        ws.send(json.dumps({"type": "input_audio_buffer.commit"}))
        receive(ws, "input_audio_buffer.committed")  # the pass starts now: go away

    def ps() -> dict[str, Any]:
        return dict(httpx.get(f"{url}/api/ps", headers={"Authorization": f"Bearer {KEY}"}, timeout=10).json())

    def drained() -> bool:
        now = ps()
        return all(m["leases"] == 0 for m in now["models"]) and now["requests"]["in_flight"] == 0 \
            and now["realtime_sessions"] == 0

    wait_for(drained, 60, what=lambda: f"the leases back: {ps()}")
    assert {m["id"]: m["pid"] for m in daemon.call("vram.status")["models"] if m["pid"]} == workers
    assert {m["id"]: m["load_count"] for m in daemon.call("vram.status")["models"]} == loads


def test_four_sessions_and_a_desktop_ask_at_once_share_one_copy_of_each_model(
    served: tuple[DaemonProcess, str], tmp_path: Path
) -> None:
    daemon, url = served
    questions = ["How far away is the moon?", "What is the capital of France?", "Why is the sky blue?",
                 "Tell me about the river."]
    loads = {m["id"]: m["load_count"] for m in daemon.call("vram.status")["models"]}
    answers: dict[str, Any] = {}
    ask = threading.Thread(target=lambda: answers.update(ask=daemon.call("ask", text="Tell me a short joke.")))
    ask.start()

    speech = [speak_16k(q) for q in questions]

    async def all_at_once() -> list[Heard]:
        return await asyncio.gather(*[stream_live(url, audio, {"type": "server_vad"}) for audio in speech])

    heard = asyncio.run(all_at_once())
    ask.join(180)
    for question, audio, session in zip(questions, speech, heard, strict=True):
        done = session.of("conversation.item.input_audio_transcription.completed")
        # A word of slack over the file's: the session's cut at the speech's start is its own.
        allowed = max(0.34, file_wer(url, audio, tmp_path, question) + 0.2)
        assert done and wer(question, done[0]["transcript"]) <= allowed, (question, session.events[-3:])
    assert answers["ask"]["reply"], answers
    assert {m["id"]: m["load_count"] for m in daemon.call("vram.status")["models"]} == loads  # nothing loaded twice
