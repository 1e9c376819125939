"""The end-of-turn model (Smart Turn v3 from the pipecat-ai wheel) on real speech: its features, its verdicts, its absence."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from assistant.audio import smart_turn
from assistant.audio.smart_turn import SmartTurn, features, model_path

from ..espeak import MISSING, espeak, silence
from ..speech import speak_16k

pytestmark = pytest.mark.wake

TRAILING_PAUSE_S = 0.2  # what the model is shown after the last word: the pause it is asked at

def said(text: str, voice: str) -> np.ndarray:
    """`text` spoken by Piper (the tests' voice) or espeak-ng (one the ASR was not tuned on), then the pause."""
    if voice == "espeak":
        if MISSING:
            pytest.skip("espeak-ng not installed (Debian package espeak-ng)")
        speech = espeak(text, speed=150)
    else:
        speech = speak_16k(text, pad_s=0.0)
    return np.concatenate([speech, silence(TRAILING_PAUSE_S)]).astype(np.float32)

@pytest.fixture(scope="module")
def model() -> SmartTurn:
    path = model_path()
    assert path is not None, smart_turn.missing_reason()
    return SmartTurn(path)

def test_the_model_is_the_file_the_installed_wheel_ships() -> None:
    path = model_path()
    assert path is not None and path.is_file() and path.name.startswith("smart-turn-v3")
    assert "pipecat" in path.parts  # found through the package's metadata, where the wheel put it

def test_features_match_whisper_s_reference_extractor_on_real_speech() -> None:
    transformers = pytest.importorskip("transformers", reason="the reference extractor comes with the Coqui extra")
    audio = speak_16k("What is the weather like in Paris tomorrow?")
    window = np.concatenate([np.zeros(8 * 16_000 - len(audio), dtype=np.float32), audio])
    reference = transformers.WhisperFeatureExtractor(chunk_length=8)(
        window, sampling_rate=16_000, padding="max_length", max_length=8 * 16_000, truncation=True,
        do_normalize=True, return_tensors="np",
    ).input_features[0]
    ours = features(audio)
    assert ours.shape == reference.shape == (80, 800)
    assert float(np.max(np.abs(ours - reference))) < 1e-4

def test_a_long_utterance_is_judged_on_its_last_8_seconds() -> None:
    tail = speak_16k("Turn off the lights.")
    before = np.random.default_rng(0).normal(0, 0.1, 10 * 16_000).astype(np.float32)
    assert np.array_equal(features(np.concatenate([before, tail])), features(np.concatenate([before[-(8 * 16_000 - len(tail)):], tail])))

@pytest.mark.parametrize("voice", ["piper", "espeak"])
@pytest.mark.parametrize("text", ["What time is it?", "Set a timer for ten minutes.", "Turn off the lights."])
def test_a_complete_request_scores_complete(model: SmartTurn, text: str, voice: str) -> None:
    assert model.complete(said(text, voice)) >= 0.5

@pytest.mark.parametrize("voice", ["piper", "espeak"])
def test_set_a_timer_for_um_scores_incomplete(model: SmartTurn, voice: str) -> None:
    assert model.complete(said("Set a timer for, um,", voice)) < 0.5

def test_a_sentence_cut_at_its_preposition_scores_incomplete(model: SmartTurn) -> None:
    assert model.complete(said("What's the weather in", "piper")) < 0.5

def test_without_the_wheel_there_is_no_model_and_the_log_says_how_to_get_it(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(smart_turn, "DISTRIBUTION", "pipecat-ai-not-installed")
    with caplog.at_level(logging.WARNING, logger=smart_turn.__name__):
        assert smart_turn.load() is None
    assert "fixed silence" in caplog.text and "scripts/install.sh" in caplog.text

def test_a_damaged_model_file_does_not_load_and_says_so(
    tmp_path: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    damaged = tmp_path / "smart-turn-v3.2-cpu.onnx"  # type: ignore[operator]
    damaged.write_bytes(b"not an onnx graph")
    monkeypatch.setattr(smart_turn, "model_path", lambda: damaged)
    with caplog.at_level(logging.WARNING, logger=smart_turn.__name__):
        assert smart_turn.load() is None
    assert "does not load" in caplog.text
