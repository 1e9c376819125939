"""Domain errors: every failure carries a code and one sentence a person can act on."""

from __future__ import annotations


class AssistantError(Exception):
    """An error meant for a person: `message` is one line that says what to do."""

    code = "error"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return self.message


class ConfigError(AssistantError):
    """One problem in a config file, or several (`problems`, one line each) found in one reading of them."""

    code = "config"

    def __init__(self, message: str, code: str | None = None, problems: tuple[str, ...] = ()) -> None:
        super().__init__(message, code)
        self.problems = problems or (message,)


def config_problems(problems: list[str]) -> ConfigError:
    """Everything wrong at once, so a user fixes the files in one pass: one problem stays one line."""
    if len(problems) == 1:
        return ConfigError(problems[0])
    lines = "\n".join(f"  {p}" for p in problems)
    return ConfigError(f"{len(problems)} problems in the config:\n{lines}", problems=tuple(problems))


class ModelError(AssistantError):
    """A model file is missing, corrupt, or cannot be loaded."""

    code = "model"


class AudioError(AssistantError):
    code = "audio"


class WorkerCrashed(AssistantError):
    """A worker process died while loading or serving a request."""

    code = "worker_crashed"


class WorkerStalled(WorkerCrashed):
    """A worker sent nothing for longer than its operation's stall deadline, and was killed."""

    code = "worker_stalled"


class VramError(AssistantError):
    """The arbiter could not place a model on the GPU."""

    code = "vram"


class OutOfMemory(ModelError):
    """A load ran out of device memory; the arbiter may evict further and retry."""

    code = "oom"


class RemoteError(AssistantError):
    """A server the assistant reaches over the network (an LLM server, say) is down, refused, or failed."""

    code = "remote"
