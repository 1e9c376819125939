"""What the server tells a client that asks (describe → info): our ASR and TTS models, voices, languages."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from wyoming.info import AsrModel, AsrProgram, Attribution, Info, TtsProgram, TtsVoice

from assistant.core.errors import AssistantError
from assistant.core.models import ModelSpec
from assistant.engines.files import locate

log = logging.getLogger(__name__)

PROGRAM = "assistant"
ATTRIBUTION = Attribution(name=PROGRAM, url="")
# Whisper's languages, for a multilingual Whisper model with no `language` option.
WHISPER_LANGUAGES = (
    "af am ar as az ba be bg bn bo br bs ca cs cy da de el en es et eu fa fi fo fr gl gu ha haw he hi hr ht hu "
    "hy id is it ja jw ka kk km kn ko la lb ln lo lt lv mg mi mk ml mn mr ms mt my ne nl nn no oc pa pl ps pt "
    "ro ru sa sd si sk sl sn so sq sr su sv sw ta te tg th tk tl tr tt uk ur uz vi yi yo yue zh"
).split()


def build_info(asr: ModelSpec, tts: ModelSpec, models_dir: Path) -> Info:
    """One ASR program with one model and one TTS program with one voice: the daemon's current ones."""
    return Info(
        asr=[
            AsrProgram(
                name=PROGRAM,
                description="the assistant daemon's resident speech recognition",
                attribution=ATTRIBUTION,
                installed=True,
                version=None,
                models=[
                    AsrModel(
                        name=asr.id,
                        description=asr.description or asr.id,
                        attribution=ATTRIBUTION,
                        installed=True,
                        version=None,
                        languages=asr_languages(asr),
                    )
                ],
                # The transcript comes whole at audio-stop, sent as one transcript-chunk too.
                supports_transcript_streaming=True,
            )
        ],
        tts=[
            TtsProgram(
                name=PROGRAM,
                description="the assistant daemon's resident voice",
                attribution=ATTRIBUTION,
                installed=True,
                version=None,
                voices=[
                    TtsVoice(
                        name=tts.id,
                        description=tts.description or tts.id,
                        attribution=ATTRIBUTION,
                        installed=True,
                        version=None,
                        languages=tts_languages(tts, models_dir),
                    )
                ],
                supports_synthesize_streaming=True,
            )
        ],
    )


def asr_languages(spec: ModelSpec) -> list[str]:
    language = getattr(spec.options, "language", None)
    if isinstance(language, str):
        return [language]
    names = " ".join(str(x) for x in (spec.id, spec.source.describe(), spec.description)).lower()
    if spec.engine == "faster-whisper" and ".en" not in names and "english" not in names:
        return list(WHISPER_LANGUAGES)
    # tiny.en, base.en, …: English only. (The embedded tiny.en says so in its description.)
    return ["en"]


def tts_languages(spec: ModelSpec, models_dir: Path) -> list[str]:
    language = getattr(spec.options, "language", None)
    if isinstance(language, str):
        return [language]
    if spec.engine == "piper":
        # A Piper voice's config names its language: {"language": {"code": "en_US"}}.
        try:
            config = locate(spec, models_dir).config_path
            data = json.loads(config.read_text()) if config else {}
            code = data.get("language", {}).get("code") or data.get("espeak", {}).get("voice")
            if isinstance(code, str) and code:
                return [code]
        except (AssistantError, OSError, ValueError, AttributeError) as exc:
            log.debug("%s: no language in its config (%s)", spec.id, exc)
    return ["en"]
