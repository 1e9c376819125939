"""Locating a Coqui model on disk: a local checkpoint or directory, or a zoo model fetched earlier (never downloaded)."""

from __future__ import annotations

import json
import logging
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from assistant.core.errors import ModelError
from assistant.core.models import ModelFiles
from assistant.engines.device import load_error

log = logging.getLogger(__name__)

# The names Coqui's trainer and model zoo give a checkpoint inside a model directory.
CHECKPOINT_NAMES = ("model.pth", "model_file.pth", "model_file.pth.tar", "checkpoint.pth", "best_model.pth")
# Models whose loader takes the whole directory (they keep vocab.json, speakers_xtts.pth... beside the weights).
DIRECTORY_MODELS = ("xtts", "tortoise", "bark")

def missing(model_id: str, what: str, path: Path) -> ModelError:
    return ModelError(
        f"{model_id}: {what} {path} does not exist; fetch the model or fix its path in models.toml",
        code="model_missing",
    )


def _find_checkpoint(directory: Path, model_id: str) -> Path:
    for name in CHECKPOINT_NAMES:
        if (directory / name).is_file():
            return directory / name
    found = sorted(directory.glob("*.pth")) + sorted(directory.glob("*.pth.tar"))
    if len(found) == 1:
        return found[0]
    what = "several .pth files" if found else "no .pth checkpoint"
    raise ModelError(
        f"{model_id}: {directory} holds {what}; set 'path' in models.toml to the checkpoint file",
        code="model_missing",
    )


def _looks_like_checkpoint(path: Path) -> bool:
    """torch.save writes a zip archive (or, before torch 1.6, a pickle); a cut-off download is neither."""
    if zipfile.is_zipfile(path):
        return True
    with path.open("rb") as f:
        return f.read(1) == b"\x80"


def _config_model(config_path: Path, model_id: str) -> str:
    """The "model" field of a Coqui config.json; a file that is not JSON is a corrupt download."""
    try:
        data = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise load_error(model_id, config_path, exc) from None
    if not isinstance(data, dict):
        raise load_error(model_id, config_path, ValueError("config.json is not a JSON object"))
    return str(data.get("model", ""))


def local_model(files: ModelFiles, model_id: str) -> tuple[Path, Path]:
    """The checkpoint (or model directory) and config.json to hand to Coqui, checked to exist."""
    assert files.path is not None
    path = files.path
    if not path.exists():
        raise missing(model_id, "the model", path)
    folder = path if path.is_dir() else path.parent
    config = files.config_path or folder / "config.json"
    if not config.is_file():
        raise missing(model_id, "the Coqui config", config)
    model = _config_model(config, model_id)
    if path.is_dir() and model not in DIRECTORY_MODELS:
        path = _find_checkpoint(path, model_id)
    if path.is_file() and not _looks_like_checkpoint(path):
        raise load_error(model_id, path, ValueError("not a PyTorch checkpoint"))
    return path, config


def _zoo_entry(manager: Any, model_name: str, model_id: str) -> dict[str, Any]:
    parts = model_name.split("/")
    if len(parts) != 4 or not all(parts):
        raise ModelError(
            f"{model_id}: {model_name!r} is not a Coqui model name "
            "(type/language/dataset/model, e.g. tts_models/multilingual/multi-dataset/xtts_v2)",
            code="bad_option",
        )
    if parts[2] == "fairseq":
        return {"model_type": parts[0]}
    try:
        entry: dict[str, Any] = manager.models_dict[parts[0]][parts[1]][parts[2]][parts[3]]
    except (KeyError, TypeError):
        raise ModelError(
            f"{model_id}: Coqui knows no model {model_name!r}; `tts --list_models` lists them", code="bad_option"
        ) from None
    return entry


def _cached_dirs(manager: Any, model_name: str, entry: Mapping[str, Any]) -> list[Path]:
    """Where Coqui keeps a downloaded model: its data dir, or the Hugging Face cache for Hub-hosted ones."""
    dirs = [Path(manager.output_prefix) / model_name.replace("/", "--")]
    if "repo_id" in entry:
        try:
            from huggingface_hub import snapshot_download

            # local_files_only: answers from the cache or raises; it never touches the network.
            dirs.append(
                Path(
                    snapshot_download(
                        entry["repo_id"],
                        allow_patterns=entry.get("allow"),
                        ignore_patterns=entry.get("ignore"),
                        local_files_only=True,
                    )
                )
            )
        except Exception as exc:  # LocalEntryNotFoundError and friends: simply not cached
            log.debug("%s is not in the Hugging Face cache: %s", entry["repo_id"], exc)
    return dirs


def cached_model(
    model_name: str, model_id: str, kind: str = "tts_models"
) -> tuple[Path, Path | None, Path | None, Path | None]:
    """Model, config, vocoder and vocoder config of a Coqui model fetched earlier; never downloads."""
    from TTS.utils.manage import ModelManager

    manager = ModelManager(progress_bar=False)
    entry = _zoo_entry(manager, model_name, model_id)
    if not model_name.startswith(f"{kind}/"):
        raise ModelError(f"{model_id}: {model_name} is not one of Coqui's {kind}", code="bad_option")
    dirs = _cached_dirs(manager, model_name, entry)
    home = dirs[0]
    if entry.get("tos_required") and not ModelManager.tos_agreed(entry, home):
        # Coqui would ask on the terminal, which a worker process does not have.
        raise ModelError(
            f"{model_id}: {model_name} is under the {entry.get('license', 'model')} licence, not yet accepted; "
            f"accept it by running `tts --model_name {model_name} --text hello --out_path /tmp/hello.wav` once, "
            "or set COQUI_TOS_AGREED=1",
            code="model_licence",
        )
    for folder in dirs:
        if not folder.is_dir():
            continue
        if "fairseq" in model_name:
            return folder, None, None, None  # Coqui loads these from the directory, by its name
        config = min(folder.rglob("config.json"), key=lambda p: len(p.parts), default=None)
        try:
            checkpoint = _find_checkpoint(folder, model_id)
        except ModelError:
            continue
        if config is None:
            continue
        if not entry.get("default_vocoder"):
            return checkpoint, config, None, None
        # Without its vocoder a zoo model would fall back to Griffin-Lim and sound robotic.
        vocoder, vocoder_config, _, _ = cached_model(entry["default_vocoder"], model_id, "vocoder_models")
        return checkpoint, config, vocoder, vocoder_config
    raise ModelError(
        f"{model_id}: the Coqui model {model_name} is not downloaded (looked in {home}"
        f"{' and the Hugging Face cache' if 'repo_id' in entry else ''}); the assistant never downloads at run time: "
        f"fetch it once with `tts --model_name {model_name} --text hello --out_path /tmp/hello.wav`",
        code="model_missing",
    )
