"""The LLM route on the real daemon: tools from a real MCP server, called by a model, results spoken back.

No chat model on PyPI follows a tool format, so the LLM here is `ScriptedChatModel` (engine
`scripted-test`): it goes through the real catalog, worker process and event stream, and can only
quote a tool's result after the daemon has sent it back. Everything else is real: the daemon, the
socket, the MCP SDK's client and a server written with its MCPServer (FastMCP), the TTS.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..daemon_process import SCRIPTED, DaemonProcess, private_xdg
from ..waiting import wait_for

pytestmark = pytest.mark.tools

SERVER = Path(__file__).parents[1] / "mcp_server.py"
# The stand-in LLM (tests/daemon_process.py), streaming 5 characters at a time, as the default.
SCRIPTED_LLM = SCRIPTED + '[model.options]\nchunk_chars = 5\n\n[defaults]\nllm = "scripted-tools"\n'

def _script(server: str) -> dict[str, Any]:
    def call(tool: str, **arguments: Any) -> list[dict[str, Any]]:
        return [{"tool": f"{server}__{tool}", "arguments": arguments}]

    return {
        "turns": [
            {"match": "add", "rounds": [call("add", a=12, b=30), [{"text": "The sum is {result}."}]]},
            {"match": "lights", "rounds": [call("lights", room="kitchen", on=False), [{"text": "{result}"}]]},
            {"match": "wait", "rounds": [[{"text": "Let me wait. "}, *call("slow", seconds=120)], [{"text": "{result}"}]]},
            # The model would claim success after a failure; the daemon must speak the failure instead.
            {"match": "broken", "rounds": [call("broken"), [{"text": "All done, it worked perfectly."}]]},
        ],
        "default": [[{"text": "I have no script for that."}]],
    }


def _start(root: Path, mcp_toml: str, server: str) -> DaemonProcess:
    paths, env = private_xdg(root)
    paths.user_catalog.write_text(SCRIPTED_LLM)
    (paths.config_dir / "script.json").write_text(json.dumps(_script(server)))
    paths.config_file.write_text(mcp_toml)
    return DaemonProcess(paths, "--no-audio", env=env).start(timeout=300)


@pytest.fixture(scope="module")
def connected(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DaemonProcess, Path]]:
    root = tmp_path_factory.mktemp("connected")
    markers = root / "markers"
    toml = f'[[mcp]]\nname = "testtools"\ncommand = {json.dumps(sys.executable)}\nargs = [{json.dumps(str(SERVER))}, {json.dumps(str(markers))}]\n'
    daemon = _start(root, toml, "testtools")
    try:
        wait_for(lambda: daemon.call("mcp.status")[0]["connected"], timeout=120, interval=0.2, what="the MCP server to connect")
        yield daemon, markers
    finally:
        daemon.__exit__(None, None, None)


def _marks(markers: Path, prefix: str) -> list[str]:
    return sorted(p.read_text() for p in markers.glob(f"{prefix}-*")) if markers.exists() else []


def test_mcp_tools_are_listed_under_the_server_name(connected: tuple[DaemonProcess, Path]) -> None:
    daemon, _ = connected
    [server] = daemon.call("mcp.status")
    assert server["name"] == "testtools" and server["error"] is None
    assert set(server["tools"]) == {"testtools__add", "testtools__lights", "testtools__slow", "testtools__broken"}


def test_a_tool_call_runs_its_result_reaches_the_model_and_the_answer_is_spoken(
    connected: tuple[DaemonProcess, Path],
) -> None:
    daemon, markers = connected
    answer = daemon.json("ask", "please add twelve and thirty")
    # 42 exists only in the MCP server's answer: the model can only say it if the result came back.
    assert answer["reply"] == "The sum is 42." and answer["error"] is None
    assert Path(answer["audio_path"]).stat().st_size > 1000  # spoken (no sound device here: into a WAV)
    assert "12+30" in _marks(markers, "add")
    [turn] = [t for t in daemon.json("history") if t["id"] == answer["id"]]
    [call] = turn["tools"]
    assert call["name"] == "testtools__add" and call["arguments"] == {"a": 12, "b": 30}
    assert call["result"] == "42" and call["ok"] is True and call["route"] == "llm" and call["ms"] > 0
    print(f"\nLLM route, one tool round trip (scripted engine + MCP stdio): turn {turn['timings']['total_s']:.3f} s, tool {call['ms']:.1f} ms")


def test_a_connected_home_server_takes_the_lights_request(connected: tuple[DaemonProcess, Path]) -> None:
    daemon, markers = connected
    answer = daemon.json("ask", "--no-speak", "turn off the lights in the kitchen")
    assert answer["reply"] == "The kitchen lights are now off."
    assert "kitchen:False" in _marks(markers, "lights")
    assert [t["name"] for t in answer["tools"]] == ["testtools__lights"]


def test_a_failing_tool_becomes_an_honest_sentence(connected: tuple[DaemonProcess, Path]) -> None:
    daemon, _ = connected
    answer = daemon.json("ask", "--no-speak", "use the broken tool")
    assert "worked perfectly" not in answer["reply"]
    assert "could not" in answer["reply"] and "broken" in answer["reply"]
    [call] = answer["tools"]
    assert call["ok"] is False and call["route"] == "llm"


def test_a_barge_in_cancels_a_running_tool_call(connected: tuple[DaemonProcess, Path]) -> None:
    daemon, markers = connected
    replies: list[Any] = []
    asking = threading.Thread(target=lambda: replies.append(daemon.json("ask", "--no-speak", "please wait a while")))
    asking.start()
    wait_for(lambda: _marks(markers, "slow-started"), timeout=120, interval=0.2, what="the slow tool to start")
    assert daemon.json("ptt", "cancel") == {"cancelled": True}
    asking.join(60)
    assert not asking.is_alive()
    [answer] = replies
    assert answer["interrupted"] is True and "Waited" not in answer["full_reply"]
    [call] = answer["tools"]  # the history keeps the call, and that it did not finish
    assert call["name"] == "testtools__slow" and call["result"] == "cancelled" and call["ok"] is False
    # The cancel reached the tool on the server: it saw CancelledError long before its 120 s were up.
    wait_for(lambda: _marks(markers, "slow-cancelled"), timeout=30, interval=0.2, what="the server to see the cancel")
    assert daemon.json("ask", "--no-speak", "add them again")["reply"] == "The sum is 42."  # still serving


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_server_that_is_down_is_reported_once_retried_and_never_blocks_a_turn(tmp_path: Path) -> None:
    port = _free_port()
    toml = f'[[mcp]]\nname = "home"\nurl = "http://127.0.0.1:{port}/mcp"\nretry_s = 1\n'
    daemon = _start(tmp_path, toml, "home")
    http_server: subprocess.Popen[bytes] | None = None
    try:
        [state] = wait_for(lambda: [s for s in daemon.call("mcp.status") if s["error"]], timeout=120, interval=0.2, what="the outage to be reported")
        assert state["connected"] is False and state["tools"] == []
        # Nothing connected: the lights get an honest "I can't", and no tool is claimed.
        answer = daemon.json("ask", "--no-speak", "turn off the lights in the kitchen")
        assert answer["reply"].startswith("I can't") and "[[mcp]]" in answer["reply"] and answer["tools"] == []
        assert "off" not in answer["reply"].split(":")[0]  # no "I turned them off"
        time.sleep(3)  # several retries
        assert daemon.log.read_text().count("MCP server home is not connected") == 1
        # The server comes up: the next retry connects it, over streamable HTTP, and the LLM gets its tools.
        http_server = subprocess.Popen(
            [sys.executable, str(SERVER), str(tmp_path / "markers"), "--http", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(lambda: daemon.call("mcp.status")[0]["connected"], timeout=120, interval=0.2, what="the retry to connect")
        answer = daemon.json("ask", "--no-speak", "turn off the lights in the kitchen")
        assert answer["reply"] == "The kitchen lights are now off." and answer["tools"][0]["name"] == "home__lights"
    finally:
        if http_server is not None:
            http_server.terminate()
            http_server.wait(10)
        daemon.__exit__(None, None, None)
