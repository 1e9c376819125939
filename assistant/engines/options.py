"""Each engine's [model.options] and top-level models.toml fields, one pydantic model each.

The catalog checks a model's table against its engine's model (strict: `beam_size = "1"` is an error, not
a 1), and the engine's constructor takes the checked value, defaults filled in. A default of None is the
engine's own choice (the GGUF's chat template, the language detected per utterance).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import field_validator

from assistant.core.models import EngineTable


class WhisperOptions(EngineTable):
    compute_type: str = "default"
    beam_size: int = 1
    language: str | None = None  # None: detected per utterance
    vad: bool = True
    temperature_fallback: bool = False  # True: faster-whisper's sampling retries (not repeatable)
    cpu_threads: int = 0


class LlamaOptions(EngineTable):
    n_ctx: int = 4096
    n_gpu_layers: int = -1
    chat_format: str | None = None  # None: the template stored in the GGUF
    max_tokens: int = 256
    temperature: float = 0.7
    repeat_penalty: float = 1.1
    n_threads: int | None = None
    tool_format: str | None = None  # template | grammar | none; None: chosen from the GGUF's chat template

    @property
    def calls_tools(self) -> bool:
        return self.tool_format != "none"


class PiperOptions(EngineTable):
    speaker_id: int | None = None
    length_scale: float | None = None
    noise_scale: float | None = None
    noise_w: float | None = None


class CoquiOptions(EngineTable):
    model_name: str | None = None  # a Coqui zoo model, found by name: then models.toml needs no source
    speaker_wav: str | None = None
    speaker: str | None = None
    language: str | None = None
    stream: bool = True  # XTTS: chunks within a sentence


class OpenAIOptions(EngineTable):
    max_tokens: int = 256
    temperature: float = 0.7
    timeout_s: float = 60.0  # until the first token: prompt processing, a model loading
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 30.0  # between streamed chunks, after the first token
    stream_tools: bool = True  # False: a request with tools is sent unstreamed


class OpenAIEndpoint(EngineTable):
    base_url: str
    model: str
    api_key_env: str | None = None  # the environment variable holding the key; never the key itself


class WyomingOptions(EngineTable):
    voice: str | None = None
    speaker: str | None = None
    language: str | None = None
    timeout_s: float = 60.0  # a request's whole reply


class WyomingEndpoint(EngineTable):
    uri: str

    @field_validator("uri")
    @classmethod
    def _reachable(cls, uri: str) -> str:
        try:
            parts = urlsplit(uri)
            port = parts.port
        except ValueError:
            port, parts = None, urlsplit("")
        tcp_ok = parts.scheme == "tcp" and bool(parts.hostname) and port is not None
        unix_ok = parts.scheme == "unix" and bool(parts.path)
        if not (tcp_ok or unix_ok):
            raise ValueError(f"must be tcp://HOST:PORT or unix://PATH, got {uri!r}")
        return uri


class ScriptedOptions(EngineTable):
    chunk_chars: int = 4
    delay_s: float = 0.0
