"""The daemon's Wyoming server, on a free loopback port, through the `wyoming` package's own client, through
wyoming-bench as a black box, and under malformed events and hang-ups. The real daemon, the embedded models."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.audio.files import resample, write_wav

from ..daemon_process import DaemonProcess
from ..speech import speak, speak_16k, wer
from ..wyoming_peers import BIN, describe, free_port, private_paths, run, synthesize, transcribe

pytestmark = pytest.mark.wyoming

HOST = "127.0.0.1"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DaemonProcess, int]]:
    paths, env = private_paths(tmp_path_factory.mktemp("wyoming-daemon"))
    port = free_port()
    paths.config_file.write_text(f'[wyoming]\nuri = "tcp://{HOST}:{port}"\n')
    with DaemonProcess(paths, "--no-audio", env=env) as daemon:
        daemon.wait_warm()
        yield daemon, port


def leases(daemon: DaemonProcess) -> dict[str, int]:
    return {m["id"]: m["leases"] for m in daemon.call("vram.status")["models"] if m["state"] != "unloaded"}


def test_describe_names_our_models_voice_and_languages(server: tuple[DaemonProcess, int]) -> None:
    daemon, port = server
    models = daemon.call("status")["models"]
    info = run(describe(HOST, port))
    assert [m.name for m in info.asr[0].models] == [models["asr"]]
    assert info.asr[0].models[0].languages == ["en"]  # tiny.en is English only
    assert [v.name for v in info.tts[0].voices] == [models["tts"]]
    assert info.tts[0].voices[0].languages == ["en_US"]  # from the Piper voice's own config
    assert info.tts[0].supports_synthesize_streaming


@pytest.mark.parametrize("rate,channels", [(16_000, 1), (22_050, 2)])
def test_transcribe_any_rate_and_channels(server: tuple[DaemonProcess, int], rate: int, channels: int) -> None:
    _, port = server
    question = "What is the capital of France?"
    audio = resample(speak_16k(question), 16_000, rate)
    text = run(transcribe(HOST, port, audio, rate=rate, channels=channels))
    assert wer(question, text) <= 0.2, text


def test_synthesize_speaks_the_text(server: tuple[DaemonProcess, int]) -> None:
    _, port = server
    text = "The kitchen timer is set for ten minutes. Enjoy your tea."
    heard = run(synthesize(HOST, port, text))
    assert heard.events == ["audio-start", "audio-stop"]  # one cycle for the whole text
    assert heard.rate == 22_050 and len(heard.audio()) / heard.rate > 1.5
    # What it said, heard back through the same server's ASR.
    back = run(transcribe(HOST, port, resample(heard.audio(), heard.rate, 16_000)))
    assert wer(text, back) <= 0.25, back


def test_streaming_synthesis_one_cycle_per_sentence(server: tuple[DaemonProcess, int]) -> None:
    _, port = server
    pieces = ["Good morn", "ing. The weather is sun", "ny and warm. Have a ", "nice day"]
    heard = run(synthesize(HOST, port, "".join(pieces), stream=pieces))
    assert heard.events == ["audio-start", "audio-stop"] * 3 + ["synthesize-stopped"]
    back = run(transcribe(HOST, port, resample(heard.audio(), heard.rate, 16_000)))
    assert wer("".join(pieces), back) <= 0.3, back


def test_three_concurrent_clients_and_no_lease_left(server: tuple[DaemonProcess, int]) -> None:
    daemon, port = server
    questions = ["Turn on the lights.", "What time is it?", "Play some music."]
    audios = [speak_16k(q) for q in questions]

    async def together() -> list[object]:
        return await asyncio.gather(
            *(transcribe(HOST, port, audio) for audio in audios),
            synthesize(HOST, port, "One. Two. Three."),
            synthesize(HOST, port, "Four. Five.", stream=["Four. ", "Five."]),
            synthesize(HOST, port, "Six."),
        )

    results = run(together())
    for question, text in zip(questions, results[:3]):
        assert wer(question, str(text)) <= 0.34, (question, text)
    assert [heard.cycles for heard in results[3:]] == [1, 2, 1]  # type: ignore[attr-defined]
    assert set(leases(daemon).values()) == {0}  # each client held a lease only while its request ran


def test_wyoming_bench_stt_and_tts_streaming_and_not(server: tuple[DaemonProcess, int], tmp_path: Path) -> None:
    _, port = server
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    sentence = "Set a timer for five minutes."
    audio, rate = speak(sentence)
    write_wav(corpus / "data_01.wav", audio, rate)
    (corpus / "data_01.txt").write_text(sentence)
    common = ["--rounds", "1", "--warmup", "0", "--mode", "both", "--timeout", "300", "-v"]
    stt = bench("stt", f"{HOST}:{port}", "--corpus", str(corpus), *common)
    tts = bench("tts", f"{HOST}:{port}", "--texts", "Hello there. How are you today?", *common)
    for out in (stt, tts):
        assert "assistant - non-streaming, streaming" in out  # both paths advertised, so both are measured
        # One line per mode: every measurement succeeded, none failed.
        assert re.findall(r"\[(\w+)\] ok=(\d+) fail=(\d+)", out) == [("non_streaming", "1", "0"), ("streaming", "1", "0")]
    assert re.findall(r"WER=(\d+\.\d)%", stt) and all(float(w) <= 34 for w in re.findall(r"WER=(\d+\.\d)%", stt))


def bench(*args: str) -> str:
    proc = subprocess.run([str(BIN / "wyoming-bench"), *args], capture_output=True, text=True, timeout=900)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    return out


# ---------------------------------------------------------------- bad clients


def raw(port: int) -> socket.socket:
    sock = socket.create_connection((HOST, port), timeout=60)
    return sock


def send(sock: socket.socket, event_type: str, data: dict[str, object] | None = None, payload: bytes = b"") -> None:
    header: dict[str, object] = {"type": event_type, "data": data or {}}
    if payload:
        header["payload_length"] = len(payload)
    sock.sendall(json.dumps(header).encode() + b"\n" + payload)


def events_until_closed(sock: socket.socket) -> list[dict[str, object]]:
    """Every event the server sends until it closes the connection."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return parse(data)


def next_events(sock: socket.socket, count: int) -> list[dict[str, object]]:
    """Read until `count` events have come (headers with their data blocks; no payloads expected)."""
    data = b""
    while len(found := parse(data)) < count:
        chunk = sock.recv(65536)
        assert chunk, f"closed after {found}"
        data += chunk
    return found


def parse(data: bytes) -> list[dict[str, object]]:
    found = []
    while b"\n" in data:
        line, data = data.split(b"\n", 1)
        header = json.loads(line)
        extra = header.pop("data_length", 0)
        if extra:
            if len(data) < extra:
                break
            header["data"] = {**header.get("data", {}), **json.loads(data[:extra])}
            data = data[extra:]
        payload = header.get("payload_length", 0)
        data = data[payload:]
        found.append(header)
    return found


def test_malformed_events_get_an_error_and_the_daemon_keeps_serving(server: tuple[DaemonProcess, int]) -> None:
    daemon, port = server
    # Not JSON at all: an error event, then the connection closes (the stream is out of step).
    with raw(port) as sock:
        sock.sendall(b"this is not a wyoming event\n")
        assert [e["type"] for e in events_until_closed(sock)] == ["error"]
    # A payload far past the limit: refused before a byte of it is buffered.
    with raw(port) as sock:
        sock.sendall(json.dumps({"type": "audio-chunk", "payload_length": 10**10}).encode() + b"\n")
        (error,) = events_until_closed(sock)
        assert error["type"] == "error" and "payload_length" in str(error["data"])
    # Well-formed but wrong events: an error each, and the same connection goes on working.
    with raw(port) as sock:
        send(sock, "synthesize", {"voice": "not an object"})  # no text, and a voice that is not a table
        send(sock, "audio-chunk", {"rate": 16000, "width": 2, "channels": 1}, b"\0\0" * 100)  # before audio-start
        send(sock, "audio-start", {"rate": 16000, "width": 3, "channels": 1})  # 24-bit: not supported
        send(sock, "audio-chunk", {"rate": 16000, "width": 3, "channels": 1}, b"\0\0\0" * 100)  # dropped quietly
        send(sock, "audio-stop")
        send(sock, "synthesize-chunk", {"text": "outside a stream"})
        send(sock, "some-future-event", {"x": 1})  # unknown types are ignored, as Wyoming servers do
        send(sock, "ping", {"text": "still there?"})
        found = next_events(sock, 5)
        assert [e["type"] for e in found] == ["error", "error", "error", "error", "pong"]
        codes = [e["data"].get("code") for e in found[:4]]  # type: ignore[union-attr]
        assert codes == ["bad_event", "audio", "audio", "audio"]
        assert found[4]["data"] == {"text": "still there?"}
    assert daemon.call("status")["state"] == "idle"


def test_hang_ups_mid_stream_free_the_models(server: tuple[DaemonProcess, int]) -> None:
    daemon, port = server
    long_text = " ".join(["This sentence is here to make the reply long enough to hang up in the middle of it."] * 8)
    # Mid-synthesis: read the start of the audio, then hang up.
    with raw(port) as sock:
        send(sock, "synthesize", {"text": long_text})
        assert next_events(sock, 1)[0]["type"] == "audio-start"
    # Mid-upload: audio announced and partly sent, never stopped.
    with raw(port) as sock:
        send(sock, "transcribe")
        send(sock, "audio-start", {"rate": 16000, "width": 2, "channels": 1})
        send(sock, "audio-chunk", {"rate": 16000, "width": 2, "channels": 1}, b"\1\0" * 8000)
    # Mid-event: a payload promised and cut short.
    with raw(port) as sock:
        sock.sendall(json.dumps({"type": "audio-chunk", "payload_length": 1000}).encode() + b"\n" + b"\0" * 10)
    # Mid-stream synthesis: a stream opened and abandoned after a sentence.
    with raw(port) as sock:
        send(sock, "synthesize-start")
        send(sock, "synthesize-chunk", {"text": long_text})
        assert next_events(sock, 1)[0]["type"] == "audio-start"

    assert daemon.call("status")["state"] == "idle"
    # The next client is served in full, and nothing is left leased once it is done.
    question = "What is the capital of France?"
    assert wer(question, run(transcribe(HOST, port, speak_16k(question)))) <= 0.2
    assert run(synthesize(HOST, port, "Still here.")).cycles == 1
    for _ in range(50):
        if set(leases(daemon).values()) == {0}:
            break
        asyncio.run(asyncio.sleep(0.2))  # an abandoned synthesis drains in the worker
    assert set(leases(daemon).values()) == {0}
    assert daemon.proc is not None and daemon.proc.poll() is None
    assert os.path.exists(daemon.paths.socket)


def test_too_many_clients_at_once_are_told_so(server: tuple[DaemonProcess, int]) -> None:
    from assistant.wyoming.server import MAX_CLIENTS

    _, port = server
    idle = [raw(port) for _ in range(MAX_CLIENTS)]
    try:
        for sock in idle:  # each is being served: it answers a ping
            send(sock, "ping")
            assert next_events(sock, 1)[0]["type"] == "pong"
        with raw(port) as extra:
            (refused,) = events_until_closed(extra)
            assert refused["type"] == "error" and refused["data"]["code"] == "busy"  # type: ignore[index]
    finally:
        for sock in idle:
            sock.close()
    # Room again once the server has seen them go.
    for _ in range(50):
        with raw(port) as again:
            send(again, "ping")
            if next_events(again, 1)[0]["type"] == "pong":
                return
        time.sleep(0.1)
    raise AssertionError("still refusing clients after the others left")


def test_transcript_chunks_arrive_while_the_audio_streams_in(server: tuple[DaemonProcess, int]) -> None:
    """A client streaming a microphone at real-time pace sees words before it sends audio-stop; the chunks add
    up to the transcript (the wyoming package's own client and event types)."""
    from wyoming.asr import Transcribe, Transcript, TranscriptChunk, TranscriptStart
    from wyoming.audio import AudioChunk, AudioStart, AudioStop
    from wyoming.client import AsyncTcpClient

    from assistant.audio.pcm import to_pcm16

    _, port = server
    text = "The quick brown fox jumps over the lazy dog, and then it runs across the wide green field."
    pcm = to_pcm16(speak_16k(text))
    step = 3200  # 100 ms of 16 kHz 16-bit mono

    async def stream() -> tuple[list[tuple[str, str]], int]:
        client = AsyncTcpClient(HOST, port)
        await client.connect()
        events: list[tuple[str, str]] = []  # (type, text), in arrival order
        stopped_at = -1  # how many events had arrived when audio-stop went out

        async def read() -> None:
            while (event := await client.read_event()) is not None:
                if TranscriptChunk.is_type(event.type):
                    events.append((event.type, TranscriptChunk.from_event(event).text))
                elif Transcript.is_type(event.type):
                    events.append((event.type, Transcript.from_event(event).text))
                    return
                else:
                    events.append((event.type, ""))

        try:
            reader = asyncio.create_task(read())
            await client.write_event(Transcribe(language="en").event())
            await client.write_event(AudioStart(rate=16_000, width=2, channels=1).event())
            for offset in range(0, len(pcm), step):
                await client.write_event(AudioChunk(16_000, 2, 1, pcm[offset : offset + step]).event())
                await asyncio.sleep(0.1)
            stopped_at = len(events)
            await client.write_event(AudioStop().event())
            await asyncio.wait_for(reader, 120)
        finally:
            await client.disconnect()
        return events, stopped_at

    events, stopped_at = run(stream())
    kinds = [kind for kind, _ in events]
    assert kinds[0] == TranscriptStart().event().type and kinds[-1] == "transcript", kinds
    chunks = [chunk for kind, chunk in events if kind == "transcript-chunk"]
    assert any(kind == "transcript-chunk" for kind, _ in events[:stopped_at]), (stopped_at, events)  # while streaming
    whole = events[-1][1]
    assert wer(text, whole) <= 0.2, whole
    assert wer(whole, "".join(chunks)) <= 0.1, chunks
