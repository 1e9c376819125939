"""The engine registry: a new engine is one registration, and the catalog, model files, loader and arbiter
take it from there. The engines registered here are test engines, named so."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path

import pytest

from assistant.config.catalog import load_catalog
from assistant.config.settings import Config
from assistant.core.chat import ChatEvent, Message, TextDelta, ToolSpec
from assistant.core.errors import ConfigError
from assistant.core.models import EngineTable, ModelFiles, ModelSpec
from assistant.core.paths import Paths, shipped_catalog
from assistant.engines.files import locate, problem
from assistant.engines.loader import load_engine
from assistant.engines.registry import ENGINES, EngineInfo, Files, endpoint_of, find, options_of, register
from assistant.vram.arbiter import Arbiter
from assistant.vram.footprints import Footprints
from assistant.vram.meter import SimulatedMeter


class EchoTestOptions(EngineTable):
    greeting: str = "hello"


class EchoTestEndpoint(EngineTable):
    room: str


class BlobTestOptions(EngineTable):
    speed: float = 1.0


class EchoTestChat:
    """An in-loop test engine: says back the last message, with its greeting option."""

    device = "remote"

    def __init__(self, spec: ModelSpec) -> None:
        self.greeting = options_of(spec, EchoTestOptions).greeting
        self.room = endpoint_of(spec, EchoTestEndpoint).room
        self.opened = False

    async def open(self) -> None:
        self.opened = True

    async def close(self) -> None:
        self.opened = False

    async def chat(
        self, messages: Sequence[Message], max_tokens: int | None = None, tools: Sequence[ToolSpec] = ()
    ) -> AsyncIterator[ChatEvent]:
        for word in f"{self.greeting} from {self.room}: {messages[-1]['content']}".split(" "):
            yield TextDelta(word + " ")


def _echo(spec: ModelSpec, files: ModelFiles, device: str) -> EchoTestChat:
    return EchoTestChat(spec)


def _checked(spec: ModelSpec, files: ModelFiles, device: str) -> tuple[str, ModelFiles]:
    return ("loaded", files)


def _not_a_blob(path: Path, hint: str) -> str | None:
    return None if path.read_bytes().startswith(b"BLOB") else f"{path} is not a blob; {hint}"


@pytest.fixture
def test_engines() -> Iterator[None]:
    """The two registrations a new engine needs, one each; removed again after the test."""
    register(
        EngineInfo(
            name="echo-test",
            kind="llm",
            factory=_echo,
            options=EchoTestOptions,
            files=None,
            endpoint=EchoTestEndpoint,
            local_vram=False,
            in_loop=True,
        )
    )
    register(
        EngineInfo(
            name="blob-test",
            kind="tts",
            factory=_checked,
            options=BlobTestOptions,
            files=Files(single_file=True, config_suffix=".cfg", check=_not_a_blob),
        )
    )
    yield
    del ENGINES[("llm", "echo-test")], ENGINES[("tts", "blob-test")]


ECHO = """
[[model]]
id = "echo"
kind = "llm"
engine = "echo-test"
room = "the kitchen"
[model.options]
greeting = "hi"
"""

BLOB = """
[[model]]
id = "blob"
kind = "tts"
engine = "blob-test"
path = "voice.blob"
vram_gb = 1
"""


def test_a_registered_engine_goes_through_catalog_files_and_loader(test_engines: None, tmp_path: Path) -> None:
    catalog_file = tmp_path / "models.toml"
    catalog_file.write_text(ECHO + BLOB)
    catalog = load_catalog([shipped_catalog(), catalog_file])
    echo, blob = catalog.get("echo"), catalog.get("blob")
    assert echo.endpoint == EchoTestEndpoint(room="the kitchen") and echo.vram_gb == 0
    assert blob.options == BlobTestOptions(speed=1.0)  # the declared default, filled in
    assert ModelSpec.from_dict(echo.to_dict()) == echo  # what a worker receives

    # Files: located by the declaration (the config beside the model), checked by its check.
    assert locate(blob, tmp_path) == ModelFiles(tmp_path / "voice.blob", tmp_path / "voice.blob.cfg")
    (tmp_path / "voice.blob").write_bytes(b"junk")
    (tmp_path / "voice.blob.cfg").write_text("{}")
    assert problem(blob, tmp_path) == f"model blob: {tmp_path / 'voice.blob'} is not a blob; fix 'path' in models.toml"
    (tmp_path / "voice.blob").write_bytes(b"BLOB1")
    assert problem(blob, tmp_path) is None
    assert problem(echo, tmp_path) is None  # no files to be missing
    assert load_engine(blob, locate(blob, tmp_path), "cpu") == ("loaded", locate(blob, tmp_path))


def test_a_registered_in_loop_engine_serves_through_the_arbiter(test_engines: None, xdg: Paths) -> None:
    xdg.user_catalog.write_text(ECHO)
    config = Config.load(xdg)

    async def main() -> str:
        arbiter = Arbiter(config.catalog, SimulatedMeter(16), config.paths.models_dir, Footprints(None))
        try:
            async with arbiter.use("echo") as llm:
                assert llm.pid is None and llm.device == "remote"
                return "".join([e.text async for e in llm.stream("chat", messages=[{"role": "user", "content": "ping"}])])
        finally:
            await arbiter.shutdown()

    assert asyncio.run(main()).strip() == "hi from the kitchen: ping"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (ECHO.replace('room = "the kitchen"\n', ""), "missing required field 'room' for the echo-test engine"),
        (ECHO.replace('greeting = "hi"', "greeting = 3"), "field 'options.greeting' must be str"),
        (ECHO.replace('greeting = "hi"', "volume = 3"), "unknown option 'volume' for echo-test; allowed: greeting"),
        (ECHO.replace('room = "the kitchen"', 'room = "the kitchen"\npath = "x.bin"'), "the echo-test engine uses no local files: remove 'path'"),
        (ECHO.replace('room = "the kitchen"', 'room = "the kitchen"\nvram_gb = 2'), "takes no local VRAM"),
        (BLOB.replace('vram_gb = 1', 'vram_gb = 1\nroom = "hall"'), "field 'room' belongs to the echo-test engine, not blob-test"),
        (BLOB.replace('kind = "tts"', 'kind = "asr"'), "field 'engine': blob-test is a tts engine, not asr"),
        (BLOB.replace("vram_gb = 1\n", ""), "missing required field 'vram_gb'"),
    ],
)
def test_the_catalog_checks_a_registered_engine(test_engines: None, tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "models.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_catalog([shipped_catalog(), path])
    assert expected in info.value.message and "\n" not in info.value.message


def test_an_unregistered_engine_is_a_catalog_error(tmp_path: Path) -> None:
    path = tmp_path / "models.toml"
    path.write_text(ECHO.replace('room = "the kitchen"\n', ""))
    with pytest.raises(ConfigError, match=r"field 'engine' must be one of faster-whisper, .*, got 'echo-test'$"):
        load_catalog([shipped_catalog(), path])


def test_registering_twice_is_refused(test_engines: None) -> None:
    with pytest.raises(ValueError, match="registered twice"):
        register(EngineInfo(name="echo-test", kind="llm", factory=_echo, files=None, local_vram=False))


def test_every_shipped_model_names_a_registered_engine_of_its_kind() -> None:
    catalog = load_catalog([shipped_catalog()])
    for spec in catalog.models.values():
        assert find(spec.kind, spec.engine) is not None
    openai = find("llm", "openai")
    assert openai is not None and not openai.local_vram and openai.files is None


class AsrOnlyOptions(EngineTable):
    asr_only: int = 1


class TtsOnlyOptions(EngineTable):
    tts_only: int = 1


def test_one_name_for_two_kinds_is_two_registrations(xdg: Paths) -> None:
    """Like a Wyoming client, which is both an ASR and a TTS engine: kind and engine pick the registration."""
    registered = [
        register(EngineInfo(name="pair-test", kind=kind, factory=_echo, files=None, local_vram=False,
                            endpoint=EchoTestEndpoint, options=options))
        for kind, options in (("asr", AsrOnlyOptions), ("tts", TtsOnlyOptions))
    ]
    try:
        xdg.user_catalog.write_text(
            '[[model]]\nid = "ears"\nkind = "asr"\nengine = "pair-test"\nroom = "hall"\n'
            '[[model]]\nid = "mouth"\nkind = "tts"\nengine = "pair-test"\nroom = "hall"\n'
            "[model.options]\ntts_only = 3\n"
        )
        catalog = Config.load(xdg).catalog
        assert catalog.get("ears").options == AsrOnlyOptions(asr_only=1)
        assert catalog.get("mouth").options == TtsOnlyOptions(tts_only=3)
        xdg.user_catalog.write_text('[[model]]\nid = "x"\nkind = "llm"\nengine = "pair-test"\nroom = "hall"\n')
        with pytest.raises(ConfigError, match="field 'engine': pair-test is a asr/tts engine, not llm"):
            Config.load(xdg)
    finally:
        for info in registered:
            del ENGINES[(info.kind, info.name)]


def test_only_an_llm_whose_options_turn_tools_off_is_offered_none() -> None:
    from assistant.engines.options import LlamaOptions, OpenAIOptions

    assert EngineTable().calls_tools and OpenAIOptions().calls_tools
    assert LlamaOptions().calls_tools and LlamaOptions(tool_format="grammar").calls_tools
    assert not LlamaOptions(tool_format="none").calls_tools
