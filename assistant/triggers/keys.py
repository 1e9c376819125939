"""Key-combination names to evdev codes, and the state machine that turns key events into press/release."""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from types import MappingProxyType

from evdev import ecodes

from assistant.triggers.source import Action

DEFAULT_KEY = "KEY_RIGHTCTRL"

HOW_TO_NAME_KEYS = (
    "name keys as in evdev (KEY_RIGHTCTRL or rightctrl, f9, space, a, BTN_SIDE) "
    "or as ctrl/alt/shift/super, joined with '+' like ctrl+alt+space"
)

# Friendly names: "ctrl" and the like are satisfied by either side, the rest are shorthands.
_ALIASES = MappingProxyType({
    "ctrl": ("KEY_LEFTCTRL", "KEY_RIGHTCTRL"),
    "control": ("KEY_LEFTCTRL", "KEY_RIGHTCTRL"),
    "alt": ("KEY_LEFTALT", "KEY_RIGHTALT"),
    "shift": ("KEY_LEFTSHIFT", "KEY_RIGHTSHIFT"),
    "super": ("KEY_LEFTMETA", "KEY_RIGHTMETA"),
    "meta": ("KEY_LEFTMETA", "KEY_RIGHTMETA"),
    "win": ("KEY_LEFTMETA", "KEY_RIGHTMETA"),
    "logo": ("KEY_LEFTMETA", "KEY_RIGHTMETA"),
    "lctrl": ("KEY_LEFTCTRL",),
    "rctrl": ("KEY_RIGHTCTRL",),
    "lalt": ("KEY_LEFTALT",),
    "ralt": ("KEY_RIGHTALT",),
    "altgr": ("KEY_RIGHTALT",),
    "lshift": ("KEY_LEFTSHIFT",),
    "rshift": ("KEY_RIGHTSHIFT",),
    "leftsuper": ("KEY_LEFTMETA",),
    "rightsuper": ("KEY_RIGHTMETA",),
    "esc": ("KEY_ESC",),
    "return": ("KEY_ENTER",),
    "del": ("KEY_DELETE",),
    "ins": ("KEY_INSERT",),
    "pgup": ("KEY_PAGEUP",),
    "pgdn": ("KEY_PAGEDOWN",),
    "caps": ("KEY_CAPSLOCK",),
    # The PC "Print Screen" key reports KEY_SYSRQ; KEY_PRINT is a rare media key.
    "print": ("KEY_SYSRQ",),
    "printscreen": ("KEY_SYSRQ",),
    "prtsc": ("KEY_SYSRQ",),
    # Likewise the context-menu key next to right Ctrl reports KEY_COMPOSE, not KEY_MENU.
    "menu": ("KEY_COMPOSE",),
})


@dataclass(frozen=True)
class KeyCombo:
    """Keys that must all be held; each group is satisfied by any one of its codes."""

    spec: str
    groups: tuple[frozenset[int], ...]

    @property
    def codes(self) -> frozenset[int]:
        """Every code that takes part in the combination."""
        codes: set[int] = set()
        for group in self.groups:
            codes |= group
        return frozenset(codes)

    def satisfied_by(self, held: Iterable[int]) -> bool:
        held_set = set(held)
        return all(group & held_set for group in self.groups)


def _key_code(token: str, spec: str) -> frozenset[int]:
    word = token.strip()
    lowered = word.lower()
    if lowered in _ALIASES:
        return frozenset(ecodes.ecodes[name] for name in _ALIASES[lowered])
    upper = word.upper()
    candidates = [upper] if upper.startswith(("KEY_", "BTN_")) else ["KEY_" + upper]
    for name in candidates:
        code = ecodes.ecodes.get(name)
        # ecodes.ecodes mixes every event type; only key and button codes name keys.
        if code is not None and (code in ecodes.KEY or code in ecodes.BTN):
            return frozenset({code})
    raise ValueError(f"unknown key {word!r} in {spec!r}: {HOW_TO_NAME_KEYS}")


def parse_combo(spec: str) -> KeyCombo:
    """Parse "KEY_RIGHTCTRL", "rightctrl", "ctrl+alt+space" or "super+F9"; raises ValueError."""
    tokens = spec.split("+")
    if not spec.strip() or any(not t.strip() for t in tokens):
        raise ValueError(f"empty key name in {spec!r}: {HOW_TO_NAME_KEYS}")
    groups: list[frozenset[int]] = []
    for token in tokens:
        group = _key_code(token, spec)
        if any(group & other for other in groups):
            raise ValueError(f"key {token.strip()!r} is named twice in {spec!r}: {HOW_TO_NAME_KEYS}")
        groups.append(group)
    return KeyCombo(spec=spec.strip(), groups=tuple(groups))


class ComboTracker:
    """Follows which combination keys are down on each device and reports transitions.

    Held keys are kept per device so that the same key held on two keyboards stays
    down until both let go, and so that a device that vanishes takes its keys with it.
    """

    def __init__(self, combo: KeyCombo) -> None:
        self.combo = combo
        self._codes = combo.codes
        self._held: dict[Hashable, set[int]] = {}
        self._active = False

    @property
    def active(self) -> bool:
        """True between an emitted "press" and the matching "release"."""
        return self._active

    def feed(self, code: int, value: int, device: Hashable = None) -> Action | None:
        """Take one key event (value 1 down, 0 up, 2 autorepeat) and return a transition, if any."""
        if code not in self._codes or value == 2:
            return None
        held = self._held.setdefault(device, set())
        if value == 1:
            held.add(code)
        elif value == 0:
            held.discard(code)
            if not held:
                del self._held[device]
        return self._update()

    def resync(self, device: Hashable, held: Iterable[int]) -> Action | None:
        """Replace a device's state with what it reports as held (after the kernel dropped events)."""
        codes = set(held) & self._codes
        if codes:
            self._held[device] = codes
        else:
            self._held.pop(device, None)
        return self._update()

    def remove_device(self, device: Hashable) -> Action | None:
        """Forget a device, e.g. one unplugged mid-hold: its keys count as released."""
        self._held.pop(device, None)
        return self._update()

    def reset(self) -> Action | None:
        """Forget every device, e.g. when the connection to all of them is lost."""
        self._held.clear()
        return self._update()

    def _update(self) -> Action | None:
        down: set[int] = set()
        for codes in self._held.values():
            down |= codes
        satisfied = self.combo.satisfied_by(down)
        if satisfied and not self._active:
            self._active = True
            return "press"
        if not satisfied and self._active:
            self._active = False
            return "release"
        return None
