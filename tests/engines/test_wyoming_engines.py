"""The `wyoming` ASR and TTS engines against real wyoming-faster-whisper and wyoming-piper servers, started here
on the embedded models; and what a user sees when such a server is down."""

from __future__ import annotations

import gc
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from assistant.audio.files import load_speech, resample
from assistant.core.errors import ModelError
from assistant.core.paths import Paths
from assistant.core.speech import SAMPLE_RATE
from assistant.engines.options import WyomingOptions
from assistant.engines.wyoming_client import WyomingSynthesizer, WyomingTranscriber

from ..speech import speak_16k, speak_to_wav, wer
from ..wyoming_peers import Peer, free_port, piper_peer, whisper_peer

pytestmark = pytest.mark.wyoming


@pytest.fixture(scope="module")
def peers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Peer, Peer]]:
    workdir = tmp_path_factory.mktemp("wyoming-peers")
    whisper, piper = whisper_peer(workdir), piper_peer(workdir)
    try:
        whisper.start()
        piper.start()
        yield whisper, piper
    finally:
        whisper.stop()
        piper.stop()


def test_transcriber_on_wyoming_faster_whisper(peers: tuple[Peer, Peer]) -> None:
    whisper, _ = peers
    engine = WyomingTranscriber(whisper.uri, WyomingOptions(language="en"), "remote-whisper")
    assert engine.device == "remote"
    question = "What is the weather like in Paris today?"
    transcript = engine.transcribe(speak_16k(question))
    assert wer(question, transcript.text) <= 0.2, transcript.text
    assert transcript.language == "en" and transcript.audio_seconds > 1.5
    # The engine is reused request after request, one connection each.
    assert wer("Turn off the lights.", engine.transcribe(speak_16k("Turn off the lights.")).text) <= 0.25


def test_synthesizer_on_wyoming_piper_streams_sentence_by_sentence(peers: tuple[Peer, Peer]) -> None:
    whisper, piper = peers
    engine = WyomingSynthesizer(piper.uri, WyomingOptions(), "remote-piper")
    assert engine.streaming  # wyoming-piper offers streaming synthesis, so the engine uses it
    text = "The oven is hot. Dinner is ready in five minutes."
    chunks = list(engine.synthesize(text))
    assert chunks and {c.sample_rate for c in chunks} == {22_050}
    assert chunks[0].text == text and all(c.samples.dtype == np.float32 for c in chunks)
    audio = np.concatenate([c.samples for c in chunks])
    assert len(audio) / 22_050 > 1.5
    # Heard back through the other peer. Piper samples its noise afresh for each synthesis, so tiny.en hears
    # the same text differently from run to run ("The hub in his hot dinner is ready in 5 minutes.", WER 0.4,
    # seen twice in full runs of the suite): the check is that both sentences arrived as speech, not the diction.
    back = WyomingTranscriber(whisper.uri, WyomingOptions(), "remote-whisper").transcribe(resample(audio, 22_050, SAMPLE_RATE))
    heard = back.text.lower()
    assert wer(text, back.text) <= 0.5 and "hot" in heard and "dinner" in heard and "minutes" in heard, back.text
    assert list(engine.synthesize("   ")) == []


def test_stopping_a_synthesis_early_leaves_the_engine_usable(peers: tuple[Peer, Peer]) -> None:
    _, piper = peers
    engine = WyomingSynthesizer(piper.uri, WyomingOptions(), "remote-piper")
    stream = engine.synthesize("One sentence here. " * 6)
    next(stream)
    stream.close()  # a barge-in: the connection closes, the server's work ends
    assert sum(len(c.samples) for c in engine.synthesize("Still working.")) > 10_000


def test_a_server_that_is_down_is_one_line_naming_it() -> None:
    uri = f"tcp://127.0.0.1:{free_port()}"
    with pytest.raises(ModelError) as caught:
        WyomingTranscriber(uri, WyomingOptions(), "remote-whisper")
    message = caught.value.message
    assert message.startswith("remote-whisper: the Wyoming server " + uri) and "Connection refused" in message
    assert "\n" not in message and caught.value.code == "remote_down"


def test_an_engine_that_fails_to_load_closes_its_event_loop() -> None:
    uri = f"tcp://127.0.0.1:{free_port()}"
    gc.collect()  # engines of earlier tests (loaded, never closed: a worker's lives as long as its process)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        with pytest.raises(ModelError):
            WyomingTranscriber(uri, WyomingOptions(), "remote-whisper")
        gc.collect()  # an event loop left open says so when it is collected
    assert not [w for w in caught if "unclosed event loop" in str(w.message)]


def test_a_server_of_the_wrong_kind_is_refused(peers: tuple[Peer, Peer]) -> None:
    _, piper = peers
    with pytest.raises(ModelError, match="offers no asr service"):
        WyomingTranscriber(piper.uri, WyomingOptions(), "remote-whisper")


REMOTE_CATALOG = """
[defaults]
asr = "remote-whisper"
tts = "remote-piper"

[[model]]
id = "remote-whisper"
kind = "asr"
engine = "wyoming"
uri = "{asr}"

[[model]]
id = "remote-piper"
kind = "tts"
engine = "wyoming"
uri = "{tts}"
"""


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "assistant", *args], capture_output=True, text=True, timeout=600)


def test_a_whole_voice_turn_with_remote_asr_and_tts(peers: tuple[Peer, Peer], xdg: Paths, tmp_path: Path) -> None:
    whisper, piper = peers
    xdg.user_catalog.write_text(REMOTE_CATALOG.format(asr=whisper.uri, tts=piper.uri))
    listed = cli("models", "list")
    assert listed.returncode == 0 and whisper.uri in listed.stdout
    question = speak_to_wav("What is the capital of France?", tmp_path / "question.wav")
    assert wer("What is the capital of France?", cli("transcribe", str(question)).stdout) <= 0.2
    reply = tmp_path / "reply.wav"
    turn = cli("converse", "--audio", str(question), "--out", str(reply))
    assert turn.returncode == 0, turn.stderr
    assert "you said:  What is the capital of France?" in turn.stdout
    assert len(load_speech(reply)) / SAMPLE_RATE > 0.5  # the reply was spoken by the remote voice


def test_the_cli_with_a_server_down_says_so_in_one_line(xdg: Paths, tmp_path: Path) -> None:
    down = f"tcp://127.0.0.1:{free_port()}"
    xdg.user_catalog.write_text(REMOTE_CATALOG.format(asr=down, tts=down))
    said = cli("say", "Hello.", "--out", str(tmp_path / "x.wav"))
    assert said.returncode == 1
    assert said.stderr.strip().count("\n") == 0, said.stderr
    assert f"the Wyoming server {down} cannot be reached (Connection refused)" in said.stderr
