"""What a push-to-talk source is: it turns a held key or key combination into press and release events."""

from __future__ import annotations

from typing import Callable, Literal, Protocol

Action = Literal["press", "release"]
# Called on the event loop thread, once per transition of the whole combination.
Emit = Callable[[Action], None]


class HotkeySource(Protocol):
    """One way of watching the keyboard; the daemon uses the first whose check() passes."""

    name: str

    def check(self) -> str | None:
        """None if usable here, else one sentence saying why not and what to do."""
        ...

    async def run(self, emit: Emit) -> None:
        """Listen until cancelled; device trouble is logged and retried, never raised."""
        ...
