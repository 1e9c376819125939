"""Synthesizer on Piper (ONNX), one audio chunk per sentence as Piper produces it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from assistant.core.speech import AudioChunk
from assistant.engines.device import cuda_or_cpu, load_error
from assistant.engines.options import PiperOptions


def _onnx_cuda() -> bool:
    import onnxruntime

    return "CUDAExecutionProvider" in onnxruntime.get_available_providers()


class PiperSynthesizer:
    def __init__(
        self, path: Path, config_path: Path | None, device: str, options: PiperOptions, model_id: str = "tts"
    ) -> None:
        from piper import PiperVoice, SynthesisConfig

        self.device = cuda_or_cpu(device, _onnx_cuda, model_id)
        try:
            self.voice = PiperVoice.load(
                str(path), config_path=str(config_path) if config_path else None, use_cuda=self.device == "cuda"
            )
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidProtobuf types
            raise load_error(model_id, path, exc) from None
        self.sample_rate = int(self.voice.config.sample_rate)
        self.config = SynthesisConfig(
            speaker_id=options.speaker_id,
            length_scale=options.length_scale,
            noise_scale=options.noise_scale,
            noise_w_scale=options.noise_w,
        )

    def synthesize(self, text: str) -> Iterator[AudioChunk]:
        if not text.strip():
            return
        for chunk in self.voice.synthesize(text, syn_config=self.config):
            samples = np.asarray(chunk.audio_float_array, dtype=np.float32)
            yield AudioChunk(samples=samples, sample_rate=int(chunk.sample_rate), text=getattr(chunk, "text", ""))
