"""Transcriber on faster-whisper (CTranslate2), with the Silero VAD it ships to trim silence."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from assistant.audio.onset import align_speech
from assistant.core.speech import SAMPLE_RATE, Audio, Segment, Transcript
from assistant.engines.device import cuda_or_cpu, load_error
from assistant.engines.options import WhisperOptions

log = logging.getLogger(__name__)


def _cuda_available() -> bool:
    import ctranslate2

    return bool(ctranslate2.get_cuda_device_count() > 0)


class WhisperTranscriber:
    def __init__(self, path: Path, device: str, options: WhisperOptions, model_id: str = "asr") -> None:
        from faster_whisper import WhisperModel

        self.device = cuda_or_cpu(device, _cuda_available, model_id)
        compute_type = options.compute_type
        if self.device == "cpu" and compute_type in ("float16", "int8_float16", "bfloat16"):
            # CTranslate2 has no fp16 kernels on x86 CPUs; int8 is the fast CPU choice.
            log.warning("%s: compute_type %s needs a GPU; using int8 on cpu", model_id, compute_type)
            compute_type = "int8"
        self.beam_size = options.beam_size
        self.language = options.language
        self.vad = options.vad
        # faster-whisper's default retries a doubtful decode by sampling at rising temperatures, with an RNG
        # whose state depends on every earlier request: the same audio then gives different words in two
        # runs of the daemon (seen: "Tell me a joke about cats." once as "... I'm out of cat."). Greedy only,
        # unless the catalog asks for the fallback.
        self.temperature: float | tuple[float, ...] = (
            (0.0, 0.2, 0.4, 0.6, 0.8, 1.0) if options.temperature_fallback else 0.0
        )
        if self.temperature != 0.0:
            # CTranslate2 seeds each thread's sampler once, from this, on its first use: a fixed seed makes a
            # fresh process repeat itself (later requests still draw from where the earlier ones left off).
            import ctranslate2

            ctranslate2.set_random_seed(0)
        try:
            self.model = WhisperModel(
                str(path),
                device=self.device,
                compute_type=compute_type,
                cpu_threads=options.cpu_threads,
            )
        except Exception as exc:  # CTranslate2 raises RuntimeError/ValueError with its own text
            raise load_error(model_id, path, exc) from None

    def transcribe(self, audio: Audio, prompt: str | None = None) -> Transcript:
        *_, transcript = self.transcribe_segments(audio, prompt)
        assert isinstance(transcript, Transcript)
        return transcript

    def transcribe_segments(self, audio: Audio, prompt: str | None = None) -> Iterator[Segment | Transcript]:
        """Each segment as faster-whisper decodes it (its generator decodes a 30 s window at a time), then the
        whole Transcript: a long file's first words go out before its last window is read."""
        audio = np.ascontiguousarray(audio, dtype=np.float32)
        duration = len(audio) / SAMPLE_RATE
        if duration < 0.1:
            yield Transcript(text="", audio_seconds=duration)
            return
        # The same speech gives the same words however much quiet came before and after it (audio/onset.py).
        aligned = align_speech(audio)
        segments, info = self.model.transcribe(
            aligned.audio,
            beam_size=self.beam_size,
            language=self.language,
            vad_filter=self.vad,
            # Short push-to-talk utterances gain nothing from conditioning, and it invites loops.
            condition_on_previous_text=False,
            temperature=self.temperature,
            initial_prompt=prompt or None,  # dictation vocabulary: the spelling Whisper should prefer
            without_timestamps=False,
        )
        shift = aligned.shift_s
        parts: list[Segment] = []
        for s in segments:
            part = Segment(max(0.0, s.start + shift), max(0.0, s.end + shift), s.text.strip())
            parts.append(part)
            yield part
        text = " ".join(p.text for p in parts if p.text).strip()
        speech = float(getattr(info, "duration_after_vad", duration) or 0.0)
        yield Transcript(
            text=text,
            segments=tuple(parts),
            language=str(info.language),
            audio_seconds=duration,
            speech_seconds=speech,
        )
