"""Synthesizer on Coqui TTS (a local checkpoint or a fetched Coqui model), streamed sentence by sentence."""

from __future__ import annotations

import logging
import textwrap
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from assistant.audio.files import read_audio, resample
from assistant.core.errors import AssistantError, ModelError
from assistant.core.models import ModelFiles
from assistant.core.speech import Audio, AudioChunk
from assistant.engines.coqui_files import cached_model, local_model, missing
from assistant.engines.device import cuda_or_cpu, load_error
from assistant.engines.options import CoquiOptions

log = logging.getLogger(__name__)

EXTRA_MISSING = "the Coqui TTS extra is not installed; install with scripts/install.sh --with-coqui"

XTTS_SAMPLING = ("temperature", "length_penalty", "repetition_penalty", "top_k", "top_p")
XTTS_STREAM_CHUNK_TOKENS = 20  # GPT tokens per streamed chunk: ~0.4 s of speech, Coqui's own default


def _import_coqui(model_id: str) -> tuple[Any, Any]:
    try:
        import torch
        from TTS.api import TTS
    except ImportError as exc:
        # A half-installed extra names the missing piece; say which, with the fix for all of them.
        raise ModelError(f"{model_id}: {EXTRA_MISSING} ({exc})", code="extra_missing") from None
    return torch, TTS


def _names(names: Sequence[str], limit: int = 10) -> str:
    shown = ", ".join(names[:limit])
    return shown if len(names) <= limit else f"{shown}, ... ({len(names)} in all)"


def _base(language: str) -> str:
    return language.lower().split("-")[0]


class CoquiSynthesizer:
    """options: model_name (a Coqui zoo model fetched earlier, when models.toml gives no path), language,
    speaker (a named voice), speaker_wav (a voice to clone), stream (XTTS: chunks within a sentence; default on).
    """

    def __init__(self, files: ModelFiles, device: str, options: CoquiOptions, model_id: str = "tts") -> None:
        torch, tts_class = _import_coqui(model_id)
        self._torch = torch
        self.model_id = model_id
        self.device = cuda_or_cpu(device, torch.cuda.is_available, model_id)
        model_name = options.model_name
        config: Path | None
        vocoder: tuple[Path | None, Path | None] = (None, None)
        if files.path is not None:
            path, config = local_model(files, model_id)
        elif model_name:
            path, cached_config, voc_model, voc_config = cached_model(model_name, model_id)
            config = files.config_path or cached_config
            vocoder = (voc_model, voc_config)
        else:
            raise ModelError(f"{model_id}: set 'path' or options.model_name in models.toml", code="model_missing")
        try:
            # The same call a user makes for their own model; Coqui picks the model class from config.json.
            self.tts = tts_class(
                model_path=str(path),
                config_path=str(config) if config else None,
                vocoder_path=str(vocoder[0]) if vocoder[0] else None,
                vocoder_config_path=str(vocoder[1]) if vocoder[1] else None,
                progress_bar=False,
            ).to(self.device)
        except ImportError as exc:  # Coqui imports per model class: a dependency broken or at a wrong version
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ModelError(
                f"{model_id}: the Coqui TTS extra is incomplete ({first}); "
                "reinstall with scripts/install.sh --with-coqui",
                code="extra_missing",
            ) from None
        except Exception as exc:  # torch, pickle, JSON and Coqui's own errors alike mean a bad model
            raise load_error(model_id, path, exc) from None
        synthesizer = self.tts.synthesizer
        self.model = synthesizer.tts_model
        manager = getattr(self.model, "speaker_manager", None)
        if manager is not None and getattr(manager, "encoder", None) is not None:
            # Moving the model does not tell the speaker encoder where its inputs must go.
            manager.use_cuda = self.device == "cuda"
        self.sample_rate = int(synthesizer.output_sample_rate)
        # XTTS (and models built like it) streams audio while its GPT still generates, from conditioning
        # latents computed once; other models return a sentence at a time.
        self.xtts_like = hasattr(self.model, "inference_stream") and hasattr(self.model, "get_conditioning_latents")
        self.stream = options.stream
        self.language = self._check_language(options.language)
        self.speaker: str | None = None
        self.speaker_wav: str | None = None
        self._latents: tuple[Any, Any] | None = None
        if self.xtts_like:
            self._latents = self._xtts_voice(options.speaker, options.speaker_wav)
        else:
            self._check_speaker(options.speaker, options.speaker_wav)

    # ------------------------------------------------------------ checks at load time

    def _languages(self) -> list[str]:
        if self.xtts_like:
            return [str(lang) for lang in self.model.config.languages]
        manager = getattr(self.model, "language_manager", None)
        return [str(lang) for lang in manager.language_names] if manager is not None else []

    def _check_language(self, language: str | None) -> str | None:
        supported = self._languages()
        if not self.xtts_like and not self.tts.is_multi_lingual:
            # One-language models often do not record which (Coqui then says "en"), so never refuse one.
            if language and supported and _base(language) != _base(supported[0]):
                log.warning("%s: speaks only %s; ignoring language %r", self.model_id, supported[0], language)
            return None
        listing = f"supported: {_names(supported, 20)}"
        if not language:
            raise ModelError(
                f"{self.model_id}: the model speaks several languages; set options.language ({listing})",
                code="bad_option",
            )
        for name in supported:
            if language.lower() == name.lower() or (language.lower() == "zh" and name.lower() == "zh-cn"):
                return name
        raise ModelError(f"{self.model_id}: language {language!r} is not supported ({listing})", code="bad_option")

    def _speaker_wav(self, speaker_wav: str | None) -> str | None:
        if not speaker_wav:
            return None
        path = Path(speaker_wav).expanduser()
        if not path.is_file():
            raise missing(self.model_id, "speaker_wav", path)
        return str(path)

    def _check_speaker(self, speaker: str | None, speaker_wav: str | None) -> None:
        multi = bool(self.tts.is_multi_speaker)
        clones = bool(self.model.config.supports_cloning)  # true for models with a speaker encoder, like YourTTS
        if not multi and not clones:
            if speaker or speaker_wav:
                raise ModelError(
                    f"{self.model_id}: the model has a single voice; remove options.speaker and options.speaker_wav",
                    code="bad_option",
                )
            return
        names = list(self.tts.speakers or [])
        self.speaker_wav = self._speaker_wav(speaker_wav) if clones else None
        if speaker_wav and not clones:
            raise ModelError(
                f"{self.model_id}: the model cannot clone a voice; remove options.speaker_wav", code="bad_option"
            )
        if self.speaker_wav:
            self.speaker = None  # the WAV says which voice; a name would only be a cache key to Coqui
            return
        if speaker and speaker in names:
            self.speaker = speaker
            return
        known = f"its voices: {_names(names)}" if names else "it has no named voices"
        if speaker:
            raise ModelError(f"{self.model_id}: unknown speaker {speaker!r}; {known}", code="bad_option")
        raise ModelError(
            f"{self.model_id}: the model has several voices and none was chosen; set options.speaker ({known})"
            + (" or options.speaker_wav" if clones else ""),
            code="bad_option",
        )

    def _xtts_voice(self, speaker: str | None, speaker_wav: str | None) -> tuple[Any, Any]:
        """XTTS conditioning: a built-in voice's latents, or ones computed once from the speaker WAV."""
        wav = self._speaker_wav(speaker_wav)
        manager = getattr(self.model, "speaker_manager", None)
        builtin: dict[str, Any] = dict(manager.speakers) if manager is not None else {}
        if wav is None and speaker and speaker in builtin:
            # By position, as Xtts.synthesize reads them: the key names are not part of the file format.
            latents, embedding = builtin[speaker].values()
            return latents, embedding
        if wav is None:
            voices = f"or options.speaker to one of: {_names(list(builtin))}" if builtin else "(it has none built in)"
            first = f"unknown speaker {speaker!r}" if speaker else "no voice chosen"
            raise ModelError(
                f"{self.model_id}: {first}; set options.speaker_wav to a WAV of the voice to clone {voices}",
                code="bad_option",
            )
        try:
            latents, embedding = self._clone(wav)
        except AssistantError as exc:
            raise ModelError(f"{self.model_id}: cannot clone the voice: {exc.message}", code="bad_option") from None
        except Exception as exc:  # torch on a clip too short or too odd to condition on
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ModelError(f"{self.model_id}: cannot clone the voice in {wav} ({first})", code="bad_option") from None
        return latents, embedding

    def _clone(self, wav: str) -> tuple[Any, Any]:
        """Xtts.get_conditioning_latents for one file, but read with the assistant's own audio reader.

        Coqui reads it with torchaudio.load, which on torch 2.9 needs torchcodec and FFmpeg's
        libraries; soundfile and soxr are already here and read WAV, FLAC and MP3.
        """
        torch, config = self._torch, self.model.config
        samples, rate = read_audio(Path(wav))
        load_rate = 22050  # the rate Coqui loads references at, whatever the model's output rate
        samples = resample(samples, rate, load_rate)[: load_rate * int(config.max_ref_len)]
        audio = torch.from_numpy(np.clip(samples, -1.0, 1.0)).unsqueeze(0).to(self.model.device)
        if config.sound_norm_refs:
            audio = audio / audio.abs().max() * 0.75
        with torch.inference_mode():
            embedding = self.model.get_speaker_embedding(audio, load_rate)
            latents = self.model.get_gpt_cond_latents(
                audio, load_rate, length=config.gpt_cond_len, chunk_length=config.gpt_cond_chunk_len
            )
        return latents, embedding

    # ------------------------------------------------------------ synthesis

    def synthesize(self, text: str) -> Iterator[AudioChunk]:
        if not text.strip():
            return
        # Coqui's own splitter (pySBD, per language) so a paragraph starts playing after its first sentence.
        sentences = [s.strip() for s in self.tts.synthesizer.split_into_sentences(text, self.language)]
        for sentence in sentences:
            if not sentence:
                continue
            if self.xtts_like:
                yield from self._xtts_sentence(sentence)
            else:
                yield AudioChunk(self._sentence(sentence), self.sample_rate, sentence)

    def _sentence(self, sentence: str) -> Audio:
        from TTS.utils.synthesizer import PAD_SILENCE_SAMPLES

        with self._torch.inference_mode():
            wav = self.tts.tts(
                sentence, speaker=self.speaker, language=self.language, speaker_wav=self.speaker_wav,
                split_sentences=False,
            )
        samples = np.asarray(wav, dtype=np.float32)
        # Coqui pads every call with silence for joining sentences into one file; the sink joins ours.
        if len(samples) > PAD_SILENCE_SAMPLES and not samples[-PAD_SILENCE_SAMPLES:].any():
            samples = samples[:-PAD_SILENCE_SAMPLES]
        return samples

    def _xtts_sentence(self, sentence: str) -> Iterator[AudioChunk]:
        assert self._latents is not None and self.language is not None
        latents, embedding = self._latents
        sampling = {key: self.model.config[key] for key in XTTS_SAMPLING}
        # XTTS garbles text past its per-language character limit. Coqui's own cut needs spaCy, which
        # the extra does not install; a sentence that long is rare, so wrapping at spaces is enough.
        limit = int(self.model.tokenizer.char_limits.get(_base(self.language), 250))
        pieces = textwrap.wrap(sentence, width=limit, break_on_hyphens=False) if len(sentence) > limit else [sentence]
        text = sentence
        for piece in pieces:
            if self.stream:
                chunks: Iterator[Any] = self.model.inference_stream(
                    piece, self.language, latents, embedding, stream_chunk_size=XTTS_STREAM_CHUNK_TOKENS, **sampling
                )
            else:
                chunks = iter([self.model.inference(piece, self.language, latents, embedding, **sampling)["wav"]])
            for chunk in chunks:
                samples = np.asarray(chunk.cpu().numpy() if hasattr(chunk, "cpu") else chunk, dtype=np.float32)
                if samples.size:
                    yield AudioChunk(samples.reshape(-1), self.sample_rate, text)
                    text = ""  # the sentence belongs to its first chunk only
