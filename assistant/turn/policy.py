"""Pure turn-taking policy: given where the floor is and what just happened, what to do.

`decide(floor, event) -> Plan`, as vram/policy.py is for memory: no processes, clocks, audio or tasks,
so it is tested on its own, with property tests over long random sequences of events. `Turns`
(turn/turns.py) only carries plans out, in order, and keeps the floor from the plans' `floor`.

Who may speak is decided here:
- a press (or the wake word) while a reply speaks stops the reply first: at most one voice at a time,
  and never the assistant's over the user's;
- a dictation only types: no plan made while dictating answers, speaks or guesses;
- a guess is only ever started while the user is still speaking, and never acts (turn/speculation.py
  holds its tools); the end of the utterance either adopts it or drops it;
- a timer that rings queues its announcement behind what speaks; a press then dismisses it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum

from assistant.core.events import TurnState
from assistant.turn.utterance import End, Source

# ---------------------------------------------------------------------------------------- the floor


@dataclass(frozen=True)
class Floor:
    """What the policy knows: the turn state the user sees, and the facts that decide a plan."""

    state: TurnState = TurnState.IDLE
    speaking: bool = False  # a reply or a `say` is queued or running
    ringing: bool = False  # a timer or reminder rings until dismissed
    mic_problem: str | None = None  # why the microphone cannot be used; None: it can
    can_dictate: bool = True  # the daemon has a dictation (an offline run has none)
    answer_ahead: bool = True  # [settings] answer_ahead
    resident: bool = False  # the LLM and the voice are loaded: a guess never loads or evicts one
    guessing: bool = False  # an answer ahead stands for the words so far

    @property
    def listening(self) -> bool:
        return self.state == TurnState.LISTENING

    @property
    def dictating(self) -> bool:
        return self.state == TurnState.DICTATING


# ---------------------------------------------------------------------------------------- events


@dataclass(frozen=True)
class Press:
    """Start listening: the push-to-talk key (evdev, X11, `assistant ptt`) or the wake word."""

    source: Source = Source.PUSH_TO_TALK


@dataclass(frozen=True)
class Release:
    """The utterance is over: the key went up, or the end-of-speech VAD (or model) decided."""

    end: End = End.RELEASE


@dataclass(frozen=True)
class Cancel:
    """Drop what is being said and stop what speaks (`assistant ptt cancel`, Escape)."""


@dataclass(frozen=True)
class Pause:
    """A pause while the user speaks, with the words so far, and the end-of-turn model's verdict on them
    (None: no model judged; [turn] end = "silence" or the model is missing)."""

    text: str
    complete: bool | None = None


@dataclass(frozen=True)
class SpokeAgain:
    """Speech after a pause: the words so far are no longer the whole utterance."""


@dataclass(frozen=True)
class Ask:
    """Typed words to answer (`assistant ask`); `speak` False answers in text only."""

    speak: bool = True


@dataclass(frozen=True)
class Say:
    """Words to speak as they are (`assistant say`)."""


@dataclass(frozen=True)
class Ring:
    """A timer or reminder rang: its announcement goes through the voice."""


@dataclass(frozen=True)
class Dictate:
    """The dictation key: press, release or cancel."""

    action: DictateAction


class DictateAction(Enum):
    PRESS = "press"
    RELEASE = "release"
    CANCEL = "cancel"


@dataclass(frozen=True)
class Spoke:
    """Everything that was speaking has ended (or was stopped)."""


@dataclass(frozen=True)
class Settled:
    """A turn or a dictation finished: back to idle, unless a newer press already listens."""


Event = Press | Release | Cancel | Pause | SpokeAgain | Ask | Say | Ring | Dictate | Spoke | Settled

# ---------------------------------------------------------------------------------------- actions


class Act(Enum):
    """What Turns does, in the plan's order."""

    DISMISS_ALARM = "dismiss_alarm"  # stop the ringing (and its announcement)
    INTERRUPT = "interrupt"  # stop every reply and `say` in flight or queued, and wait until they have
    START_CAPTURE = "start_capture"
    STOP_CAPTURE = "stop_capture"  # the utterance's audio is complete
    CANCEL_CAPTURE = "cancel_capture"  # the audio is dropped
    NEW_UTTERANCE = "new_utterance"  # the press's utterance, fed while the user speaks
    LISTEN_AHEAD = "listen_ahead"  # transcribe at the pauses and prefill while the user speaks
    STOP_LISTENING = "stop_listening"  # drop that work (partials, prefill, the guess)
    GUESS = "guess"  # answer the words so far into a gated buffer (turn/speculation.py)
    DROP_GUESS = "drop_guess"
    SKIP_GUESS = "skip_guess"  # no guess: the end-of-turn model heard the words as unfinished (counted)
    ANSWER = "answer"  # the utterance (or the typed words) goes to the pipeline, queued behind any turn
    SPEAK = "speak"  # words spoken as they are, queued behind any turn
    BEGIN_DICTATION = "begin_dictation"
    FINISH_DICTATION = "finish_dictation"  # transcribe, shape and type
    CANCEL_DICTATION = "cancel_dictation"
    PAUSE_MEDIA = "pause_media"
    RESUME_MEDIA = "resume_media"
    EARCON_START = "earcon_start"
    EARCON_STOP = "earcon_stop"
    EARCON_ERROR = "earcon_error"


@dataclass(frozen=True)
class Refusal:
    """The event cannot be taken now: a code and a sentence that says what to do."""

    code: str
    message: str
    audio: bool = False  # an AudioError (the microphone), not a plain refusal


@dataclass(frozen=True)
class Plan:
    """What to do, in order, and the floor after it; a refusal does nothing but say why."""

    floor: Floor
    acts: tuple[Act, ...] = ()
    refusal: Refusal | None = None

    def does(self, act: Act) -> bool:
        return act in self.acts


def _nothing(floor: Floor) -> Plan:
    return Plan(floor)


# ---------------------------------------------------------------------------------------- the policy


def decide(floor: Floor, event: Event) -> Plan:
    """The plan for one event."""
    if isinstance(event, Press):
        return _press(floor, event)
    if isinstance(event, Release):
        return _release(floor)
    if isinstance(event, Cancel):
        acts = (Act.CANCEL_CAPTURE,) if floor.listening else ()
        # A cancel while dictating is the dictation's own (Dictate CANCEL): the floor stays.
        state = floor.state if floor.dictating else TurnState.IDLE
        return Plan(replace(floor, state=state, guessing=False), (*acts, Act.STOP_LISTENING, Act.INTERRUPT))
    if isinstance(event, Pause):
        # A guess only while the user still speaks, only when allowed and nothing must load for it.
        if floor.listening and floor.answer_ahead and floor.resident:
            if event.complete is False:
                # The words sound unfinished ("set a timer for, um"): a guess now would most likely be
                # thrown away when the user goes on, and it would take the CPU the ASR needs meanwhile.
                return Plan(floor, (Act.SKIP_GUESS,))
            return Plan(replace(floor, guessing=True), (Act.DROP_GUESS, Act.GUESS))
        return _nothing(floor)
    if isinstance(event, SpokeAgain):
        return Plan(replace(floor, guessing=False), (Act.DROP_GUESS,)) if floor.guessing else _nothing(floor)
    if isinstance(event, Ask):
        # Typed words wait their turn; they neither interrupt a reply nor a user who is speaking.
        return Plan(replace(floor, speaking=floor.speaking or event.speak), (Act.ANSWER,))
    if isinstance(event, Say):
        return Plan(replace(floor, speaking=True), (Act.SPEAK,))
    if isinstance(event, Ring):
        if floor.dictating:
            # The announcement would be typed over by nothing, but spoken over the user's dictation:
            # it waits as a ringing alarm (the notification shows it), dismissed by the next press.
            return Plan(replace(floor, ringing=True))
        return Plan(replace(floor, ringing=True, speaking=True), (Act.SPEAK,))
    if isinstance(event, Dictate):
        return _dictate(floor, event.action)
    if isinstance(event, Spoke):
        return Plan(replace(floor, speaking=False))
    if isinstance(event, Settled):
        keep = floor.state in (TurnState.LISTENING, TurnState.DICTATING)
        return Plan(replace(floor, state=floor.state if keep else TurnState.IDLE))
    raise TypeError(f"not a turn event: {event!r}")


def _press(floor: Floor, event: Press) -> Plan:
    if floor.listening:
        return _nothing(floor)  # a held key (or an earlier wake) already listens
    if floor.dictating:
        return Plan(floor, refusal=Refusal("busy", "dictating; let go of the dictation key first"))
    if floor.ringing:
        # That press only stops the alarm (and its announcement, if it is still speaking).
        return Plan(replace(floor, ringing=False, speaking=False), (Act.DISMISS_ALARM, Act.INTERRUPT))
    if floor.mic_problem is not None:
        return Plan(floor, (Act.EARCON_ERROR,), Refusal("audio", f"cannot listen: {floor.mic_problem}", audio=True))
    # Barge-in: the reply stops, but the capture starts before waiting for it to wind down, so the
    # first words after the press are not lost; the work ahead waits for the history it leaves.
    acts: tuple[Act, ...] = (Act.INTERRUPT,) if floor.speaking else ()
    acts = (*acts, Act.START_CAPTURE, Act.EARCON_START, Act.NEW_UTTERANCE, Act.LISTEN_AHEAD)
    return Plan(replace(floor, state=TurnState.LISTENING, speaking=False, guessing=False), acts)


def _release(floor: Floor) -> Plan:
    if not floor.listening:
        return Plan(floor, refusal=Refusal("not_listening", "not listening; press first (`assistant ptt press`)"))
    # The answer ahead, if any, stays with the utterance: the turn adopts it or drops it.
    acts = (Act.STOP_CAPTURE, Act.EARCON_STOP, Act.ANSWER)
    return Plan(replace(floor, state=TurnState.THINKING, speaking=True, guessing=False), acts)


def _dictate(floor: Floor, action: DictateAction) -> Plan:
    if action == DictateAction.PRESS:
        if not floor.can_dictate:
            return Plan(floor, refusal=Refusal("no_dictation", "dictation is not available in this daemon"))
        if floor.dictating:
            return _nothing(floor)
        if floor.listening:
            return Plan(floor, refusal=Refusal("busy", "listening for a question; let go of the push-to-talk key first"))
        if floor.mic_problem is not None:
            return Plan(floor, (Act.EARCON_ERROR,), Refusal("audio", f"cannot dictate: {floor.mic_problem}", audio=True))
        acts: tuple[Act, ...] = (Act.INTERRUPT,) if floor.speaking else ()  # no reply talks over it
        acts = (*acts, Act.START_CAPTURE, Act.BEGIN_DICTATION, Act.EARCON_START, Act.PAUSE_MEDIA)
        return Plan(replace(floor, state=TurnState.DICTATING, speaking=False, guessing=False), acts)
    if action == DictateAction.RELEASE:
        if not floor.dictating:
            return Plan(floor, refusal=Refusal("not_dictating", "not dictating; press first (`assistant dictate press`)"))
        # Transcribing and typing: THINKING, so a new press may start meanwhile.
        acts = (Act.STOP_CAPTURE, Act.EARCON_STOP, Act.RESUME_MEDIA, Act.FINISH_DICTATION)
        return Plan(replace(floor, state=TurnState.THINKING), acts)
    if not floor.dictating:
        return _nothing(floor)
    return Plan(replace(floor, state=TurnState.IDLE), (Act.CANCEL_DICTATION, Act.CANCEL_CAPTURE, Act.RESUME_MEDIA))
