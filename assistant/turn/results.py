"""What a turn uses and what it did: the models it ran, its timings and its result."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from assistant.core.models import Kind
from assistant.tools.registry import ToolCallRecord


@dataclass
class Models:
    """The model ids a turn uses, one per kind."""

    asr: str
    llm: str
    tts: str

    def of(self, kind: Kind) -> str:
        """The model of `kind`."""
        match kind:
            case "asr":
                return self.asr
            case "llm":
                return self.llm
            case "tts":
                return self.tts

    def choose(self, kind: Kind, model_id: str) -> None:
        """`model_id` becomes the model of `kind`."""
        match kind:
            case "asr":
                self.asr = model_id
            case "llm":
                self.llm = model_id
            case "tts":
                self.tts = model_id


@dataclass
class Timings:
    asr_s: float | None = None
    llm_first_token_s: float | None = None
    llm_first_sentence_s: float | None = None
    tts_first_chunk_s: float | None = None
    first_audio_s: float | None = None
    total_s: float | None = None
    # Voice turns count from the key's release; these come from the parts that work ahead of it.
    first_sample_s: float | None = None  # the first reply sample at the sound device
    prompt_evaluated: float | None = None  # prompt tokens the LLM evaluated in this turn
    prompt_reused: float | None = None  # ... and those it found in its KV cache (the prefill)
    completion_tokens: float | None = None  # tokens the LLM sampled for the reply (its last round, as the two above)
    asr_partials: float | None = None  # transcriptions run while the key was held
    asr_tail_audio_s: float | None = None  # audio transcribed after the release (0: a partial was final)
    # Answering ahead while the key is held (turn/speculation.py). When the reply was made ahead, the
    # times above count from the release too, and a negative one happened before it.
    speculations: float | None = None  # guesses started while the key was held
    speculation_ahead_s: float | None = None  # the reply used began this long before the release (None: none used)
    speculation_wasted_s: float | None = None  # seconds the discarded guesses worked
    speculations_dropped: float | None = None  # guesses thrown away (the user went on, or other words were final)
    speculations_skipped: float | None = None  # pauses the end-of-turn model heard as unfinished: no guess started

    def count_from(self, shift: float) -> None:
        """The times a guess counted from its own start, moved by `shift` seconds to count from the release
        (turn/speculation.py); the others were measured from the release already."""

        def moved(value: float | None) -> float | None:
            return None if value is None else value + shift

        self.llm_first_token_s = moved(self.llm_first_token_s)
        self.llm_first_sentence_s = moved(self.llm_first_sentence_s)
        self.tts_first_chunk_s = moved(self.tts_first_chunk_s)
        self.first_audio_s = moved(self.first_audio_s)
        self.total_s = moved(self.total_s)
        self.first_sample_s = moved(self.first_sample_s)

    def as_dict(self) -> dict[str, float | None]:
        return {k: (round(v, 4) if v is not None else None) for k, v in self.__dict__.items()}


@dataclass
class TurnResult:
    id: str
    transcript: str = ""
    reply: str = ""  # what was spoken (all of it, unless interrupted)
    full_reply: str = ""  # what the LLM wrote
    sentences: list[str] = field(default_factory=list)
    timings: Timings = field(default_factory=Timings)
    nothing_heard: bool = False
    interrupted: bool = False
    llm: str = ""
    refused: bool = False  # an honest refusal answered (tools/capabilities.py): it stays out of the LLM's context
    tools: list[ToolCallRecord] = field(default_factory=list)  # every tool run in this turn, in order
    # Who hears each sentence of an LLM's reply as it is written (the API streams them). It rides on the
    # result because the result is what the caller already hands the turn to watch its progress.
    on_sentence: Callable[[str], None] | None = field(default=None, repr=False, compare=False)

    def take_over(self, guess: TurnResult) -> None:
        """What a guess did becomes this turn's (turn/speculation.py); the id and the watcher stay this turn's."""
        self.transcript = guess.transcript
        self.reply = guess.reply
        self.full_reply = guess.full_reply
        self.sentences = guess.sentences
        self.timings = guess.timings
        self.nothing_heard = guess.nothing_heard
        self.interrupted = guess.interrupted
        self.llm = guess.llm
        self.refused = guess.refused
        self.tools = guess.tools

    def add_sentence(self, sentence: str) -> None:
        self.sentences.append(sentence)
        if self.on_sentence is not None:
            self.on_sentence(sentence)
