"""Media control: play, pause, next, previous and "what's playing" for MPRIS players on the session D-Bus (jeepney)."""

from __future__ import annotations

import asyncio
import enum
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from assistant.tools.registry import NoArguments, Tool, ToolResult, builtin_tool

MPRIS_PREFIX = "org.mpris.MediaPlayer2."
MPRIS_PATH = "/org/mpris/MediaPlayer2"
PLAYER = "org.mpris.MediaPlayer2.Player"
TIMEOUT_S = 3.0  # a hung player must not hold a turn


class MediaAction(enum.Enum):
    PLAY = "play"
    PAUSE = "pause"
    TOGGLE = "toggle"
    NEXT = "next"
    PREVIOUS = "previous"
    STOP = "stop"


@dataclass(frozen=True)
class MediaChange:
    action: MediaAction


# Each action's MPRIS method, and what is said once it is done.
ACTIONS = {MediaAction.PLAY: "Play", MediaAction.PAUSE: "Pause", MediaAction.TOGGLE: "PlayPause",
           MediaAction.NEXT: "Next", MediaAction.PREVIOUS: "Previous", MediaAction.STOP: "Stop"}
DONE = {MediaAction.PLAY: "Playing.", MediaAction.PAUSE: "Paused.", MediaAction.TOGGLE: "Done.",
        MediaAction.NEXT: "Skipped to the next track.", MediaAction.PREVIOUS: "Back to the previous track.",
        MediaAction.STOP: "Stopped."}
WHAT_TO_DO = f"I can't do that with media; I can {', '.join(action.value for action in MediaAction)}."
NO_BUS = "I can't control media: there is no desktop session bus (DBUS_SESSION_BUS_ADDRESS is not set)."
# A bus address set but nothing behind it (a daemon started outside the desktop session, or a session
# that ended): jeepney's raw ConnectionRefusedError says what failed, this says what to do.
BUS_GONE = ("I can't control media: the desktop session bus does not answer; start the assistant from your "
            "desktop session (systemctl --user import-environment DBUS_SESSION_BUS_ADDRESS, then restart it).")
NO_PLAYER = "I can't control media: no media player is running that supports MPRIS. Start one, such as a music app or a browser."


class _Bus:
    """One blocking jeepney connection, used from a worker thread for one request."""

    def __init__(self) -> None:
        from jeepney.io.blocking import open_dbus_connection

        self.conn = open_dbus_connection(bus="SESSION")

    def close(self) -> None:
        self.conn.close()

    def call(self, message: Any) -> Any:
        from jeepney import MessageType

        reply = self.conn.send_and_get_reply(message, timeout=TIMEOUT_S)
        if reply.header.message_type == MessageType.error:
            raise RuntimeError(str(reply.body[0]) if reply.body else "D-Bus error")
        return reply.body

    def players(self) -> list[str]:
        from jeepney import message_bus

        return sorted(n for n in self.call(message_bus.ListNames())[0] if n.startswith(MPRIS_PREFIX))

    def prop(self, player: str, name: str) -> Any:
        from jeepney import DBusAddress, Properties

        return self.call(Properties(DBusAddress(MPRIS_PATH, bus_name=player, interface=PLAYER)).get(name))[0][1]

    def pick(self) -> str | None:
        """The player to act on: one that is playing, else one that is paused, else any."""
        players = self.players()
        status: dict[str, str] = {}
        for player in players:
            try:
                status[player] = str(self.prop(player, "PlaybackStatus"))
            except Exception:
                status[player] = ""
        for wanted in ("Playing", "Paused"):
            for player in players:
                if status[player] == wanted:
                    return player
        return players[0] if players else None

    def act(self, player: str, method: str) -> None:
        from jeepney import DBusAddress, new_method_call

        self.call(new_method_call(DBusAddress(MPRIS_PATH, bus_name=player, interface=PLAYER), method))


def pause_playing() -> list[str]:
    """Pause every MPRIS player that is playing (dictation: the user is talking); the ones paused.

    Blocking (call it in a thread). No session bus, or a player that does not answer, pauses nothing.
    """
    if not os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
        return []
    try:
        bus = _Bus()
    except Exception:  # jeepney raises OSError, KeyError for a bad address, ...: no bus is no music
        return []
    paused = []
    try:
        for player in bus.players():
            try:
                if str(bus.prop(player, "PlaybackStatus")) == "Playing":
                    bus.act(player, "Pause")
                    paused.append(player)
            except Exception:  # one player that does not answer must not keep the others playing
                continue
    finally:
        bus.close()
    return paused


def resume(players: list[str]) -> None:
    """Play again what pause_playing paused (blocking)."""
    if not players:
        return
    try:
        bus = _Bus()
    except Exception:
        return
    try:
        for player in players:
            try:
                bus.act(player, "Play")
            except Exception:
                continue
    finally:
        bus.close()


def _display_name(player: str) -> str:
    return player.removeprefix(MPRIS_PREFIX).split(".")[0]


def _control(action: MediaAction) -> ToolResult:
    bus = _Bus()
    try:
        player = bus.pick()
        if player is None:
            return ToolResult(NO_PLAYER, ok=False)
        bus.act(player, ACTIONS[action])
        return ToolResult(DONE[action], {"player": _display_name(player), "action": action.value})
    finally:
        bus.close()


def _now_playing() -> ToolResult:
    bus = _Bus()
    try:
        player = bus.pick()
        if player is None:
            return ToolResult(NO_PLAYER, ok=False)
        status = str(bus.prop(player, "PlaybackStatus"))
        metadata = {k: v[1] for k, v in dict(bus.prop(player, "Metadata")).items()}
        title = str(metadata.get("xesam:title") or "")
        artists = metadata.get("xesam:artist") or []
        artist = ", ".join(str(a) for a in artists) if isinstance(artists, list) else str(artists)
        data = {"player": _display_name(player), "status": status, "title": title, "artist": artist}
        if status == "Stopped" or not title:
            return ToolResult(f"Nothing is playing in {_display_name(player)}.", data)
        text = f"{title}" + (f" by {artist}" if artist else "") + (" (paused)." if status == "Paused" else ".")
        return ToolResult(text, data)
    finally:
        bus.close()


async def _on_bus(work: Callable[[], ToolResult]) -> ToolResult:
    """Run a blocking bus request in a thread; no bus, or one that does not answer, as what to do."""
    if not os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
        return ToolResult(NO_BUS, ok=False)
    try:
        return await asyncio.to_thread(work)
    except OSError:  # refused, no such socket, or the bus went away mid-request
        return ToolResult(BUS_GONE, ok=False)


def media_tools() -> list[Tool]:
    async def media_control(args: MediaChange) -> ToolResult:
        return await _on_bus(lambda: _control(args.action))

    async def now_playing(args: NoArguments) -> ToolResult:
        return await _on_bus(_now_playing)

    actions = [action.value for action in MediaAction]
    return [
        builtin_tool(
            "media_control",
            "Control the desktop's media player: play, pause, toggle, next, previous or stop.",
            {"type": "object", "properties": {"action": {"type": "string", "enum": actions}}, "required": ["action"]},
            MediaChange,
            media_control,
            asks={"action": WHAT_TO_DO},
        ),
        builtin_tool("now_playing", "What the desktop's media player is playing.", {"type": "object", "properties": {}},
                     NoArguments, now_playing),
    ]
