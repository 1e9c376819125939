"""The engine registry: each engine declared once; the catalog, model files, loader and arbiter read it.

Adding an engine is one module and one registration. Write `assistant/engines/NAME.py` (the engine class,
its heavy imports inside it), then register it at the end of this file:

    class MineOptions(EngineTable):          # in engines/options.py: [model.options] as a pydantic model
        speed: float = 1.0

    def _mine(spec: ModelSpec, files: ModelFiles, device: str) -> Synthesizer:
        from assistant.engines.mine import MineSynthesizer   # imported only where the engine runs

        return MineSynthesizer(files.path, device, options_of(spec, MineOptions), spec.id)

    register(EngineInfo(
        name="mine",                         # models.toml's `engine = "mine"`
        kind="tts",                          # asr | llm | tts
        factory=_mine,                       # (spec, files, device) -> the engine object
        options=MineOptions,                 # [model.options]: types and defaults; anything else is an error
        files=Files(single_file=True),       # how its files are found and checked; None: no files (a remote server)
    ))

A remote engine (a server reached over the network) declares `files=None`, `local_vram=False` (the
arbiter then never plans, evicts or waits for it), its own top-level models.toml fields as an `endpoint`
model, kept in `ModelSpec.endpoint`, and optionally a `probe` that `assistant models check` uses to ask the server.
With `in_loop=True` its factory returns an async engine that runs in the daemon's loop (see inloop.py),
as the `openai` LLM does; without, it runs in a worker process like any other, as the Wyoming ASR client:

    register(EngineInfo(name="wyoming", kind="asr", factory=_wyoming_asr, files=None, local_vram=False,
                        endpoint=WyomingEndpoint))

A test engine registers the same way and is loaded through the same worker path; its script is the
model's file, and it takes no VRAM of its own:

    register(EngineInfo(name="scripted-test", kind="llm", factory=_scripted, files=Files(single_file=True),
                        local_vram=False, options=ScriptedOptions))

A name may be registered once per kind: `wyoming` as an ASR and as a TTS engine are two registrations,
each with its own factory and options; a model's `kind` and `engine` together pick one.

Registrations live here, at import time, so every process (the daemon and each spawned worker) sees the
same table; registering at run time reaches only the process that does it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from assistant.core.models import EngineTable, Kind, ModelFiles, ModelSpec
from assistant.engines.base import AsyncChatModel, ChatModel, Engine, Synthesizer, Transcriber
from assistant.engines.options import (
    CoquiOptions,
    LlamaOptions,
    OpenAIEndpoint,
    OpenAIOptions,
    PiperOptions,
    ScriptedOptions,
    WhisperOptions,
    WyomingEndpoint,
    WyomingOptions,
)

GGUF_MAGIC = b"GGUF"
T = TypeVar("T", bound=EngineTable)


@dataclass(frozen=True)
class Files:
    """How a local engine's files are found and checked."""

    # From an hf_repo the model is the first of hf_files (a GGUF, an ONNX), not the fetched directory.
    single_file: bool = False
    # When models.toml gives no config_path: the model's path plus this suffix (Piper's `.onnx.json`) ...
    config_suffix: str | None = None
    # ... or, for an hf_repo, this file in the fetched directory (Coqui's config.json).
    repo_config: str | None = None
    # Why the files at a path are not this engine's (None when they look right); `hint` says how to fix it.
    check: Callable[[Path, str], str | None] | None = None
    # An option naming a model the engine finds by itself, which makes a source optional (Coqui's model_name).
    named_by_option: str | None = None


Factory = Callable[[ModelSpec, ModelFiles, str], Engine]
Probe = Callable[["ModelSpec"], Awaitable["str | None"]]


@dataclass(frozen=True)
class EngineInfo:
    name: str
    kind: Kind
    factory: Factory
    options: type[EngineTable] = EngineTable  # [model.options]; the empty table: it takes none
    files: Files | None = field(default_factory=Files)  # None: no local files (a remote server)
    endpoint: type[EngineTable] = EngineTable  # its own top-level models.toml fields (a server's address)
    local_vram: bool = True  # False: the arbiter never plans, evicts or waits for it
    in_loop: bool = False  # True: an async engine in the daemon's loop, not a worker process
    probe: Probe | None = None  # `models check`: None if the server serves the model, else why not


ENGINES: dict[tuple[str, str], EngineInfo] = {}  # (kind, name) -> its declaration


def register(info: EngineInfo) -> EngineInfo:
    key = (info.kind, info.name)
    if key in ENGINES:
        raise ValueError(f"the {info.kind} engine {info.name!r} is registered twice")
    ENGINES[key] = info
    return info


def find(kind: str, name: str) -> EngineInfo | None:
    return ENGINES.get((kind, name))


def engine_info(spec: ModelSpec) -> EngineInfo:
    """The declaration of a model's engine; the catalog has already rejected unknown engines."""
    return ENGINES[(spec.kind, spec.engine)]


def engine_names() -> list[str]:
    return list(dict.fromkeys(name for _, name in ENGINES))


def kinds_of(name: str) -> list[str]:
    return [kind for kind, engine in ENGINES if engine == name]


def options_of(spec: ModelSpec, kind: type[T]) -> T:
    """The model's options as its engine declares them; the catalog built them of this type."""
    if type(spec.options) is EngineTable:  # a spec made in code with no options: the engine's defaults
        return kind()
    if not isinstance(spec.options, kind):
        raise TypeError(f"model {spec.id}: options are {type(spec.options).__name__}, not {kind.__name__}")
    return spec.options


def endpoint_of(spec: ModelSpec, kind: type[T]) -> T:
    if not isinstance(spec.endpoint, kind):
        raise TypeError(f"model {spec.id}: endpoint is {type(spec.endpoint).__name__}, not {kind.__name__}")
    return spec.endpoint


def takes_local_vram(spec: ModelSpec) -> bool:
    return engine_info(spec).local_vram


def all_fields() -> dict[str, str]:
    """Every engine-declared models.toml field, with the engine that declares it."""
    return {name: info.name for info in ENGINES.values() for name in info.endpoint.model_fields}


# ---------------------------------------------------------------- file checks


def _ctranslate2_dir(path: Path, hint: str) -> str | None:
    if not (path / "model.bin").exists():
        return f"{path} has no model.bin (not a CTranslate2 Whisper model); {hint}"
    return None


def _gguf(path: Path, hint: str) -> str | None:
    if path.is_dir():
        return f"{path} is a directory, expected a .gguf file; {hint}"
    try:
        with path.open("rb") as f:
            magic = f.read(4)
    except OSError as exc:
        return f"cannot read {path} ({exc.strerror}); check its permissions"
    if magic != GGUF_MAGIC:
        return f"{path} is not a GGUF file; replace it with a valid .gguf"
    return None


# ---------------------------------------------------------------- the engines


def _path(files: ModelFiles) -> Path:
    assert files.path is not None  # the catalog requires a source for these engines
    return files.path


def _faster_whisper(spec: ModelSpec, files: ModelFiles, device: str) -> Transcriber:
    from assistant.engines.faster_whisper import WhisperTranscriber

    return WhisperTranscriber(_path(files), device, options_of(spec, WhisperOptions), spec.id)


def _llama_cpp(spec: ModelSpec, files: ModelFiles, device: str) -> ChatModel:
    from assistant.engines.llama_cpp import LlamaChatModel

    return LlamaChatModel(_path(files), device, options_of(spec, LlamaOptions), spec.id)


def _piper(spec: ModelSpec, files: ModelFiles, device: str) -> Synthesizer:
    from assistant.engines.piper import PiperSynthesizer

    return PiperSynthesizer(_path(files), files.config_path, device, options_of(spec, PiperOptions), spec.id)


def _coqui(spec: ModelSpec, files: ModelFiles, device: str) -> Synthesizer:
    from assistant.engines.coqui import CoquiSynthesizer

    return CoquiSynthesizer(files, device, options_of(spec, CoquiOptions), spec.id)


def _openai(spec: ModelSpec, files: ModelFiles, device: str) -> AsyncChatModel:
    from assistant.engines.openai import OpenAIChatModel

    return OpenAIChatModel(spec, options_of(spec, OpenAIOptions))


async def _openai_probe(spec: ModelSpec) -> str | None:
    from assistant.engines.openai import probe

    return await probe(spec, options_of(spec, OpenAIOptions))


register(
    EngineInfo(
        name="faster-whisper",
        kind="asr",
        factory=_faster_whisper,
        options=WhisperOptions,
        files=Files(check=_ctranslate2_dir),
    )
)
register(
    EngineInfo(
        name="llama-cpp",
        kind="llm",
        factory=_llama_cpp,
        options=LlamaOptions,
        files=Files(single_file=True, check=_gguf),
    )
)
register(
    EngineInfo(
        name="piper",
        kind="tts",
        factory=_piper,
        options=PiperOptions,
        files=Files(single_file=True, config_suffix=".json"),
    )
)
register(
    EngineInfo(
        name="coqui",
        kind="tts",
        factory=_coqui,
        options=CoquiOptions,
        files=Files(repo_config="config.json", named_by_option="model_name"),
    )
)
register(
    EngineInfo(
        name="openai",
        kind="llm",
        factory=_openai,
        options=OpenAIOptions,
        files=None,
        endpoint=OpenAIEndpoint,
        local_vram=False,
        in_loop=True,
        probe=_openai_probe,
    )
)


def _wyoming_asr(spec: ModelSpec, files: ModelFiles, device: str) -> Transcriber:
    from assistant.engines.wyoming_client import WyomingTranscriber

    return WyomingTranscriber(endpoint_of(spec, WyomingEndpoint).uri, options_of(spec, WyomingOptions), spec.id)


def _wyoming_tts(spec: ModelSpec, files: ModelFiles, device: str) -> Synthesizer:
    from assistant.engines.wyoming_client import WyomingSynthesizer

    return WyomingSynthesizer(endpoint_of(spec, WyomingEndpoint).uri, options_of(spec, WyomingOptions), spec.id)


for _kind, _factory in (("asr", _wyoming_asr), ("tts", _wyoming_tts)):
    # A Wyoming server (wyoming-faster-whisper, wyoming-piper, another assistant): it runs in a worker
    # like a local engine, stepping the wyoming package's async client on a private loop.
    register(
        EngineInfo(
            name="wyoming",
            kind=_kind,  # type: ignore[arg-type]
            factory=_factory,
            options=WyomingOptions,
            files=None,
            endpoint=WyomingEndpoint,
            local_vram=False,
        )
    )


def _scripted(spec: ModelSpec, files: ModelFiles, device: str) -> ChatModel:
    from assistant.engines.scripted import ScriptedChatModel

    return ScriptedChatModel(_path(files), options_of(spec, ScriptedOptions), spec.id)


# A stand-in LLM that replays a script (its `path`), for the tool-loop tests only: no model on PyPI
# follows a tool format. It runs in a worker like any LLM, and takes no VRAM.
register(
    EngineInfo(
        name="scripted-test",
        kind="llm",
        factory=_scripted,
        options=ScriptedOptions,
        files=Files(single_file=True),
        local_vram=False,
    )
)
