"""What a turn uses and what it did: the models it ran, its timings and its result."""

from __future__ import annotations

from dataclasses import dataclass, field

from assistant.tools.registry import ToolCallRecord


@dataclass
class Models:
    """The model ids a turn uses, one per kind."""

    asr: str
    llm: str
    tts: str


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
