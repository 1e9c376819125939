"""A dictation: the words said while the dictation key is held, shaped and typed into the focused window.

It never reaches the LLM or the voice. It shares the microphone, the pre-roll and the resident ASR with
the assistant's turns (Turns runs it, so the two never capture at once).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.config.settings import DictationSettings
from assistant.core.jsonl import append_line
from assistant.core.paths import Paths
from assistant.core.speech import Audio
from assistant.keyboard.chain import build_chain, type_edit
from assistant.keyboard.typing import Method, TypingFailed, session_env
from assistant.turn.pipeline import Models, Pipeline, is_silent
from assistant.turn.shaping import Shaper
from assistant.turn.streaming_asr import COMMIT_S, StreamingTranscriber
from assistant.turn.utterance import End, Source, Utterance

if TYPE_CHECKING:
    from assistant.audio.io import AudioIO

log = logging.getLogger(__name__)

# A dictation this long after the previous one starts afresh (capital letter, no joining space): the user
# has probably moved to another window or field.
CONTINUE_WITHIN_S = 60.0
KEEP = 500  # dictations kept in dictations.jsonl, the newest
# Whisper's initial prompt names the spoken commands: without it tiny.en heard "comma" as "commonness",
# "Comba" or "comment" in three of three test phrases (espeak-ng and Piper voices); with it, as "comma".
# The bare list put before it (what faster-whisper's `hotwords` would do: they go in the same slot) landed
# more commands alone, but none more once misheard.py restores the usual mishearings, and fewer on held-out
# sentences (scripts/bench_dictate.py --punctuation, docs/benchmarks.md): the prompt stays as it is.
COMMANDS_PROMPT = "Spoken punctuation: comma, period, full stop, question mark, new line, new paragraph, scratch that."


def dictation_prompt(words: Sequence[str]) -> str:
    """Whisper's initial prompt for a dictation: the commands, then the user's own words ([dictation] words)."""
    return " ".join([COMMANDS_PROMPT, ", ".join(words)]).strip()


@dataclass
class Dictated:
    """What one dictation heard and did; `typed_with` is None when nothing was typed."""

    transcript: str = ""
    text: str = ""
    erase: int = 0
    typed_with: str | None = None
    error: str | None = None
    nothing_heard: bool = False
    seconds: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "transcript": self.transcript, "text": self.text, "erase": self.erase, "typed_with": self.typed_with,
            "error": self.error, "nothing_heard": self.nothing_heard, "seconds": self.seconds,
        }


class Dictation:
    def __init__(
        self, pipeline: Pipeline, settings: DictationSettings, chain: Sequence[Method], log_path: Path | None
    ) -> None:
        self.pipeline = pipeline
        self.settings = settings
        self.chain = chain
        self.log_path = log_path if settings.keep else None
        self.last: Dictated | None = None
        self._shaper = Shaper(dict(settings.replace))
        self._last_at = 0.0
        self._utterance = Utterance(Source.DICTATION)  # the one being said (its streamer types live phrases)
        self._audio: AudioIO | None = None
        self._typing = asyncio.Lock()  # phrases typed live and the tail go out one at a time, in order
        self._live: list[asyncio.Task[None]] = []
        self._current: Dictated = Dictated()

    @classmethod
    def on_desktop(cls, pipeline: Pipeline, settings: DictationSettings, paths: Paths) -> Dictation:
        """A dictation that types into the display named by the daemon's environment (the unit imports it)."""
        chain = build_chain(settings.methods, session_env(), paste=settings.paste, layout=settings.layout,
                            home=Path.home(), portal_token=paths.portal_token)
        return cls(pipeline, settings, chain, paths.state_dir / "dictations.jsonl")

    def begin(self, audio: AudioIO, models: Models) -> None:
        """At the press: transcribe at each pause while the key is held (and, live, type each phrase then)."""
        if time.monotonic() - self._last_at > CONTINUE_WITHIN_S:
            self._shaper = Shaper(dict(self.settings.replace))
        self._current = Dictated()
        prompt = dictation_prompt(self.settings.words)
        streamer = StreamingTranscriber(
            lambda clip: self.pipeline.transcribe(clip, models.asr, prompt),
            audio.utterance_so_far,
            commit_s=0.0 if self.settings.live else COMMIT_S,
            on_commit=self._type_phrase if self.settings.live else None,
        )
        self._utterance = Utterance(Source.DICTATION, streamer=streamer if audio.add_listener(streamer.on_block) else None)
        self._audio = audio

    def stop(self) -> None:
        """The key went up: no more blocks (before the capture is taken)."""
        streamer = self._utterance.streamer
        if streamer is not None and self._audio is not None:
            self._audio.remove_listener(streamer.on_block)

    def cancel(self) -> None:
        self.stop()
        if self._utterance.streamer is not None:
            self._utterance.streamer.cancel()
        self._utterance = Utterance(Source.DICTATION)

    def _type_phrase(self, text: str) -> None:
        task = asyncio.get_running_loop().create_task(self._type(text))
        self._live.append(task)

    async def _type(self, text: str) -> None:
        async with self._typing:
            result = self._current
            if result.error is not None:
                return  # typing already failed: the rest is kept with it, not typed out of order
            edit = self._shaper.phrase(text)
            result.transcript = " ".join(filter(None, [result.transcript, text]))
            result.text += edit.text
            result.erase += edit.erase
            try:
                result.typed_with = await type_edit(self.chain, edit)
            except TypingFailed as exc:
                result.error = f"{exc.message}; the text is kept: `assistant dictate last`"
                log.error("dictation: %s", result.error)
            self._last_at = time.monotonic()

    async def finish(self, audio: Audio, models: Models) -> Dictated:
        """Transcribe what is left, shape and type it. A failure to type keeps the text (`dictate last`)."""
        started = time.perf_counter()
        utterance, self._utterance = self._utterance, Utterance(Source.DICTATION)
        utterance.ended(End.RELEASE, audio, started)
        streamer = utterance.streamer
        result = self._current
        if is_silent(audio) and not self._live:
            if streamer is not None:
                streamer.cancel()
            result.nothing_heard = True
            return self._done(result)
        if streamer is not None:
            transcript = await streamer.finish(audio)
            tail = streamer.tail_text if self.settings.live else transcript.text
        else:
            prompt = dictation_prompt(self.settings.words)
            tail = (await self.pipeline.transcribe(audio, models.asr, prompt)).text
        result.seconds["asr"] = round(time.perf_counter() - started, 3)
        live, self._live = self._live, []
        await asyncio.gather(*live)  # the phrases typed at the pauses go out first
        if tail.strip() and self.settings.cleanup == "llm" and not self.settings.live:
            tail = await self.pipeline.clean_up(tail, models.llm)  # live phrases are typed already
        if tail.strip():
            await self._type(tail)
        utterance.transcript = result.transcript
        if not result.transcript.strip():
            result.nothing_heard = True
        result.seconds["total"] = round(time.perf_counter() - started, 3)
        return self._done(result)

    def _done(self, result: Dictated) -> Dictated:
        if not result.nothing_heard:
            self.last = result
            self._keep(result)
        return result

    def _keep(self, result: Dictated) -> None:
        """Dictations are private text: their own 0600 log, never the conversation's history."""
        if self.log_path is None:
            return
        try:
            append_line(self.log_path, {"time": time.time(), **result.to_dict()}, KEEP)
        except OSError as exc:
            log.error("cannot keep the dictation in %s: %s", self.log_path, exc)
