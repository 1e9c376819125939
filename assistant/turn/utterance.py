"""What the user is saying, as it arrives: one object that every source of speech (or typed words) makes.

A source (the push-to-talk key, the wake word, `ask`, a dictation, Wyoming, the HTTP API) makes an
`Utterance`, feeds it while the user speaks, ends it, and hands it to `Pipeline.turn`. It holds:
- the audio so far, or the words themselves for a typed utterance;
- what was heard on the way: each pause's partial transcript, and when the pause came;
- how it ended (the key's release, a silence, a client's commit, ...) and when: the turn's timings count
  from that moment, since it is when the user starts waiting;
- the streaming transcriber that already transcribed most of it, whose finish is the final transcript;
- the answer started ahead of the end (a `Guess`, turn/speculation.py): the turn plays it when it was
  for the final words, and drops it otherwise.

A guess runs the same turn code on words the user may not end up saying. Its own utterance carries
`held`, the wait that returns once the words are confirmed: the pipeline hands it to the tool registry
(no tool runs before it) and to the conversation (no entry before it). Nothing else marks a guess.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Protocol

from assistant.core.events import TurnState
from assistant.core.speech import Audio

from assistant.turn.results import TurnResult
from assistant.turn.sink import AudioSink

if TYPE_CHECKING:
    from assistant.turn.streaming_asr import StreamingTranscriber


class Source(Enum):
    """Who made the utterance."""

    PUSH_TO_TALK = "push_to_talk"  # the key (evdev, X11) or `assistant ptt`
    WAKE = "wake"  # "okay nabu", ended by the VAD
    ASK = "ask"  # typed words: `assistant ask`
    SAY = "say"  # words to speak as they are: `assistant say`
    DICTATION = "dictation"  # words to type, never answered
    WYOMING = "wyoming"  # Home Assistant's voice pipeline
    API = "api"  # the OpenAI-compatible HTTP API
    GUESS = "guess"  # the words at a pause, answered ahead of the end (turn/speculation.py)
    FILE = "file"  # a recording (`assistant converse`)


class End(Enum):
    """Why the utterance is over."""

    RELEASE = "release"  # the key went up
    SILENCE = "silence"  # hands-free: quiet for long enough
    MODEL = "model"  # an end-of-turn model's verdict
    CAP = "cap"  # the longest utterance allowed
    COMMIT = "commit"  # a client said so (Wyoming's audio-stop, an uploaded file)
    TYPED = "typed"  # typed words arrive whole


class Confirmation(Protocol):
    """A guess's words, confirmed or not: its turn leaves a trace only once they are."""

    confirmed: bool

    async def wait(self) -> None: ...


class Guess(Protocol):
    """The answer started ahead of the end, on the words at a pause (turn/speculation.py's Speculation)."""

    text: str

    def usable(self, transcript: str) -> bool: ...

    async def adopt(
        self, result: TurnResult, sink: AudioSink, on_state: Callable[[TurnState], None], released: float
    ) -> None: ...

    async def discard(self) -> float: ...


def _unseen(state: TurnState) -> None:
    """No one is shown the turn's state (a client that reads only the result)."""


@dataclass
class Utterance:
    source: Source
    audio: Audio | None = None  # 16 kHz mono: so far while it arrives, all of it once it ended
    text: str | None = None  # a typed utterance's words: its final transcript as it stands
    partials: list[str] = field(default_factory=list)  # each pause's transcript of the utterance so far
    pauses: list[float] = field(default_factory=list)  # perf_counter() at each pause that was transcribed
    end: End | None = None
    end_probability: float | None = None  # the end-of-turn model's last verdict, when it judged the end
    ended_at: float | None = None  # perf_counter() at the end; None: when its turn starts
    transcript: str | None = None  # the final words, once the turn has them
    on_state: Callable[[TurnState], None] = _unseen  # who is shown the turn's state (the tray, a guess's gate)
    streamer: StreamingTranscriber | None = None  # transcribed it at its pauses; its finish is the transcript
    held: Confirmation | None = None  # a guess's utterance: nothing acts or is stored before this is confirmed
    # The answers started ahead of the end: the one standing, how many were started, how many were thrown
    # away and how long they worked, the pauses the end-of-turn model heard as unfinished (no guess
    # started: work saved), and whether the turn used one.
    guess: Guess | None = None
    guesses: int = 0
    dropped: int = 0
    unguessed: int = 0
    wasted_s: float = 0.0
    guessed_ahead: bool = False
    _dropping: set[asyncio.Task[None]] = field(default_factory=set, repr=False)

    @classmethod
    def typed(cls, text: str, source: Source = Source.ASK, on_state: Callable[[TurnState], None] = _unseen) -> Utterance:
        """Words that arrive whole; the turn's timings count from when it starts."""
        return cls(source, text=text, end=End.TYPED, on_state=on_state)

    @classmethod
    def spoken(cls, audio: Audio, source: Source = Source.FILE, end: End = End.COMMIT) -> Utterance:
        """Audio that arrived whole (a file, a client's upload); the turn counts from when it starts."""
        return cls(source, audio=audio, end=end)

    @property
    def is_typed(self) -> bool:
        return self.text is not None

    def ended(self, end: End, audio: Audio, at: float | None = None, probability: float | None = None) -> None:
        """The user stopped: `audio` is all of it, `at` the perf_counter() the turn's timings count from,
        `probability` the end-of-turn model's last verdict (None: it did not judge)."""
        self.end = end
        self.end_probability = probability
        self.audio = audio
        self.ended_at = at if at is not None else time.perf_counter()

    # ------------------------------------------------------------ what is heard on the way

    def heard(self, partial: str) -> None:
        """A pause's transcript of the utterance so far."""
        self.partials.append(partial)
        self.pauses.append(time.perf_counter())

    def guessed(self, guess: Guess) -> None:
        """A new answer ahead; it replaces any earlier one, which is dropped."""
        self.drop_guess()
        self.guess = guess
        self.guesses += 1

    def drop_guess(self) -> None:
        """The words it answered are no longer the whole utterance (the user spoke again, or gave up)."""
        guess, self.guess = self.guess, None
        if guess is not None:
            task = asyncio.get_running_loop().create_task(self._discard(guess))
            self._dropping.add(task)
            task.add_done_callback(self._dropping.discard)

    async def _discard(self, guess: Guess) -> None:
        # Awaited first, then added: `self.wasted_s += await ...` reads the sum before the await, and
        # two drops running at once would each write their own figure over the other's.
        self.dropped += 1
        wasted = await guess.discard()
        self.wasted_s += wasted

    async def take_guess(self, transcript: str, can_play: bool) -> Guess | None:
        """At the end: the guess, if it answered exactly these words (and can be played); otherwise it is dropped."""
        guess, self.guess = self.guess, None
        if guess is None:
            return None
        if not can_play or not guess.usable(transcript):
            await self._discard(guess)
            return None
        self.guessed_ahead = True
        return guess

    async def settle(self) -> None:
        """After the turn: drop a guess it did not use (nothing heard, a failed ASR) and wait for the drops."""
        self.drop_guess()
        await asyncio.gather(*self._dropping, return_exceptions=True)
