"""`assistant tray`: a StatusNotifierItem with its menu (com.canonical.dbusmenu), as a client of the control socket.

A process of its own rather than part of the daemon: the tray lives in the graphical session (its bus,
its panel) while the daemon may run before or without one, and a D-Bus or panel fault then costs an
icon, never a turn. It follows the daemon's events exactly as `status --follow` does (cli/follow.py)
and asks the daemon for everything its menu does.

The two D-Bus objects are dbus-fast ServiceInterfaces (cli/tray_bus.py) served by an asyncio loop; the
daemon is followed by the blocking socket client in a thread of its own, which hands each new view to
the loop, so every D-Bus object is touched by the loop alone.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from assistant.api.client import Client, NotRunning
from assistant.cli.follow import Presence
from assistant.cli.tray_bus import ITEM_PATH, MENU_PATH, WATCHER, DBusMenu, Entry, Look, StatusNotifierItem, show_on_panels
from assistant.core.errors import AssistantError
from assistant.core.wire import from_json
from assistant.daemon.replies import DaemonStatus, LlmEntry, Subscribed

ICONS_DIR = Path(__file__).resolve().parent.parent / "icons"
NO_WATCHER = ("no StatusNotifierWatcher on the session bus, so no tray icon (plain GNOME needs the AppIndicator "
              "extension); `assistant status --follow` gives the same view to a panel module")
TITLES = {"idle": "Assistant: idle", "listening": "Assistant: listening", "thinking": "Assistant: thinking",
          "speaking": "Assistant: speaking", "dictating": "Assistant: dictating", "error": "Assistant: something failed",
          "stopped": "Assistant: not running"}


def icon_for(view: Presence) -> str:
    return f"assistant-{view.shown if view.shown in TITLES else 'idle'}-symbolic"


def look_of(view: Presence) -> Look:
    """The icon, tooltip and status for a view of the daemon."""
    title = TITLES.get(view.shown, "Assistant")
    tip = f"{title}\n" + "\n".join(f"{k}: {v}" for k, v in sorted(view.models.items()))
    if view.problem:
        tip += f"\nlast error: {view.problem}"
    status = "NeedsAttention" if view.state in ("listening", "dictating") else "Active"
    return Look(status, icon_for(view), title, tip)


class Menu:
    """The menu's items, rebuilt from the view, each with what a click on it asks of the daemon."""

    def __init__(self, view: Presence, llms: list[str]) -> None:
        listening = view.state == "listening"
        self.items: list[tuple[Entry, tuple[str, ...]]] = [
            (Entry(1, "Stop listening" if listening else "Start listening"), ("ptt.toggle",)),
            (Entry(2, "Wake word", "checkmark", int(view.wake)), ("wake.off",) if view.wake else ("wake.on",)),
            *[(Entry(10 + i, f"LLM: {llm}", "radio", int(view.models.get("llm") == llm)), ("llm.use", llm))
              for i, llm in enumerate(llms)],
            (Entry(3, "Stop speaking"), ("ptt.cancel",)),
            (Entry(4, "Open the log"), ("open-log",)),
            (Entry(5, "Quit the assistant"), ("shutdown",)),
        ]

    @property
    def entries(self) -> list[Entry]:
        return [entry for entry, _ in self.items]

    def action(self, item_id: int) -> tuple[str, ...] | None:
        return next((action for entry, action in self.items if entry.id == item_id), None)


def follow(socket: Path, on_change: Callable[[Presence, list[str]], None]) -> None:
    """The daemon's events into views (with its LLMs, for the menu) until it goes away (then the icon says so).
    Blocking: run in a thread."""
    llms: list[str] = []
    try:
        with Client(socket, timeout=None) as client:
            status = from_json(DaemonStatus, client.call("status"))
            llms = [from_json(LlmEntry, row).id for row in client.call("llm.list")]
            subscribed = from_json(Subscribed, client.call("subscribe"))
            view = replace(Presence.of(status), state=subscribed.state.value)
            on_change(view, llms)
            for event in client.events(subscribed=True):
                changed = view.after(event)
                if event.event == "llm" or changed != view:
                    view = changed
                    on_change(view, llms)
    except NotRunning:
        on_change(Presence("stopped"), llms)


class Tray:
    def __init__(self, socket: Path, log_file: Path) -> None:
        self.socket = socket
        self.log_file = log_file
        self.view = Presence("stopped")
        self.llms: list[str] = []
        self.name = f"org.kde.StatusNotifierItem-{os.getpid()}-1"
        self.item = StatusNotifierItem(look_of(self.view), str(ICONS_DIR), activate=lambda: self._act(("ptt.toggle",)))
        self.menu = DBusMenu(Menu(self.view, self.llms).entries, str(ICONS_DIR), clicked=self._clicked)

    async def serve(self, wait: bool) -> int:
        """Show the icon and keep it following the daemon until the daemon goes; 1 when there is no panel to
        show it on and not `wait`ing for one (NO_WATCHER said in one line either way)."""
        from dbus_fast.aio import MessageBus

        bus = await MessageBus().connect()  # the session bus: DBUS_SESSION_BUS_ADDRESS
        try:
            bus.export(ITEM_PATH, self.item)
            bus.export(MENU_PATH, self.menu)
            await bus.request_name(self.name)
            if not await show_on_panels(bus, self.name):
                print(f"assistant tray: {NO_WATCHER}", flush=True)
                if not wait:
                    return 1
            await self._follow()
            return 0
        finally:
            bus.disconnect()

    async def _follow(self) -> None:
        """`follow` in a daemon thread (its socket read blocks, and Ctrl+C must not wait for it), each view
        handed to this loop; returns when the daemon has gone, raises what stopped the thread otherwise."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()

        def settle(error: BaseException | None) -> None:
            if done.done():
                return
            if error is not None:
                done.set_exception(error)
            else:
                done.set_result(None)

        def hand(view: Presence, llms: list[str]) -> None:
            loop.call_soon_threadsafe(self.show, view, llms)

        def run() -> None:
            error: BaseException | None = None
            try:
                follow(self.socket, hand)
            except BaseException as exc:  # handed to the loop, which raises it in serve
                error = exc
            try:
                loop.call_soon_threadsafe(settle, error)
            except RuntimeError:
                pass  # the loop has already closed (Ctrl+C): nobody waits for this

        threading.Thread(target=run, name="tray-follow", daemon=True).start()
        await done

    def show(self, view: Presence, llms: list[str]) -> None:
        """Tell the panel: the icon, the tooltip, the status and the menu follow the view."""
        self.view, self.llms = view, llms
        self.item.show(look_of(view))
        self.menu.show(Menu(view, llms).entries)

    def _clicked(self, item_id: int) -> None:
        action = Menu(self.view, self.llms).action(item_id)
        if action is not None:
            self._act(action)

    def _act(self, action: tuple[str, ...]) -> None:
        # A thread, not the loop: the daemon may take seconds (an LLM switch loads a model), and the panel's
        # calls must be answered meanwhile. A daemon thread, so that Quit does not wait for it.
        threading.Thread(target=self._do, args=(action,), daemon=True).start()

    def _do(self, action: tuple[str, ...]) -> None:
        """One menu item: ask the daemon (or open the log); a failure is one line on stdout."""
        try:
            if action[0] == "open-log":
                subprocess.Popen(["xdg-open", str(self.log_file)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                return
            with Client(self.socket, timeout=30) as client:
                params = {"id": action[1]} if action[0] == "llm.use" else {}
                client.call(action[0], **params)
        except (AssistantError, OSError) as exc:
            print(f"assistant tray: {action[0]}: {exc}", flush=True)


def watcher_problem(bus: str | None = None) -> str | None:
    """Why no tray icon can show on this session bus (no bus, or no StatusNotifierWatcher); None when one can."""
    from jeepney import message_bus
    from jeepney.io.blocking import open_dbus_connection

    if bus is None and not os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
        return "no session bus (DBUS_SESSION_BUS_ADDRESS is not set): the tray needs a graphical session"
    try:
        with open_dbus_connection(bus=bus or "SESSION") as conn:
            if conn.send_and_get_reply(message_bus.NameHasOwner(WATCHER), timeout=5).body[0]:
                return None
    except (OSError, TimeoutError) as exc:
        return f"the session bus cannot be reached ({exc})"
    return NO_WATCHER


def run_tray(socket: Path, log_file: Path, wait: bool = False) -> int:
    """Register the icon and serve it until the daemon goes; 0, or 1 with one line when there is no tray to show in.

    With `wait` (the daemon's own tray, which may start before the panel does) a missing watcher is said in
    one line and the icon shows once a panel starts one."""
    problem = watcher_problem()  # no session bus, or nothing on it to show an icon
    if problem is not None and not (wait and problem == NO_WATCHER):
        print(f"assistant tray: {problem}", flush=True)
        return 1
    try:
        return asyncio.run(Tray(socket, log_file).serve(wait))
    except KeyboardInterrupt:
        return 0
