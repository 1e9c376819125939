"""The turn-taking policy on its own: no processes, clocks or audio. Examples, then invariants over random
sequences of events (hypothesis), with the live facts (a reply ends, an alarm rings, the models load) as
events of their own."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assistant.core.events import TurnState
from assistant.turn.policy import (
    Act,
    Ask,
    Cancel,
    Dictate,
    DictateAction,
    Event,
    Floor,
    Pause,
    Plan,
    Press,
    Release,
    Ring,
    Say,
    Settled,
    SpokeAgain,
    Spoke,
    decide,
)
from assistant.turn.utterance import End, Source

pytestmark = pytest.mark.quick

SPEAKING = Floor(state=TurnState.SPEAKING, speaking=True)


def test_a_press_over_a_reply_stops_it_before_listening() -> None:
    plan = decide(SPEAKING, Press())
    assert plan.acts.index(Act.INTERRUPT) < plan.acts.index(Act.START_CAPTURE)
    assert plan.floor.state == TurnState.LISTENING and not plan.floor.speaking
    quiet = decide(Floor(), Press(Source.WAKE))
    assert Act.INTERRUPT not in quiet.acts and quiet.does(Act.START_CAPTURE)


def test_a_press_while_listening_does_nothing_and_one_while_dictating_is_refused() -> None:
    listening = Floor(state=TurnState.LISTENING)
    assert decide(listening, Press()) == Plan(listening)
    refused = decide(Floor(state=TurnState.DICTATING), Press())
    assert refused.refusal is not None and refused.refusal.code == "busy" and refused.acts == ()


def test_a_press_while_an_alarm_rings_only_dismisses_it() -> None:
    plan = decide(Floor(ringing=True, speaking=True), Press())
    assert plan.acts == (Act.DISMISS_ALARM, Act.INTERRUPT) and plan.floor.state == TurnState.IDLE
    assert not plan.floor.ringing


def test_no_microphone_refuses_with_the_reason_and_an_error_tone() -> None:
    plan = decide(Floor(mic_problem="no input device"), Press())
    assert plan.refusal is not None and plan.refusal.audio and "no input device" in plan.refusal.message
    assert plan.acts == (Act.EARCON_ERROR,)
    plan = decide(Floor(mic_problem="no input device"), Dictate(DictateAction.PRESS))
    assert plan.refusal is not None and plan.refusal.message.startswith("cannot dictate")


def test_a_release_answers_and_one_without_a_press_is_refused() -> None:
    plan = decide(Floor(state=TurnState.LISTENING), Release(End.SILENCE))
    assert plan.acts == (Act.STOP_CAPTURE, Act.EARCON_STOP, Act.ANSWER) and plan.floor.state == TurnState.THINKING
    refused = decide(Floor(), Release())
    assert refused.refusal is not None and refused.refusal.code == "not_listening"


def test_a_pause_guesses_only_while_listening_with_the_models_loaded_and_allowed() -> None:
    ready = Floor(state=TurnState.LISTENING, resident=True)
    assert decide(ready, Pause("what time")).does(Act.GUESS)
    assert not decide(replace(ready, resident=False), Pause("what time")).acts  # a guess never loads a model
    assert not decide(replace(ready, answer_ahead=False), Pause("what time")).acts
    assert not decide(replace(ready, state=TurnState.THINKING), Pause("what time")).acts  # after the release
    guessing = decide(ready, Pause("what time")).floor
    assert decide(guessing, SpokeAgain()).acts == (Act.DROP_GUESS,)


def test_a_pause_the_end_of_turn_model_hears_as_unfinished_starts_no_guess() -> None:
    ready = Floor(state=TurnState.LISTENING, answer_ahead=True, resident=True)
    unfinished = decide(ready, Pause("set a timer for", complete=False))
    assert unfinished.acts == (Act.SKIP_GUESS,) and not unfinished.floor.guessing  # counted, nothing started
    assert decide(ready, Pause("set a timer for ten minutes", complete=True)).does(Act.GUESS)
    assert not decide(replace(ready, answer_ahead=False), Pause("set a timer for", complete=False)).acts  # no guess to skip


def test_a_cancel_while_dictating_leaves_the_dictation_to_its_own_key() -> None:
    dictating = Floor(state=TurnState.DICTATING)
    plan = decide(dictating, Cancel())
    assert plan.floor.state == TurnState.DICTATING and Act.CANCEL_CAPTURE not in plan.acts
    plan = decide(dictating, Dictate(DictateAction.CANCEL))
    assert plan.floor.state == TurnState.IDLE and plan.does(Act.CANCEL_CAPTURE) and plan.does(Act.RESUME_MEDIA)


def test_settling_keeps_a_newer_press() -> None:
    assert decide(Floor(state=TurnState.SPEAKING), Settled()).floor.state == TurnState.IDLE
    assert decide(Floor(state=TurnState.LISTENING), Settled()).floor.state == TurnState.LISTENING


# ---------------------------------------------------------------------------------------- invariants

events = st.one_of(
    st.builds(Press, st.sampled_from([Source.PUSH_TO_TALK, Source.WAKE])),
    st.builds(Release, st.sampled_from([End.RELEASE, End.SILENCE])),
    st.just(Cancel()),
    st.builds(Pause, st.sampled_from(["what", "what time is it"]), st.sampled_from([None, True, False])),
    st.just(SpokeAgain()),
    st.builds(Ask, st.booleans()),
    st.just(Say()),
    st.just(Ring()),
    st.builds(Dictate, st.sampled_from(list(DictateAction))),
    st.just(Spoke()),
    st.just(Settled()),
)
# The facts that change outside the policy: the models load or go, the microphone breaks or mends.
facts = st.sampled_from(["load", "unload", "mic_lost", "mic_back"])


def world(floor: Floor, fact: str) -> Floor:
    return {
        "load": replace(floor, resident=True),
        "unload": replace(floor, resident=False),
        "mic_lost": replace(floor, mic_problem="no input device"),
        "mic_back": replace(floor, mic_problem=None),
    }[fact]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(events, facts), max_size=60), st.booleans())
def test_invariants_hold_over_any_sequence(steps: list[Event | str], answer_ahead: bool) -> None:
    floor = Floor(answer_ahead=answer_ahead)
    capturing = False  # the microphone's capture: each start is matched by one stop or cancel
    for step in steps:
        if isinstance(step, str):
            floor = world(floor, step)
            continue
        plan = decide(floor, step)
        acts = plan.acts
        if plan.refusal is not None:
            assert plan.floor == floor and set(acts) <= {Act.EARCON_ERROR}  # a refusal changes nothing
        # The user's floor: whoever starts the capture first stops any voice.
        if Act.START_CAPTURE in acts:
            assert not capturing, "two captures at once"
            if floor.speaking:
                assert Act.INTERRUPT in acts and acts.index(Act.INTERRUPT) < acts.index(Act.START_CAPTURE)
            capturing = True
        if Act.STOP_CAPTURE in acts or Act.CANCEL_CAPTURE in acts:
            assert capturing, "a capture stopped that never started"
            capturing = False
        # While the user holds the floor, nothing of ours starts speaking unless typed (ask, say) or an
        # alarm rang; a press that takes the floor leaves nothing speaking.
        if plan.floor.state in (TurnState.LISTENING, TurnState.DICTATING) and plan.floor.speaking:
            assert floor.speaking and floor.state == plan.floor.state or isinstance(step, (Ask, Say, Ring))
        # A dictation never reaches the LLM or the speaker.
        if isinstance(step, Dictate) or floor.dictating and not isinstance(step, (Ask, Say, Ring)):
            assert not {Act.ANSWER, Act.SPEAK, Act.GUESS} & set(acts)
        # A guess only while the user speaks, never with an answer, and only when nothing must load.
        if Act.GUESS in acts:
            assert isinstance(step, Pause) and floor.listening and floor.resident and floor.answer_ahead
            assert step.complete is not False, "a guess for words the end-of-turn model heard as unfinished"
            assert Act.ANSWER not in acts and Act.SPEAK not in acts
        # The state is only ever one the user can be shown, and capturing matches it.
        assert capturing == (plan.floor.state in (TurnState.LISTENING, TurnState.DICTATING))
        floor = plan.floor
