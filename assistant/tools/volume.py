"""The output volume: up, down, mute and set, on the default sink of PulseAudio or PipeWire (through pactl)."""

from __future__ import annotations

import asyncio
import enum
import re
import shutil
from dataclasses import dataclass

from assistant.tools.registry import Tool, ToolResult, builtin_tool

STEP = 10  # percent per "louder"
TIMEOUT_S = 5.0
NO_PACTL = "I can't change the volume: pactl is not installed (Debian package pulseaudio-utils)."
# pactl's own words when no sound server answers ("pa_context_connect() failed: Connection refused"),
# said as what to do: they mean nothing to someone who asked for a louder voice.
NO_SERVER = ("I can't change the volume: no sound server is running; start PipeWire or PulseAudio "
             "(systemctl --user start pipewire-pulse, or pulseaudio --start), or log in to a desktop session.")
_NO_SERVER_WORDS = ("pa_context_connect", "connection refused", "connection failure", "no such file or directory",
                    "access denied", "connection terminated")
WHAT_TO_DO = "I can turn the volume up or down, set it, mute or unmute it."
TO_WHAT = "To what volume? Say a percentage, like 50 percent."


class VolumeAction(enum.Enum):
    UP = "up"
    DOWN = "down"
    SET = "set"
    MUTE = "mute"
    UNMUTE = "unmute"


@dataclass(frozen=True)
class VolumeChange:
    action: VolumeAction
    percent: int | None = None  # for set: the level; for up and down: the step (None: STEP)


class VolumeError(Exception):
    pass


async def pactl(*args: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        "pactl", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), TIMEOUT_S)
    except asyncio.TimeoutError:
        await _reap(proc)
        raise VolumeError("I couldn't change the volume: the sound server did not answer within "
                          f"{TIMEOUT_S:g} seconds; restart it (systemctl --user restart pipewire-pulse).") from None
    except asyncio.CancelledError:
        await _reap(proc)  # a barge-in: no pactl left running (or a zombie) behind the turn
        raise
    if proc.returncode != 0:
        said = err.decode(errors="replace").strip()
        if any(words in said.lower() for words in _NO_SERVER_WORDS):
            raise VolumeError(NO_SERVER)
        raise VolumeError(f"I couldn't change the volume: {said.splitlines()[-1] if said else 'pactl failed'}.")
    return out.decode(errors="replace")


async def _reap(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.kill()
    await proc.wait()


async def current_volume() -> int:
    """The default sink's volume in percent (the first channel's)."""
    out = await pactl("get-sink-volume", "@DEFAULT_SINK@")
    match = re.search(r"(\d+)%", out)
    if match is None:
        raise VolumeError(f"I couldn't read the volume from the sound server's answer {out.strip()!r}.")
    return int(match[1])


async def is_muted() -> bool:
    return "yes" in (await pactl("get-sink-mute", "@DEFAULT_SINK@")).lower()


def volume_tools() -> list[Tool]:
    async def set_volume(args: VolumeChange) -> ToolResult:
        if shutil.which("pactl") is None:
            return ToolResult(NO_PACTL, ok=False)
        action = args.action
        try:
            if action in (VolumeAction.MUTE, VolumeAction.UNMUTE):
                muted = action is VolumeAction.MUTE
                await pactl("set-sink-mute", "@DEFAULT_SINK@", "1" if muted else "0")
                return ToolResult("Muted." if muted else "Unmuted.", {"muted": muted})
            if action in (VolumeAction.UP, VolumeAction.DOWN):
                step = args.percent or STEP
                before = await current_volume()
                target = max(0, min(100, before + (step if action is VolumeAction.UP else -step)))
            else:
                if args.percent is None:
                    return ToolResult(TO_WHAT, ok=False)
                target = args.percent
                if not 0 <= target <= 100:
                    return ToolResult("The volume goes from 0 to 100 percent.", ok=False)
            await pactl("set-sink-volume", "@DEFAULT_SINK@", f"{target}%")
            if action is not VolumeAction.SET or target > 0:
                await pactl("set-sink-mute", "@DEFAULT_SINK@", "0")  # "louder" on a muted sink should be heard
            volume = await current_volume()
        except VolumeError as exc:
            return ToolResult(str(exc), ok=False)  # already a sentence that says what to do
        except OSError as exc:  # pactl could not be started at all
            return ToolResult(f"I couldn't change the volume: pactl did not start ({exc.strerror or exc}).", ok=False)
        return ToolResult(f"The volume is {volume}%.", {"volume": volume})

    return [
        builtin_tool(
            "set_volume",
            "Change the speakers' volume: up, down, set to a percentage, mute or unmute.",
            {
                "type": "object",
                "properties": {
                    "action": {"type": "string", "enum": ["up", "down", "set", "mute", "unmute"]},
                    "percent": {"type": "integer", "description": "For set: the level; for up/down: the step."},
                },
                "required": ["action"],
            },
            VolumeChange,
            set_volume,
            asks={"action": WHAT_TO_DO, "percent": TO_WHAT},
        )
    ]
