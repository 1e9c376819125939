"""A remote LLM in the real daemon: llama-cpp-python's OpenAI-compatible server on loopback, the daemon's
turns through it, barge-in, a server killed mid-reply, a server down; the arbiter never evicts for it."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from assistant.config.settings import Config
from assistant.core.errors import AssistantError
from assistant.core.paths import Paths
from assistant.vram.arbiter import Arbiter
from assistant.vram.footprints import Footprints
from assistant.vram.meter import SimulatedMeter

from ..daemon_process import DaemonProcess
from ..llm_server import LlamaServer, free_port, openai_model
from ..pulse import Pulse, pulse  # noqa: F401  (the session fixture)
from ..speech import speak_16k, wer
from ..waiting import wait_for

pytestmark = pytest.mark.remote

REMOTE = "remote-smollm2"
STORY = "Tell me a very long story about a brave knight, a dragon and a castle."


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    srv = LlamaServer(tmp_path_factory.mktemp("llama")).start()
    yield srv
    srv.stop()


def remote_default(paths: Paths, base_url: str, max_tokens: int = 48) -> None:
    """The user's models.toml: the remote model, and it as the default LLM."""
    entry = openai_model(REMOTE, base_url, max_tokens=max_tokens, temperature=0.2)
    paths.user_catalog.write_text(entry + f'\n[defaults]\nllm = "{REMOTE}"\n')


def ask_in_thread(daemon: DaemonProcess, text: str) -> tuple[threading.Thread, dict[str, Any]]:
    outcome: dict[str, Any] = {}

    def ask() -> None:
        try:
            outcome["turn"] = daemon.call("ask", text=text, speak=False)
        except AssistantError as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=ask)
    thread.start()
    return thread, outcome


def test_a_turn_with_the_remote_llm(xdg: Paths, server: LlamaServer) -> None:
    remote_default(xdg, server.base_url)
    with DaemonProcess(xdg, "--no-audio") as daemon:
        daemon.wait_warm()
        answer = daemon.json("ask", "What is the capital of France?")  # the reply is also spoken, into a WAV
        status = daemon.json("status")
        vram = daemon.json("vram", "status")
        workers = daemon.worker_pids()
        listed = {row["id"]: row for row in daemon.json("llm", "list")}
    assert answer["llm"] == REMOTE and answer["reply"] and answer["error"] is None
    assert answer["audio_path"]  # synthesized by the local voice from the remote reply
    assert status["llm"] == REMOTE
    row = next(m for m in vram["models"] if m["id"] == REMOTE)
    assert row["state"] == "idle" and row["device"] == "remote" and row["pid"] is None
    assert vram["used_gb"] == pytest.approx(0.4 + 0.2)  # the local ASR and voice only: the remote LLM takes none
    assert len(workers) == 2  # the ASR and the voice; no process for the remote model
    assert listed[REMOTE]["current"] and listed[REMOTE]["present"]
    assert server.text().count('"POST /v1/chat/completions HTTP/1.1" 200') >= 1


@pytest.mark.audio
def test_a_voice_turn_with_the_remote_llm(xdg: Paths, server: LlamaServer, pulse: Pulse, tmp_path: Any) -> None:  # noqa: F811
    """Press, speak into the virtual mic, release: local ASR, the remote LLM, the local voice on the sink."""
    remote_default(xdg, server.base_url)
    question = "Why is the sky blue?"
    with DaemonProcess(xdg, env=pulse.env) as daemon:
        daemon.wait_warm()
        assert daemon.call("ptt.press")["state"] == "listening"
        pulse.mic.feed(speak_16k(question))
        pulse.mic.wait()
        time.sleep(0.3)  # the fifo and the capture stream each hold a little audio
        with pulse.record(tmp_path / "reply.wav") as recording:
            daemon.call("ptt.release")
            wait_for(lambda: len(daemon.call("history")) == 1, timeout=120, interval=0.02, what="the turn in the history")
            wait_for(lambda: daemon.call("status")["state"] == "idle", timeout=120, interval=0.02, what="the daemon to be idle")
        turn = daemon.call("history")[-1]
        heard = daemon.cli("transcribe", str(recording.path))
    assert turn["llm"] == REMOTE and turn["error"] is None, turn
    assert wer(question, turn["transcript"]) <= 0.25, turn["transcript"]
    assert turn["reply"] and not turn["interrupted"] and turn["audio_path"] is None  # played, not filed
    assert heard.returncode == 0 and wer(turn["reply"], heard.stdout) <= 0.3, (turn["reply"], heard.stdout)


def test_barge_in_closes_the_stream(xdg: Paths, server: LlamaServer) -> None:
    remote_default(xdg, server.base_url, max_tokens=1500)
    with DaemonProcess(xdg, "--no-audio") as daemon:
        daemon.wait_warm()
        after = len(server.text())
        thread, outcome = ask_in_thread(daemon, STORY)
        server.wait_for('"POST /v1/chat/completions HTTP/1.1" 200', after=after)  # the reply is streaming
        time.sleep(0.3)
        assert daemon.call("ptt.cancel")["cancelled"]
        thread.join(60)
        server.wait_for("Disconnected from client", timeout=30, after=after)
        again = daemon.call("ask", text="Say hello.", speak=False)
    assert outcome["turn"]["interrupted"], outcome
    assert again["reply"] and not again["interrupted"]


def test_server_killed_mid_reply_then_back(xdg: Paths, tmp_path: Any) -> None:
    srv = LlamaServer(tmp_path).start()
    remote_default(xdg, srv.base_url, max_tokens=1500)
    try:
        with DaemonProcess(xdg, "--no-audio") as daemon:
            daemon.wait_warm()
            thread, outcome = ask_in_thread(daemon, STORY)
            srv.wait_for('"POST /v1/chat/completions HTTP/1.1" 200')
            time.sleep(0.3)
            srv.kill()
            thread.join(60)
            failed = daemon.call("history")[-1]
            srv.start()  # the same port again
            again = daemon.cli("ask", "--no-speak", "Say hello.")
            assert daemon.call("status")["state"] == "idle"
    finally:
        srv.stop()
    error = outcome["error"]
    assert error.code == "remote_closed"
    assert error.message.startswith(f"the LLM server at {srv.base_url} closed the connection mid-reply")
    assert failed["error"] == error.message and failed["llm"] == REMOTE
    assert again.returncode == 0 and again.stdout.strip(), again.stderr


def test_server_down_is_one_line_and_the_daemon_keeps_running(xdg: Paths) -> None:
    base_url = f"http://127.0.0.1:{free_port()}/v1"
    remote_default(xdg, base_url)
    with DaemonProcess(xdg, "--no-audio") as daemon:
        proc = daemon.cli("ask", "--no-speak", "Hello?")
        status = daemon.json("status")
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: cannot reach the LLM server at {base_url} ("), proc.stderr
    assert status["state"] == "idle" and status["last_turn"]["error_code"] == "remote_unreachable"


def test_models_list_and_check_ask_the_server(xdg: Paths, server: LlamaServer) -> None:
    xdg.user_catalog.write_text(
        openai_model(REMOTE, server.base_url)
        + openai_model("remote-typo", server.base_url, model="smollm3")
        + openai_model("remote-down", f"http://127.0.0.1:{free_port()}/v1")
    )
    daemon = DaemonProcess(xdg)  # only its CLI: these commands need no daemon
    rows = {row["id"]: row for row in daemon.json("models", "list")}
    check = daemon.cli("models", "check")
    assert rows[REMOTE]["engine"] == "openai" and rows[REMOTE]["source"] == f"remote:{server.base_url}"
    assert rows[REMOTE]["vram_gb"] == 0 and rows[REMOTE]["present"]
    assert check.returncode == 0, check.stderr
    lines = {line.split()[1]: line for line in check.stdout.splitlines()[1:]}
    assert lines[REMOTE].startswith("ok ")
    assert lines["remote-typo"].startswith("-- ") and "does not serve the model 'smollm3'; it serves smollm2" in lines["remote-typo"]
    assert lines["remote-down"].startswith("-- ") and "cannot reach the LLM server" in lines["remote-down"]


def test_the_arbiter_never_evicts_for_a_remote_model(xdg: Paths, server: LlamaServer) -> None:
    """A full, leased card: a local model would wait and fail; the remote one loads at once, evicting nothing."""
    xdg.user_catalog.write_text(openai_model(REMOTE, server.base_url))
    config = Config.load(xdg)
    meter = SimulatedMeter(total_gb=16, other_gb=15.4)  # another program holds the card; 0.1 GB left to plan with

    async def main() -> tuple[list[dict[str, Any]], dict[str, Any]]:
        arbiter = Arbiter(config.catalog, meter, config.paths.models_dir, Footprints(None), reserve_gb=0.5, wait_timeout_s=1)
        try:
            with pytest.raises(AssistantError, match="Model .whisper-tiny-en. needs 0.4 GB but the VRAM budget is only"):
                await arbiter.ensure("whisper-tiny-en")  # a local model does not fit
            async with arbiter.use(REMOTE) as llm:
                reply = [e async for e in llm.stream("chat", messages=[{"role": "user", "content": "Hi."}], max_tokens=8)]
                assert reply
            return list(arbiter.events), arbiter.snapshot()
        finally:
            await arbiter.shutdown()

    events, snapshot = asyncio.run(main())
    assert [e.event for e in events if e.model == REMOTE] == ["load"]
    assert not [e for e in events if e.event == "evict"]
    row = next(m for m in snapshot.models if m.id == REMOTE)
    assert row.device == "remote" and row.pid is None and row.state == "idle"
    assert meter.memory().used_gb == pytest.approx(15.4)  # nothing placed on the card


def test_a_prefill_on_the_remote_model_is_a_quiet_none(xdg: Paths, server: LlamaServer) -> None:
    """At each press the daemon prefills the LLM; a remote one has no cache of ours to fill, and says so without an error."""
    from assistant.turn.assistant import Assistant

    remote_default(xdg, server.base_url)

    async def main() -> dict[str, int] | None:
        assistant = Assistant.create(Config.load(xdg), SimulatedMeter(16.0), persist=False)
        try:
            await assistant.arbiter.ensure(REMOTE)
            return await assistant.pipeline.prefill(REMOTE)
        finally:
            await assistant.close()

    assert asyncio.run(main()) is None
