"""`assistant tray`: a StatusNotifierItem with its menu (com.canonical.dbusmenu), as a client of the control socket.

A process of its own rather than part of the daemon: the tray lives in the graphical session (its bus,
its panel) while the daemon may run before or without one, and a D-Bus or panel fault then costs an
icon, never a turn. It follows the daemon's events exactly as `status --follow` does (cli/follow.py)
and asks the daemon for everything its menu does. Built on jeepney, the D-Bus library the daemon
already uses: one connection, read by one thread (method calls), written by both (a lock).
"""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from assistant.api.client import Client, NotRunning
from assistant.cli.follow import Presence
from assistant.core.errors import AssistantError

ITEM_PATH = "/StatusNotifierItem"
MENU_PATH = "/MenuBar"
ITEM = "org.kde.StatusNotifierItem"
MENU = "com.canonical.dbusmenu"
WATCHER = "org.kde.StatusNotifierWatcher"
PROPS = "org.freedesktop.DBus.Properties"
ICONS_DIR = Path(__file__).resolve().parent.parent / "icons"
NO_WATCHER = ("no StatusNotifierWatcher on the session bus, so no tray icon (plain GNOME needs the AppIndicator "
              "extension); `assistant status --follow` gives the same view to a panel module")
TITLES = {"idle": "Assistant: idle", "listening": "Assistant: listening", "thinking": "Assistant: thinking",
          "speaking": "Assistant: speaking", "dictating": "Assistant: dictating", "error": "Assistant: something failed",
          "stopped": "Assistant: not running"}


def icon_for(view: Presence) -> str:
    return f"assistant-{view.shown if view.shown in TITLES else 'idle'}-symbolic"


class Menu:
    """The menu's items, rebuilt from the view: (id, label, toggle type, toggle state, action)."""

    def __init__(self, view: Presence, llms: list[str]) -> None:
        listening = view.state == "listening"
        self.items: list[tuple[int, str, str, int, tuple[str, ...]]] = [
            (1, "Stop listening" if listening else "Start listening", "", -1, ("ptt.toggle",)),
            (2, "Wake word", "checkmark", int(view.wake), ("wake.off",) if view.wake else ("wake.on",)),
            *[(10 + i, f"LLM: {llm}", "radio", int(view.models.get("llm") == llm), ("llm.use", llm))
              for i, llm in enumerate(llms)],
            (3, "Stop speaking", "", -1, ("ptt.cancel",)),
            (4, "Open the log", "", -1, ("open-log",)),
            (5, "Quit the assistant", "", -1, ("shutdown",)),
        ]

    def layout(self, revision: int) -> tuple[int, tuple[int, dict[str, Any], list[Any]]]:
        children: list[tuple[str, Any]] = []
        for item_id, label, toggle, state, _ in self.items:
            props: dict[str, Any] = {"label": ("s", label)}
            if toggle:
                props["toggle-type"] = ("s", toggle)
                props["toggle-state"] = ("i", state)
            children.append(("(ia{sv}av)", (item_id, props, [])))
        return revision, (0, {"children-display": ("s", "submenu")}, children)

    def action(self, item_id: int) -> tuple[str, ...] | None:
        return next((action for i, _, _, _, action in self.items if i == item_id), None)


class Tray:
    def __init__(self, socket: Path, log_file: Path, bus: str | None = None) -> None:
        from jeepney.io.blocking import open_dbus_connection

        self.socket = socket
        self.log_file = log_file
        self.conn = open_dbus_connection(bus=bus or "SESSION")
        self.lock = threading.Lock()
        self.view = Presence("stopped")
        self.llms: list[str] = []
        self.revision = 1
        self.name = f"org.kde.StatusNotifierItem-{os.getpid()}-1"

    # ------------------------------------------------------------ D-Bus side

    def send(self, msg: Any) -> None:
        with self.lock:
            self.conn.send(msg)

    def register(self) -> str | None:
        """Own our name, watch for the panel's watcher coming and going, and register with it if it is there;
        the reason when it is not (the icon then shows once a panel starts: see `serve`)."""
        from jeepney import MatchRule, message_bus

        appears = MatchRule(type="signal", sender=message_bus.bus_name, interface=message_bus.interface,
                            member="NameOwnerChanged", path=message_bus.object_path)
        appears.add_arg_condition(0, WATCHER)
        with self.lock:
            self.conn.send_and_get_reply(message_bus.RequestName(self.name))
            self.conn.send_and_get_reply(message_bus.AddMatch(appears))
            if not self.conn.send_and_get_reply(message_bus.NameHasOwner(WATCHER)).body[0]:
                return NO_WATCHER
        self._register_with_watcher()
        return None

    def _register_with_watcher(self) -> None:
        # Not waiting for the reply: a watcher may call back (GetAll) before it answers, and that call must
        # reach `serve`; the reply itself is read and ignored there.
        from jeepney import DBusAddress, new_method_call

        watcher = DBusAddress("/StatusNotifierWatcher", bus_name=WATCHER, interface=WATCHER)
        self.send(new_method_call(watcher, "RegisterStatusNotifierItem", "s", (self.name,)))

    def item_props(self) -> dict[str, tuple[str, Any]]:
        title = TITLES.get(self.view.shown, "Assistant")
        tip = f"{title}\n" + "\n".join(f"{k}: {v}" for k, v in sorted(self.view.models.items()))
        if self.view.problem:
            tip += f"\nlast error: {self.view.problem}"
        return {
            "Category": ("s", "ApplicationStatus"), "Id": ("s", "assistant"), "Title": ("s", "Assistant"),
            "Status": ("s", "NeedsAttention" if self.view.state in ("listening", "dictating") else "Active"),
            "IconName": ("s", icon_for(self.view)), "IconThemePath": ("s", str(ICONS_DIR)),
            "ToolTip": ("(sa(iiay)ss)", (icon_for(self.view), [], title, tip)), "Menu": ("o", MENU_PATH),
            "ItemIsMenu": ("b", False), "WindowId": ("i", 0),
        }

    def menu_props(self) -> dict[str, tuple[str, Any]]:
        return {"Version": ("u", 3), "TextDirection": ("s", "ltr"), "Status": ("s", "normal"),
                "IconThemePath": ("as", [str(ICONS_DIR)])}

    def serve(self, stop: threading.Event) -> None:
        from jeepney import MessageType, new_error, new_method_return
        from jeepney.low_level import HeaderFields

        while not stop.is_set():
            try:
                msg = self.conn.receive(timeout=0.5)
            except TimeoutError:
                continue
            fields = msg.header.fields
            if msg.header.message_type == MessageType.signal and fields.get(HeaderFields.member) == "NameOwnerChanged":
                if msg.body[0] == WATCHER and msg.body[2]:
                    self._register_with_watcher()  # a panel started (or restarted): show the icon on it
                continue
            if msg.header.message_type != MessageType.method_call:
                continue
            member, path = fields.get(HeaderFields.member), fields.get(HeaderFields.path)
            reply = self._answer(path, member, msg.body)
            if reply is None:
                self.send(new_error(msg, "org.freedesktop.DBus.Error.UnknownMethod", "s", (f"no {member} on {path}",)))
            else:
                self.send(new_method_return(msg, reply[0], reply[1]))
            if stop.is_set():
                break

    def _answer(self, path: str, member: str, body: tuple[Any, ...]) -> tuple[str, tuple[Any, ...]] | None:
        props = self.item_props() if path == ITEM_PATH else self.menu_props() if path == MENU_PATH else None
        if member == "GetAll" and props is not None:
            return "a{sv}", (props,)
        if member == "Get" and props is not None and body[1] in props:
            return "v", (props[body[1]],)
        menu = Menu(self.view, self.llms)
        if path == MENU_PATH and member == "GetLayout":
            return "u(ia{sv}av)", menu.layout(self.revision)
        if path == MENU_PATH and member == "GetGroupProperties":
            layout = menu.layout(self.revision)[1][2]
            return "a(ia{sv})", ([(child[1][0], child[1][1]) for child in layout if child[1][0] in body[0] or not body[0]],)
        if path == MENU_PATH and member == "AboutToShow":
            return "b", (False,)
        if path == MENU_PATH and member == "Event":
            if body[1] == "clicked" and (action := menu.action(body[0])) is not None:
                threading.Thread(target=self._do, args=(action,), daemon=True).start()
            return "", ()
        if path == ITEM_PATH and member in ("Activate", "SecondaryActivate"):
            threading.Thread(target=self._do, args=(("ptt.toggle",),), daemon=True).start()
            return "", ()
        if path == ITEM_PATH and member in ("ContextMenu", "Scroll"):
            return "", ()
        return None

    def changed(self) -> None:
        """Tell the panel: the icon, the tooltip, the status and the menu follow the view."""
        from jeepney import DBusAddress, new_signal

        item, menu = DBusAddress(ITEM_PATH, interface=ITEM), DBusAddress(MENU_PATH, interface=MENU)
        self.revision += 1
        for signal in ("NewIcon", "NewToolTip", "NewTitle"):
            self.send(new_signal(item, signal))
        self.send(new_signal(item, "NewStatus", "s", (self.item_props()["Status"][1],)))
        self.send(new_signal(menu, "LayoutUpdated", "ui", (self.revision, 0)))

    # ------------------------------------------------------------ the daemon's side

    def _do(self, action: tuple[str, ...]) -> None:
        """One menu item: ask the daemon (or open the log); a failure is one line on stderr."""
        try:
            if action[0] == "open-log":
                subprocess.Popen(["xdg-open", str(self.log_file)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                return
            with Client(self.socket, timeout=30) as client:
                params = {"id": action[1]} if action[0] == "llm.use" else {}
                client.call(action[0], **params)
        except (AssistantError, OSError) as exc:
            print(f"assistant tray: {action[0]}: {exc}", flush=True)

    def follow(self, on_change: Callable[[], None]) -> None:
        """The daemon's events into the view until it goes away (then the icon says so)."""
        try:
            with Client(self.socket, timeout=None) as client:
                status = client.call("status")
                self.llms = [row["id"] for row in client.call("llm.list")]
                self.view = replace(Presence.of(status), state=str(client.call("subscribe")["state"]))
                on_change()
                for event in client.events(subscribed=True):
                    changed = self.view.after(event)
                    if event.event == "llm" or changed != self.view:
                        self.view = changed
                        on_change()
        except NotRunning:
            self.view = Presence("stopped")
            on_change()


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
    tray = Tray(socket, log_file)
    problem = tray.register()
    if problem is not None:
        print(f"assistant tray: {problem}", flush=True)
        if not wait:
            return 1
    stop = threading.Event()
    server = threading.Thread(target=tray.serve, args=(stop,), name="tray-dbus", daemon=True)
    server.start()
    try:
        tray.follow(tray.changed)
    except KeyboardInterrupt:
        pass
    stop.set()
    server.join(2)
    return 0
