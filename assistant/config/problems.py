"""Config problems gathered over a whole reading of the files, so one run names them all, not the first."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import get_args, get_origin

from assistant.core.errors import ConfigError, config_problems


def did_you_mean(name: str, known: Iterable[str], shown: Callable[[str], str] = repr) -> str:
    """The fix for an unknown name: the closest known one (a typo), or the whole list when none is close."""
    names = sorted(known)
    close = difflib.get_close_matches(name, names, n=1)
    if close:
        return f"did you mean {shown(close[0])}?"
    return "allowed: " + ", ".join(names)


def type_problem(where: str, name: str, value: object, kind: object) -> str:
    """A value of the wrong type, as one line: `where` (the file and the table), the field, what it must be."""
    if get_origin(kind) is tuple:
        return f"{where}: field {name!r} must be a list of strings"
    if {str, int} <= set(get_args(kind)):
        return f"{where}: field {name!r} must be a device name or index"
    return f"{where}: field {name!r} must be {getattr(kind, '__name__', kind)}, got {value!r}"


def wrong_type(name: str, value: object, kind: object) -> str:
    """A models.toml value of the wrong type: the field, the type it must be (a float takes an int too), and
    what it is."""
    kinds = [k for k in get_args(kind) if k is not type(None)] if get_args(kind) else [kind]
    names = "/".join("int/float" if k is float else getattr(k, "__name__", str(k)) for k in kinds)
    return f"field {name!r} must be {names}, got {type(value).__name__} {value!r}"


class Problems:
    """Collects each ConfigError a check raises and goes on with the next check."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    @contextmanager
    def check(self) -> Iterator[None]:
        try:
            yield
        except ConfigError as exc:
            self.lines.extend(exc.problems)

    def add(self, line: str) -> None:
        self.lines.append(line)

    def raise_any(self) -> None:
        if self.lines:
            raise config_problems(self.lines)
