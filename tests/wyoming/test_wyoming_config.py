"""Wyoming settings and catalog entries, PCM conversion and the bounded event reader: pure logic, plus the
listener on a Unix socket and a daemon whose Wyoming port is taken."""

from __future__ import annotations

import asyncio
import json
import socket
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from wyoming.client import AsyncUnixClient
from wyoming.info import Describe, Info

from assistant.audio.pcm import from_pcm, to_pcm16
from assistant.config.catalog import load_catalog
from assistant.config.settings import Config, WyomingBind, load_settings, parse_wyoming_uri
from assistant.core.errors import AudioError, ConfigError
from assistant.core.models import ModelSpec
from assistant.core.paths import Paths, shipped_catalog
from assistant.engines.options import WyomingEndpoint
from assistant.engines.registry import takes_local_vram
from assistant.turn.assistant import Assistant
from assistant.vram.meter import SimulatedMeter
from assistant.wyoming.events import MAX_PAYLOAD, BadEvent, read_event
from assistant.wyoming.server import start_wyoming

pytestmark = pytest.mark.wyoming

# ---------------------------------------------------------------- config.toml [wyoming]


def test_the_server_is_off_by_default(xdg: Paths) -> None:
    assert load_settings(xdg.config_file).wyoming_bind is None


@pytest.mark.parametrize(
    "uri,bind",
    [
        ("tcp://127.0.0.1:10700", WyomingBind("tcp", host="127.0.0.1", port=10700)),
        ("tcp://:10700", WyomingBind("tcp", host="127.0.0.1", port=10700)),  # no host: loopback
        ("tcp://0.0.0.0:10700", WyomingBind("tcp", host="0.0.0.0", port=10700)),  # written out: as written
        ("tcp://[::1]:10700", WyomingBind("tcp", host="::1", port=10700)),
        ("unix:///run/user/1000/wyoming.sock", WyomingBind("unix", path="/run/user/1000/wyoming.sock")),
    ],
)
def test_uri_forms(uri: str, bind: WyomingBind) -> None:
    assert parse_wyoming_uri(uri) == bind


@pytest.mark.parametrize(
    "uri,says",
    [
        ("http://127.0.0.1:10700", "must start with tcp:// or unix://"),
        ("tcp://127.0.0.1", "has no port"),
        ("tcp://127.0.0.1:99999", "is not valid"),
        ("tcp://127.0.0.1:10700/x", "has a path"),
        ("unix://", "names no socket path"),
        ("10700", "must start with tcp:// or unix://"),
    ],
)
def test_bad_uris_are_one_line_errors(xdg: Paths, uri: str, says: str) -> None:
    xdg.config_file.write_text(f'[wyoming]\nuri = "{uri}"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(xdg.config_file)
    assert says in caught.value.message and str(xdg.config_file) in caught.value.message
    assert "\n" not in caught.value.message


def test_unknown_wyoming_field_is_refused(xdg: Paths) -> None:
    xdg.config_file.write_text('[wyoming]\nurl = "tcp://127.0.0.1:10700"\n')
    with pytest.raises(ConfigError, match="unknown field 'url'"):
        load_settings(xdg.config_file)


# ---------------------------------------------------------------- models.toml engine = "wyoming"

REMOTE = """
[[model]]
id = "remote-asr"
kind = "{kind}"
engine = "wyoming"
{extra}
"""


def catalog_with(xdg: Paths, kind: str = "asr", extra: str = 'uri = "tcp://192.168.1.10:10300"') -> ModelSpec:
    xdg.user_catalog.write_text(REMOTE.format(kind=kind, extra=extra))
    return load_catalog([shipped_catalog(), xdg.user_catalog]).get("remote-asr")


def test_a_wyoming_model_needs_only_a_uri_and_takes_no_vram(xdg: Paths) -> None:
    spec = catalog_with(xdg)
    assert (spec.engine, spec.vram_gb, spec.endpoint) == ("wyoming", 0.0, WyomingEndpoint(uri="tcp://192.168.1.10:10300"))
    assert not takes_local_vram(spec)
    assert ModelSpec.from_dict(spec.to_dict()) == spec  # as it travels to its worker
    assert catalog_with(xdg, "tts", 'uri = "unix:///run/piper.sock"\nvram_gb = 0').kind == "tts"


@pytest.mark.parametrize(
    "kind,extra,says",
    [
        ("llm", 'uri = "tcp://h:1"', "wyoming is a asr/tts engine, not llm"),
        ("asr", "", "missing required field 'uri'"),
        ("asr", 'uri = "tcp://h:1"\nvram_gb = 2', "takes no local VRAM"),
        ("asr", 'uri = "http://h:1"', "must be tcp://HOST:PORT or unix://PATH"),
        ("asr", 'uri = "tcp://h"', "must be tcp://HOST:PORT or unix://PATH"),
        ("asr", 'uri = "tcp://h:1"\npath = "x"', "uses no local files"),
        ("asr", 'uri = "tcp://h:1"\ndevice = "cuda"', "does not apply to wyoming"),
        ("asr", 'uri = "tcp://h:1"\n[model.options]\nbeam_size = 1', "unknown option 'beam_size' for wyoming"),
    ],
)
def test_bad_wyoming_models_are_one_line_errors(xdg: Paths, kind: str, extra: str, says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        catalog_with(xdg, kind, extra)
    assert says in caught.value.message and "remote-asr" in caught.value.message


def test_uri_on_a_local_engine_is_refused(xdg: Paths) -> None:
    xdg.user_catalog.write_text('[[model]]\nid = "p"\nkind = "tts"\nengine = "piper"\nvram_gb = 0\nuri = "tcp://h:1"\n')
    with pytest.raises(ConfigError, match="field 'uri' belongs to the wyoming engine, not piper"):
        load_catalog([shipped_catalog(), xdg.user_catalog])


# ---------------------------------------------------------------- PCM


@given(st.lists(st.floats(-1.0, 1.0, width=32), max_size=500))
def test_pcm16_round_trip(values: list[float]) -> None:
    audio = np.array(values, dtype=np.float32)
    back = from_pcm(to_pcm16(audio), 2, 1)
    assert back.dtype == np.float32 and len(back) == len(audio)
    assert np.all(np.abs(back - audio) <= 2 / 32768)


def test_pcm_channels_are_averaged_and_bad_widths_refused() -> None:
    stereo = np.array([1000, -1000, 2000, 2000], dtype="<i2").tobytes()
    assert np.allclose(from_pcm(stereo, 2, 2), [0.0, 2000 / 32768])
    with pytest.raises(AudioError, match="width 3"):
        from_pcm(b"\0" * 6, 3, 1)
    with pytest.raises(AudioError, match="do not divide"):
        from_pcm(b"\0" * 3, 2, 1)


# ---------------------------------------------------------------- the bounded reader


def read(data: bytes) -> object:
    async def go() -> object:
        reader = asyncio.StreamReader()
        reader.feed_data(data)
        reader.feed_eof()
        return await read_event(reader)

    return asyncio.run(go())


def test_reader_merges_data_and_reads_payload() -> None:
    data = json.dumps({"text": "hi"}).encode()
    header = {"type": "synthesize", "data": {"a": 1}, "data_length": len(data), "payload_length": 3}
    event = read(json.dumps(header).encode() + b"\n" + data + b"abc")
    assert event.type == "synthesize" and event.data == {"a": 1, "text": "hi"}  # type: ignore[attr-defined]
    assert event.payload == b"abc"  # type: ignore[attr-defined]
    assert read(b"") is None


@pytest.mark.parametrize(
    "raw,says",
    [
        (b"[1, 2]\n", "without a string 'type'"),
        (b'{"type": 5}\n', "without a string 'type'"),
        (b'{"type": "x", "data": [1]}\n', "'data' that is not an object"),
        (json.dumps({"type": "x", "payload_length": MAX_PAYLOAD + 1}).encode() + b"\n", "the limit is"),
        (b'{"type": "x", "payload_length": -1}\n', "not a byte count"),
        (b'{"type": "x", "data_length": 4}\n[1]\n', "not a JSON object"),
        (b'{"type": "x", "payload_length": 10}\nabc', "cut short"),
    ],
)
def test_reader_refuses_malformed_events(raw: bytes, says: str) -> None:
    with pytest.raises(BadEvent, match=says):
        read(raw)


# ---------------------------------------------------------------- the listener


def test_unix_socket_is_private_and_removed_on_close(config: Config, tmp_path: Path) -> None:
    path = tmp_path / "sock" / "wyoming.sock"

    async def go() -> Info:
        assistant = Assistant.create(config, SimulatedMeter(16.0), persist=False)
        server = await start_wyoming(parse_wyoming_uri(f"unix://{path}"), assistant.arbiter, lambda: assistant.models)
        try:
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
            async with AsyncUnixClient(path) as client:
                await client.write_event(Describe().event())
                event = await client.read_event()
                assert event is not None
                return Info.from_event(event)
        finally:
            await server.close()
            await assistant.close()

    info = asyncio.run(go())
    assert info.asr[0].models[0].name == config.catalog.defaults["asr"]
    assert not path.exists()


def test_a_taken_port_stops_the_daemon_with_one_line(xdg: Paths) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        xdg.config_file.write_text(f'[wyoming]\nuri = "tcp://127.0.0.1:{port}"\n')
        proc = subprocess.run(
            [sys.executable, "-m", "assistant", "run", "--no-audio", "--no-hotkeys", "--simulate-gpu", "16"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert proc.returncode == 1
    assert proc.stdout.strip() == (
        f"error: cannot serve Wyoming on tcp://127.0.0.1:{port} (Address already in use); "
        "pick another address in config.toml [wyoming] uri"
    )
