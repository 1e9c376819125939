"""Home Assistant's intents that our builtin tools carry out: timers, the time and date, and this desktop's
volume and media player.

HA's sentences are many and maintained ("set volume to 50%", "turn the volume up by 10", "skip this
track", in every language HA speaks); ours were a few, and a small change of phrasing ("set volume"
without "the") missed them and went to the LLM. So the volume and media sentences come from HA's own
intents here, mapped to our `set_volume` and `media_control`, wherever they name no device or area of
the home: HA writes those for the speaker's own device (a block that takes the area from the satellite
that heard it), which for us is this desktop. A sentence that names one ("pause the TV in the kitchen")
stays HA's, for a connected server to carry out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from assistant.tools.intents import SlotValue

# Intents our builtin tools carry out, whatever a server offers.
BUILTIN = {
    "HassStartTimer": "start_timer", "HassCancelTimer": "cancel_timer", "HassCancelAllTimers": "cancel_timer",
    "HassTimerStatus": "list_timers", "HassGetCurrentTime": "get_time", "HassGetCurrentDate": "get_date",
}
# Intents our builtin tools carry out when they name nothing in the home: the tool, and its fixed arguments.
HERE: dict[str, tuple[str, dict[str, SlotValue]]] = {
    "HassSetVolume": ("set_volume", {"action": "set"}),
    "HassSetVolumeRelative": ("set_volume", {}),
    "HassMediaPlayerMute": ("set_volume", {"action": "mute"}),
    "HassMediaPlayerUnmute": ("set_volume", {"action": "unmute"}),
    "HassMediaPause": ("media_control", {"action": "pause"}),
    "HassMediaUnpause": ("media_control", {"action": "play"}),
    "HassMediaNext": ("media_control", {"action": "next"}),
    "HassMediaPrevious": ("media_control", {"action": "previous"}),
}
HERE_SLOT = "here"  # the slot the blocks for this desktop carry, so a match says it was one of them
_PLACES = ("name", "area", "floor")


def mark_here(data: dict[str, Any]) -> None:
    """HA's blocks for the speaker's own device, in the HERE intents, made ours: they need no area any more
    (HA fills it from the satellite; we have none) and carry the HERE_SLOT instead."""
    for name in HERE:
        for block in data["intents"].get(name, {}).get("data", []):
            needs = block.get("requires_context", {})
            if needs.get("area") == {"slot": True}:
                del needs["area"]
                block.setdefault("slots", {})[HERE_SLOT] = True


def is_here(intent: str, values: Mapping[str, object]) -> bool:
    """Whether a match is for this desktop: one of the blocks mark_here made ours, naming no place."""
    return intent in HERE and HERE_SLOT in values and not any(values.get(place) for place in _PLACES)


def here_arguments(intent: str, values: Mapping[str, object]) -> dict[str, SlotValue] | None:
    """The builtin tool's arguments for a HERE intent; None when a value does not read as one."""
    arguments = dict(HERE[intent][1])
    if intent == "HassSetVolume":
        percent = _whole(values.get("volume_level"))  # {volume:volume_level}: the list, then the slot
        if percent is None:
            return None
        arguments["percent"] = percent
    elif intent == "HassSetVolumeRelative":
        step = values.get("volume_step")
        if step in ("up", "down"):
            arguments["action"] = step
        else:  # "by 10 percent": HA's list gives the step signed, down as negative
            amount = _whole(step)
            if not amount:
                return None
            arguments.update(action="up" if amount > 0 else "down", percent=abs(amount))
    return arguments


def builtin_arguments(intent: str, values: Mapping[str, object]) -> dict[str, SlotValue] | None:
    """Our tools' arguments for HA's timer, time and date intents; None when a duration does not parse."""
    if intent == "HassStartTimer":
        try:
            seconds = sum(float(str(values[u])) * s for u, s in (("hours", 3600), ("minutes", 60), ("seconds", 1)) if u in values)
        except ValueError:
            return None
        if seconds <= 0:
            return None
        return {"duration_s": seconds, **({"label": str(values["name"])} if values.get("name") else {})}
    if intent == "HassCancelAllTimers":
        return {"all": True}
    if intent in ("HassCancelTimer", "HassTimerStatus"):
        return {"label": str(values["name"])} if values.get("name") else {}
    return {}


def _whole(value: object) -> int | None:
    try:
        return int(float(str(value)))
    except (ValueError, OverflowError):
        return None
