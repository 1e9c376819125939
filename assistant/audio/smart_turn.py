"""Whether the user has finished speaking, judged by how the words end: Pipecat's Smart Turn v3.

A fixed silence both answers late (every turn waits it out) and cuts off a user who pauses mid-sentence.
Smart Turn v3 is a small Whisper-encoder classifier trained on where speakers end their turns: it reads
the last 8 s of 16 kHz audio as Whisper log-mel features and returns the probability that the turn is
complete. The model ships inside the `pipecat-ai` wheel (BSD-2-Clause), which scripts/install.sh installs
without its dependencies: the file is found through the package's metadata and pipecat is never imported.

It runs with onnxruntime (which faster-whisper brings) on one CPU thread, and the features come from
faster-whisper's own extractor, so nothing is added for it. Whisper's extractor normalizes the waveform
(zero mean, unit variance) before the spectrogram, as the model was trained with; faster-whisper's leaves
that to its caller, so it is done here.
"""

from __future__ import annotations

import importlib.metadata
import logging
import re
import threading
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from assistant.core.speech import Audio

log = logging.getLogger(__name__)

RATE = 16_000
WINDOW_S = 8  # the model reads at most the last 8 s
DISTRIBUTION = "pipecat-ai"
# smart-turn-v3.2-cpu.onnx today; a later wheel may carry v3.3: the highest v3 CPU model is taken.
_FILE = re.compile(r"smart-turn-v3(?:\.(\d+))?-cpu\.onnx$")


def model_path() -> Path | None:
    """The Smart Turn v3 ONNX file that the installed pipecat-ai wheel ships, or None."""
    try:
        files = importlib.metadata.distribution(DISTRIBUTION).files or []
    except importlib.metadata.PackageNotFoundError:
        return None
    found: list[tuple[int, Path]] = []
    for file in files:
        match = _FILE.search(str(file))
        if match:
            path = Path(str(file.locate()))
            if path.is_file():
                found.append((int(match.group(1) or 0), path))
    return max(found)[1] if found else None


def missing_reason() -> str:
    """One line on why there is no model, with the fix."""
    return (
        f"the end-of-turn model (Smart Turn v3, in the {DISTRIBUTION} package) is not installed, so hands-free "
        "turns end after a fixed silence; run scripts/install.sh"
    )


def features(audio: Audio) -> np.ndarray[Any, np.dtype[np.float32]]:
    """The model's input for `audio` (16 kHz mono): its last 8 s, zero-padded at the front when shorter,
    as an 80 × 800 Whisper log-mel spectrogram."""
    from faster_whisper.feature_extractor import FeatureExtractor

    samples = WINDOW_S * RATE
    x = np.asarray(audio, dtype=np.float32)[-samples:]
    if len(x) < samples:
        x = np.concatenate([np.zeros(samples - len(x), dtype=np.float32), x])
    x = (x - x.mean()) / np.sqrt(x.var() + 1e-7)
    extractor = _extractor(FeatureExtractor)
    mel = extractor(x.astype(np.float32), padding=0)  # 801 frames; the extractor drops the last → 800
    return np.asarray(mel, dtype=np.float32)


_extractors: dict[type, Any] = {}


def _extractor(kind: type) -> Any:
    # The mel filter bank is computed once per process.
    if kind not in _extractors:
        _extractors[kind] = kind(feature_size=80, sampling_rate=RATE, hop_length=160, chunk_length=WINDOW_S, n_fft=400)
    return _extractors[kind]


class SmartTurn:
    """The loaded model: `complete(audio)` is the probability that the turn in `audio` is over.

    One process-wide instance (`shared`) serves the wake listener's thread and the guesses made while a
    key is held; a lock keeps their calls one at a time, as the single thread it runs on would anyway.
    """

    def __init__(self, path: Path) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        # One thread: it runs beside the capture, the VAD and the ASR on a desktop's CPU, and a call
        # is a few milliseconds either way.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.path = path
        self._session: Any = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name
        self._lock = threading.Lock()

    def complete(self, audio: Audio) -> float:
        """The probability (0 to 1) that the speaker has finished the turn that ends `audio`."""
        if len(audio) == 0:
            return 0.0
        with self._lock:
            batch = features(audio)[np.newaxis]
            (scores, *_) = self._session.run(None, {self._input: batch})
        return float(np.asarray(scores).reshape(-1)[0])


def load() -> SmartTurn | None:
    """The embedded model, or None (logged, with the fix) when its file is missing or will not load."""
    path = model_path()
    if path is None:
        log.warning("%s", missing_reason())
        return None
    try:
        return SmartTurn(path)
    except Exception as exc:  # onnxruntime's own errors: a damaged or foreign file
        log.warning("the end-of-turn model %s does not load (%s); hands-free turns end after a fixed silence", path, exc)
        return None


@cache
def shared() -> SmartTurn | None:
    """The process's one model (loaded at the first call, which blocks: call it off the event loop)."""
    model = load()
    if model is not None:
        # The first call builds the mel filter bank and onnxruntime's plans (about 0.2 s here): done now,
        # not at the user's first pause.
        model.complete(np.zeros(RATE, dtype=np.float32))
    return model
