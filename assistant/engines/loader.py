"""Build the engine a catalog entry names, inside a worker process."""

from __future__ import annotations

from typing import Union

from ..catalog import ModelSpec
from ..errors import ModelError
from ..model_files import ModelFiles
from .base import ChatModel, Synthesizer, Transcriber

Engine = Union[Transcriber, ChatModel, Synthesizer]


def load_engine(spec: ModelSpec, files: ModelFiles, device: str) -> Engine:
    if spec.engine == "faster-whisper":
        from .faster_whisper import WhisperTranscriber

        assert files.path is not None
        return WhisperTranscriber(files.path, device, spec.options, spec.id)
    if spec.engine == "llama-cpp":
        from .llama_cpp import LlamaChatModel

        assert files.path is not None
        return LlamaChatModel(files.path, device, spec.options, spec.id)
    if spec.engine == "piper":
        from .piper import PiperSynthesizer

        assert files.path is not None
        return PiperSynthesizer(files.path, files.config_path, device, spec.options, spec.id)
    if spec.engine == "coqui":
        from .coqui import CoquiSynthesizer

        return CoquiSynthesizer(files, device, spec.options, spec.id)
    if spec.engine == "scripted-test":
        from .scripted import ScriptedChatModel

        assert files.path is not None
        return ScriptedChatModel(files.path, spec.options, spec.id)
    if spec.engine == "wyoming":
        from .wyoming_client import WyomingSynthesizer, WyomingTranscriber

        assert spec.source.uri is not None
        if spec.kind == "asr":
            return WyomingTranscriber(spec.source.uri, spec.options, spec.id)
        return WyomingSynthesizer(spec.source.uri, spec.options, spec.id)
    raise ModelError(f"{spec.id}: unknown engine {spec.engine!r}")
