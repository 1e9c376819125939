"""The OpenAI-compatible API on the real daemon, driven by real clients: the official `openai` SDK, curl and httpx."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import json
import re
import socket
import subprocess
import threading
import time
import zoneinfo
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import soundfile

from assistant.audio.files import resample
from assistant.tools.clock import clock_time

from ..daemon_process import SCRIPTED, DaemonProcess, private_xdg, write_catalog
from ..speech import quiet_wav, speak_16k, speak_to_wav, wer
from ..waiting import wait_for

pytestmark = pytest.mark.api

KEY = "test-key-5b1f"
LOCAL_PATH = re.compile(r"(^|[\s'\"(])/(root|tmp|home|usr|etc|var|opt|run)/|\.(gguf|onnx|bin|json|log)\b")


def api_url(daemon: DaemonProcess) -> str:
    return str(daemon.call("status")["api"]["url"])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DaemonProcess, str]]:
    paths, env = private_xdg(tmp_path_factory.mktemp("api"))
    write_catalog(paths, llm_gb=0.5)  # a second LLM, to ask for by name
    with paths.user_catalog.open("a") as catalog:
        catalog.write(SCRIPTED)  # a stand-in LLM that calls tools (no PyPI model follows a tool format)
    script = {"turns": [{"match": "lights", "rounds": [[{"tool": "turn_on", "arguments": {"area": "kitchen"}}]]}]}
    (paths.config_dir / "script.json").write_text(json.dumps(script))
    paths.config_file.write_text(
        '[api]\nlisten = "127.0.0.1:0"\nmax_concurrent = 2\nmax_queue = 4\nrequest_timeout_s = 10\n'
    )
    with DaemonProcess(paths, "--no-audio", env=env) as daemon:
        daemon.wait_warm()
        yield daemon, api_url(daemon)


def load_counts(daemon: DaemonProcess) -> dict[str, int]:
    return {m["id"]: m["load_count"] for m in daemon.call("vram.status")["models"]}


def test_the_openai_sdk_transcribes_speaks_and_chats(served: tuple[DaemonProcess, str], tmp_path: Path) -> None:
    from openai import OpenAI

    daemon, url = served
    assert f"serving: the OpenAI-compatible API on {url}/v1" in daemon.log.read_text()  # the ready lines say where
    client = OpenAI(base_url=f"{url}/v1", api_key="unused-on-loopback")
    question = "What is the capital of France?"
    wav = speak_to_wav(question, tmp_path / "question.wav")
    with wav.open("rb") as file:
        heard = client.audio.transcriptions.create(model="whisper-1", file=file)
    assert wer(question, heard.text) <= 0.25, heard.text

    with wav.open("rb") as file:
        verbose = client.audio.transcriptions.create(model="whisper-tiny-en", file=file, response_format="verbose_json")
    assert verbose.segments and verbose.segments[0].end > verbose.segments[0].start, verbose

    spoken = client.audio.speech.create(model="tts-1", voice="alloy", input="The quick brown fox jumps over the lazy dog.",
                                        response_format="wav")
    (tmp_path / "spoken.wav").write_bytes(spoken.content)
    with (tmp_path / "spoken.wav").open("rb") as file:
        back = client.audio.transcriptions.create(model="whisper-1", file=file)
    assert wer("The quick brown fox jumps over the lazy dog.", back.text) <= 0.3, back.text

    reply = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Say hello."}])
    assert reply.choices[0].message.content and reply.choices[0].finish_reason == "stop", reply
    assert reply.model == daemon.call("status")["llm"]  # OpenAI's name meant the current LLM

    pieces = [chunk.choices[0].delta.content or "" for chunk in client.chat.completions.create(
        model="smollm2-135m", messages=[{"role": "user", "content": "Name three colors."}], stream=True)]
    assert len(pieces) > 2 and "".join(pieces).strip(), pieces  # streamed in pieces, as they were written

    models = {m.id: m for m in client.models.list().data}
    assert {"whisper-tiny-en", "smollm2-135m", "piper-joe"} <= set(models)
    assert all(count == 1 for model, count in load_counts(daemon).items() if model in models and count), load_counts(daemon)


def test_tools_pass_through_to_a_model_that_calls_them(served: tuple[DaemonProcess, str]) -> None:
    from openai import OpenAI

    _, url = served
    client = OpenAI(base_url=f"{url}/v1", api_key="unused-on-loopback")
    tools = [{"type": "function", "function": {"name": "turn_on", "description": "Turn a light on.",
                                               "parameters": {"type": "object", "properties": {"area": {"type": "string"}}}}}]
    reply = client.chat.completions.create(model="scripted-tools", tools=tools,  # type: ignore[arg-type]
                                           messages=[{"role": "user", "content": "Turn on the kitchen lights."}])
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.tool_calls, reply
    call = choice.message.tool_calls[0]
    assert call.function.name == "turn_on" and json.loads(call.function.arguments) == {"area": "kitchen"}
    streamed = list(client.chat.completions.create(model="scripted-tools", tools=tools, stream=True,  # type: ignore[arg-type]
                                                   messages=[{"role": "user", "content": "Lights on, please."}]))
    calls = [c for chunk in streamed for c in (chunk.choices[0].delta.tool_calls or [])]
    assert calls and calls[0].function.name == "turn_on" and streamed[-1].choices[0].finish_reason == "tool_calls"


def test_the_assistant_model_answers_from_its_tools_in_a_conversation_of_its_own(
    served: tuple[DaemonProcess, str]
) -> None:
    from openai import OpenAI

    daemon, url = served
    client = OpenAI(base_url=f"{url}/v1", api_key="unused-on-loopback")
    assert "assistant" in {m.id for m in client.models.list().data}
    desktop = daemon.call("history")
    tokyo = zoneinfo.ZoneInfo("Asia/Tokyo")
    question = [{"role": "user", "content": "What time is it in Tokyo?"}]
    before = dt.datetime.now(tokyo)
    reply = client.chat.completions.create(model="assistant", messages=question)  # type: ignore[arg-type]
    after = dt.datetime.now(tokyo)
    content = reply.choices[0].message.content or ""
    # The clock's time, not the LLM's guess (the minute may roll over during the request).
    assert clock_time(before) in content or clock_time(after) in content, (content, before, after)
    assert "Tokyo" in content and reply.model == "assistant" and reply.choices[0].finish_reason == "stop", reply
    assert reply.usage and reply.usage.prompt_tokens > 0 and reply.usage.completion_tokens > 0, reply.usage
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens

    # Streamed: OpenAI's chunks, sentence by sentence, then the usage when asked for.
    chunks = list(client.chat.completions.create(
        model="assistant", stream=True, stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "Tell me about the moon in two sentences."}]))  # type: ignore[arg-type]
    said = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert said.strip() and chunks[-1].usage and chunks[-1].usage.completion_tokens > 0, chunks[-2:]
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"

    # Its turns are its own: the desktop's history has none of them, and the desktop still answers.
    assert daemon.call("history") == desktop
    daemon.call("ask", text="What is twelve times seven?", speak=False)
    shown = daemon.call("history")
    assert len(shown) == len(desktop) + 1 and not any("Tokyo" in t["transcript"] or "moon" in t["transcript"]
                                                     for t in shown), shown


def test_usage_counts_the_raw_llms_tokens(served: tuple[DaemonProcess, str]) -> None:
    from openai import OpenAI

    _, url = served
    client = OpenAI(base_url=f"{url}/v1", api_key="unused-on-loopback")
    reply = client.chat.completions.create(model="smollm2-135m", max_tokens=6,
                                           messages=[{"role": "user", "content": "Count from one to twenty."}])
    usage = reply.usage
    assert usage and usage.prompt_tokens > 5 and 0 < usage.completion_tokens <= 6 + 1, usage  # llama.cpp's counts
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_an_unknown_path_and_a_wrong_method_answer_in_openais_error_shape(served: tuple[DaemonProcess, str]) -> None:
    _, url = served
    for response, status in ((httpx.get(f"{url}/v1/no-such-endpoint", timeout=10), 404),
                             (httpx.post(f"{url}/v1/embeddings", json={"input": "x"}, timeout=10), 404),
                             (httpx.get(f"{url}/v1/chat/completions", timeout=10), 405),
                             (httpx.delete(f"{url}/v1/models", timeout=10), 405)):
        assert response.status_code == status, response.text
        error = response.json()["error"]
        assert set(error) == {"message", "type", "param", "code"} and error["message"], error
    assert "POST" in httpx.get(f"{url}/v1/chat/completions", timeout=10).headers["allow"]


def test_curl_multipart_formats_sse_and_the_error_shapes(served: tuple[DaemonProcess, str], tmp_path: Path) -> None:
    _, url = served
    wav = speak_to_wav("Turn the music down a little.", tmp_path / "music.wav")

    def curl(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["curl", "-sS", "-w", "\n%{http_code}", *args], capture_output=True, text=True, timeout=120)

    def split(done: subprocess.CompletedProcess[str]) -> tuple[str, int]:
        body, _, code = done.stdout.rpartition("\n")
        return body, int(code)

    for fmt, check in (("text", lambda b: "music" in b.lower()), ("srt", lambda b: " --> " in b and b.startswith("1\n")),
                       ("vtt", lambda b: b.startswith("WEBVTT"))):
        body, code = split(curl("-F", f"file=@{wav}", "-F", f"response_format={fmt}", f"{url}/v1/audio/transcriptions"))
        assert code == 200 and check(body), (fmt, body)

    body, code = split(curl("-N", "-F", f"file=@{wav}", "-F", "stream=true", f"{url}/v1/audio/transcriptions"))
    events = [json.loads(line[5:]) for line in body.splitlines() if line.startswith("data:")]
    assert code == 200 and events[-1]["type"] == "transcript.text.done" and "music" in events[-1]["text"].lower(), body

    body, code = split(curl("-N", "-H", "Content-Type: application/json", "-d",
                            json.dumps({"messages": [{"role": "user", "content": "Hi"}], "stream": True}),
                            f"{url}/v1/chat/completions"))
    datas = [line[5:].strip() for line in body.splitlines() if line.startswith("data:")]
    assert code == 200 and datas[-1] == "[DONE]" and json.loads(datas[-2])["choices"][0]["finish_reason"] == "stop"

    speech = tmp_path / "speech.pcm"
    done = subprocess.run(["curl", "-sS", "-o", str(speech), "-w", "%{http_code}", "-H", "Content-Type: application/json",
                           "-d", json.dumps({"input": "One. Two. Three.", "response_format": "pcm"}),
                           f"{url}/v1/audio/speech"], capture_output=True, text=True, timeout=120)
    samples = np.frombuffer(speech.read_bytes(), dtype="<i2")
    assert done.stdout == "200" and len(samples) > 24000 * 0.8, done  # about 24 kHz 16-bit: over a second of speech
    for fmt in ("flac", "mp3", "opus"):
        response = httpx.post(f"{url}/v1/audio/speech", json={"input": "Testing one two.", "response_format": fmt},
                              timeout=120)
        audio, rate = soundfile.read(io.BytesIO(response.content))
        assert response.status_code == 200 and len(audio) > rate * 0.5, fmt

    (tmp_path / "notes.txt").write_text("not audio at all\n" * 100)
    (tmp_path / "empty.wav").write_bytes(b"")
    big = tmp_path / "big.wav"
    soundfile.write(big, np.zeros(16000 * 60 * 16, dtype=np.float32), 16000, subtype="PCM_16")  # about 30 MB
    cases = [
        (curl("-F", f"file=@{tmp_path / 'notes.txt'}", f"{url}/v1/audio/transcriptions"), 400),
        (curl("-F", f"file=@{tmp_path / 'empty.wav'}", f"{url}/v1/audio/transcriptions"), 400),
        (curl("-F", f"file=@{big}", f"{url}/v1/audio/transcriptions"), 413),
        (curl("-F", f"file=@{wav}", "-F", "model=no-such-model", f"{url}/v1/audio/transcriptions"), 404),
        (curl("-F", f"file=@{wav}", "-F", "model=smollm2-135m", f"{url}/v1/audio/transcriptions"), 400),
        (curl("-H", "Content-Type: application/json", "-d", "{not json", f"{url}/v1/chat/completions"), 400),
        (curl("-H", "Content-Type: application/json", "-d", '{"input": ""}', f"{url}/v1/audio/speech"), 400),
    ]
    for done, status in cases:
        body, code = split(done)
        error = json.loads(body)["error"]
        assert code == status and error["message"] and error["type"], (status, body)
        assert not LOCAL_PATH.search(error["message"]), error  # no file or path of this machine


def test_a_desktop_ask_and_api_requests_at_once_share_one_copy_of_each_model(
    served: tuple[DaemonProcess, str], tmp_path: Path
) -> None:
    daemon, url = served
    wav = speak_to_wav("How far away is the moon?", tmp_path / "moon.wav").read_bytes()
    before = load_counts(daemon)
    results: dict[str, Any] = {}
    ask = threading.Thread(target=lambda: results.update(ask=daemon.call("ask", text="Tell me a short joke.")))
    ask.start()
    transcribed = httpx.post(f"{url}/v1/audio/transcriptions", files={"file": ("moon.wav", wav)}, timeout=120)
    ask.join(120)
    assert transcribed.status_code == 200 and "moon" in transcribed.json()["text"].lower(), transcribed.text
    assert results["ask"]["reply"], results
    assert load_counts(daemon) == before  # nothing loaded a second time


def test_two_hundred_requests_at_once_are_answered_or_turned_away_and_the_daemon_lives(
    served: tuple[DaemonProcess, str], tmp_path: Path
) -> None:
    daemon, url = served
    audio = resample(np.sin(np.linspace(0, 2000, 16000)).astype(np.float32) * 0.1, 16000, 16000)
    buffer = io.BytesIO()
    soundfile.write(buffer, audio, 16000, format="WAV")
    payload = buffer.getvalue()
    rss_before = _rss(daemon)

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=300, limits=httpx.Limits(max_connections=200)) as client:
            return await asyncio.gather(*[
                client.post(f"{url}/v1/audio/transcriptions", files={"file": ("tone.wav", payload)}) for _ in range(200)
            ])

    responses = asyncio.run(burst())
    codes = [r.status_code for r in responses]
    assert set(codes) <= {200, 429} and codes.count(200) >= 2 and codes.count(429) > 0, sorted(set(codes))
    assert all(r.headers.get("retry-after") for r in responses if r.status_code == 429)
    assert daemon.call("status")["api"]["in_flight"] == 0
    assert _rss(daemon) < rss_before + 200 * 1024 * 1024, (rss_before, _rss(daemon))  # bounded: no copy per request
    assert httpx.get(f"{url}/v1/models", timeout=10).status_code == 200  # alive


def test_a_client_that_leaves_mid_stream_gives_its_lease_back(served: tuple[DaemonProcess, str]) -> None:
    daemon, url = served
    workers = {m["id"]: m["pid"] for m in daemon.call("vram.status")["models"] if m["pid"]}
    loads = load_counts(daemon)
    body = {"messages": [{"role": "user", "content": "Write a long story about a lighthouse."}], "stream": True}
    with httpx.stream("POST", f"{url}/v1/chat/completions", json=body, timeout=60) as response:
        for line in response.iter_lines():
            if '"content"' in line:
                break  # the first words: now go away

    def ps() -> dict[str, Any]:
        return dict(httpx.get(f"{url}/api/ps", timeout=10).json())

    def drained() -> bool:
        now = ps()
        return all(m["leases"] == 0 for m in now["models"]) and now["requests"]["in_flight"] == 0

    wait_for(drained, 30, what=lambda: f"the leases back and nothing in flight: {ps()}")
    # The generation was stopped, not the worker: the same processes, nothing loaded again.
    assert {m["id"]: m["pid"] for m in daemon.call("vram.status")["models"] if m["pid"]} == workers
    assert load_counts(daemon) == loads
    assert "did not stop when cancelled" not in daemon.log.read_text()
    shown = daemon.cli("status")
    assert "api:     http://127.0.0.1:" in shown.stdout and "requests" in shown.stdout, shown.stdout


def test_a_model_not_resident_is_waited_for_and_one_not_on_disk_fails_as_the_cli_says(
    served: tuple[DaemonProcess, str]
) -> None:
    daemon, url = served
    loads = load_counts(daemon)
    chat = {"model": "smollm2-alt", "messages": [{"role": "user", "content": "Say yes."}]}
    answered = httpx.post(f"{url}/v1/chat/completions", json=chat, timeout=300)  # loaded for it, then answered
    assert answered.status_code == 200 and answered.json()["choices"][0]["message"]["content"], answered.text
    assert load_counts(daemon)["smollm2-alt"] == loads["smollm2-alt"] + 1

    missing = httpx.post(f"{url}/v1/chat/completions", json={**chat, "model": "qwen3-4b"}, timeout=60)
    error = missing.json()["error"]
    assert missing.status_code == 503 and "assistant models fetch qwen3-4b" in error["message"], missing.text
    assert not LOCAL_PATH.search(error["message"]), error


def test_a_client_that_stalls_mid_upload_is_dropped(served: tuple[DaemonProcess, str]) -> None:
    daemon, url = served
    host, port = url.removeprefix("http://").split(":")
    started = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=30) as conn:
        conn.sendall(b"POST /v1/audio/transcriptions HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 100000\r\n\r\n--b\r\n")
        answer = conn.recv(4096).decode(errors="replace")  # ...and never the rest
    assert answer.startswith("HTTP/1.1 408"), answer
    assert time.monotonic() - started < 10 + 5  # request_timeout_s, not forever
    assert daemon.call("status")["api"]["in_flight"] == 0


def test_the_control_socket_answers_while_a_25_mb_upload_is_decoded(served: tuple[DaemonProcess, str]) -> None:
    """Decoding and resampling run in a thread: `status` keeps answering meanwhile, and says so (`decoding`)."""
    daemon, url = served
    upload = quiet_wav(25 * 1024 * 1024 - 64 * 1024)
    seen: list[int] = []
    done = threading.Event()
    answers: list[httpx.Response] = []

    def post() -> None:
        try:
            answers.append(httpx.post(f"{url}/v1/audio/transcriptions", timeout=120,
                                      files={"file": ("hiss.wav", upload, "audio/wav")}))
        finally:
            done.set()

    threading.Thread(target=post, daemon=True).start()
    while not done.is_set():  # back to back: the control socket, while the API works on the upload
        seen.append(daemon.call("status")["api"]["decoding"])
    assert answers and answers[0].status_code in (200, 408), answers[0].text if answers else "no answer"
    # A status answered while the upload was being decoded: on the loop, none could have.
    assert any(count > 0 for count in seen), f"{len(seen)} status calls, none during the decoding"
    assert daemon.call("status")["api"]["decoding"] == 0


def test_a_key_is_required_when_configured_and_the_network_needs_one(tmp_path: Path) -> None:
    paths, env = private_xdg(tmp_path)
    paths.config_file.write_text('[api]\nlisten = "0.0.0.0:0"\n')
    refused = DaemonProcess(paths, "--no-audio", env=env)
    with pytest.raises(RuntimeError) as started:
        refused.start()
    assert "reachable from the network" in str(started.value) and "api_key_env" in str(started.value)

    paths.config_file.write_text('[api]\nlisten = "127.0.0.1:0"\napi_key_env = "ASSISTANT_TEST_API_KEY"\n')
    with DaemonProcess(paths, "--no-audio", env={**env, "ASSISTANT_TEST_API_KEY": KEY}) as daemon:
        url = api_url(daemon)
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            response = httpx.get(f"{url}/v1/models", headers=headers, timeout=10)
            assert response.status_code == 401 and response.json()["error"]["code"] == "invalid_api_key", response.text
        ok = httpx.get(f"{url}/v1/models", headers={"Authorization": f"Bearer {KEY}"}, timeout=10)
        assert ok.status_code == 200 and ok.json()["data"]


def _rss(daemon: DaemonProcess) -> int:
    pid = daemon.call("status")["pid"]
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_a_streamed_transcription_of_a_long_file_sends_words_before_the_last_segment_is_decoded(
    served: tuple[DaemonProcess, str], tmp_path: Path
) -> None:
    daemon, url = served
    sentences = [
        "The lighthouse stood on a rock at the edge of the sea, and every night its lamp turned slowly.",
        "The keeper climbed the stairs at dusk, wiped the glass, and wrote the weather in a small blue book.",
        "Ships passed far out in the dark, and some of them blinked their lights back as if to say thank you.",
        "In the morning the gulls came down to the rocks, and the keeper made tea and watched the tide go out.",
        "Years later the lamp was run by a machine, but people still walked out on the rock to watch the sea.",
    ]
    parts = [speak_16k(sentence) for sentence in sentences]
    audio = np.concatenate(parts + parts[:2])  # over 30 s: at least two of the ASR's 30 s windows
    assert len(audio) / 16_000 > 32
    path = tmp_path / "long.wav"
    soundfile.write(path, audio, 16_000)
    started = time.perf_counter()
    arrivals: list[tuple[float, dict[str, Any]]] = []
    with httpx.stream("POST", f"{url}/v1/audio/transcriptions", files={"file": ("long.wav", path.read_bytes())},
                      data={"stream": "true"}, timeout=300) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if line.startswith("data:"):
                arrivals.append((time.perf_counter() - started, json.loads(line[5:])))
    deltas = [at for at, event in arrivals if event["type"] == "transcript.text.delta"]
    done_at, done = next((at, event) for at, event in arrivals if event["type"] == "transcript.text.done")
    assert len(deltas) >= 2 and deltas[-1] <= done_at, arrivals
    # The first window's words came while the second window was still being decoded, not all at the end.
    assert deltas[0] < 0.75 * done_at, (deltas, done_at)
    assert wer(" ".join(sentences + sentences[:2]), done["text"]) <= 0.2, done["text"]
