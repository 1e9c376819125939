"""The tray's two D-Bus objects, a StatusNotifierItem and its com.canonical.dbusmenu, as dbus-fast ServiceInterfaces.

Declared, not dispatched by hand: dbus-fast derives org.freedesktop.DBus.Introspectable, Properties
(Get, GetAll) and PropertiesChanged from the decorated members, so a host that introspects first
(dbus-next and dbus-fast hosts, Qt's QDBusInterface, busctl, d-feet) sees the same object that one
calling blindly does (Waybar, KDE). What is shown comes in as plain values (`Look`, `Entry`) from
cli/tray.py, which knows the daemon; this module knows only the two specifications.

Everything here runs in the tray's asyncio loop: a method call, a property read and `show` alike.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from dbus_fast import Message, MessageType, PropertyAccess, Variant
from dbus_fast.aio import MessageBus
from dbus_fast.annotations import (
    DBusBool,
    DBusInt32,
    DBusObjectPath,
    DBusSignature,
    DBusStr,
    DBusUInt32,
    DBusVariant,
)
from dbus_fast.service import ServiceInterface, dbus_method, dbus_property, dbus_signal

ITEM_PATH = "/StatusNotifierItem"
MENU_PATH = "/MenuBar"
ITEM = "org.kde.StatusNotifierItem"
MENU = "com.canonical.dbusmenu"
WATCHER = "org.kde.StatusNotifierWatcher"

# The specifications' compound types. dbus-fast reads the signature out of each annotation (evaluated in
# this module, hence module-level names); mypy reads the Python type.
ToolTip = Annotated[tuple[str, list[Any], str, str], DBusSignature("(sa(iiay)ss)")]
Pixmaps = Annotated[list[Any], DBusSignature("a(iiay)")]
Strings = Annotated[list[str], DBusSignature("as")]
Ints = Annotated[list[int], DBusSignature("ai")]
Layout = Annotated[tuple[int, list[Any]], DBusSignature("u(ia{sv}av)")]
GroupProperties = Annotated[list[Any], DBusSignature("a(ia{sv})")]
Events = Annotated[list[Any], DBusSignature("a(isvu)")]
IdLists = Annotated[tuple[list[int], list[int]], DBusSignature("aiai")]
Removed = Annotated[list[Any], DBusSignature("a(ias)")]
LayoutRevision = Annotated[tuple[int, int], DBusSignature("ui")]
# No return value, said so that dbus-fast reads it (a bare None annotation would not be).
Nothing = Annotated[None, DBusSignature("")]


@dataclass(frozen=True)
class Look:
    """What the item shows that changes: its status, its icon and its tooltip."""

    status: str  # Active or NeedsAttention (the specification's Passive is never used: the icon always shows)
    icon: str  # an icon name, found in the item's IconThemePath
    tip_title: str
    tip_text: str

    def properties(self) -> dict[str, str | ToolTip]:
        """The D-Bus properties this look decides, by their D-Bus names."""
        return {"Status": self.status, "IconName": self.icon, "ToolTip": (self.icon, [], self.tip_title, self.tip_text)}


class StatusNotifierItem(ServiceInterface):
    """org.kde.StatusNotifierItem (the freedesktop StatusNotifierItem specification, KDE's name for it)."""

    def __init__(self, look: Look, icon_dir: str, activate: Callable[[], None]) -> None:
        super().__init__(ITEM)
        self.look = look
        self.icon_dir = icon_dir
        self.activate = activate

    def show(self, look: Look) -> None:
        """Tell hosts what changed, both ways they listen: PropertiesChanged, and the specification's New*
        signals (after which hosts such as Waybar read the properties again)."""
        before, after = self.look.properties(), look.properties()
        self.look = look
        changed = {name: value for name, value in after.items() if before[name] != value}
        if not changed:
            return
        self.emit_properties_changed(changed)
        if "IconName" in changed:
            self.new_icon()
        if "ToolTip" in changed:
            self.new_tool_tip()
        if "Status" in changed:
            self.new_status(look.status)

    @dbus_property(PropertyAccess.READ, name="Category")
    def category(self) -> DBusStr:
        return "ApplicationStatus"

    @dbus_property(PropertyAccess.READ, name="Id")
    def id_(self) -> DBusStr:
        return "assistant"

    @dbus_property(PropertyAccess.READ, name="Title")
    def title(self) -> DBusStr:
        return "Assistant"

    @dbus_property(PropertyAccess.READ, name="Status")
    def status(self) -> DBusStr:
        return self.look.status

    @dbus_property(PropertyAccess.READ, name="WindowId")
    def window_id(self) -> DBusInt32:
        return 0

    @dbus_property(PropertyAccess.READ, name="IconName")
    def icon_name(self) -> DBusStr:
        return self.look.icon

    @dbus_property(PropertyAccess.READ, name="IconPixmap")
    def icon_pixmap(self) -> Pixmaps:
        return []  # the icons are named and themed (IconThemePath); no pixels are sent

    @dbus_property(PropertyAccess.READ, name="IconThemePath")
    def icon_theme_path(self) -> DBusStr:
        return self.icon_dir

    @dbus_property(PropertyAccess.READ, name="ToolTip")
    def tool_tip(self) -> ToolTip:
        return (self.look.icon, [], self.look.tip_title, self.look.tip_text)

    @dbus_property(PropertyAccess.READ, name="ItemIsMenu")
    def item_is_menu(self) -> DBusBool:
        return False  # a click toggles listening; the menu is on the other button

    @dbus_property(PropertyAccess.READ, name="Menu")
    def menu(self) -> DBusObjectPath:
        return MENU_PATH

    @dbus_method(name="Activate")
    def activate_(self, x: DBusInt32, y: DBusInt32) -> Nothing:
        self.activate()

    @dbus_method(name="SecondaryActivate")
    def secondary_activate(self, x: DBusInt32, y: DBusInt32) -> Nothing:
        self.activate()

    @dbus_method(name="ContextMenu")
    def context_menu(self, x: DBusInt32, y: DBusInt32) -> Nothing:
        pass  # hosts show Menu themselves; there is no menu of our own to pop up

    @dbus_method(name="Scroll")
    def scroll(self, delta: DBusInt32, orientation: DBusStr) -> Nothing:
        pass

    @dbus_signal(name="NewTitle")
    def new_title(self) -> Nothing:
        pass

    @dbus_signal(name="NewIcon")
    def new_icon(self) -> Nothing:
        pass

    @dbus_signal(name="NewToolTip")
    def new_tool_tip(self) -> Nothing:
        pass

    @dbus_signal(name="NewStatus")
    def new_status(self, status: str) -> DBusStr:
        return status


@dataclass(frozen=True)
class Entry:
    """One menu item: its id (stable across rebuilds, so a click on a stale layout still means it), its label,
    and for a toggle its kind ("checkmark" or "radio") and state (1 on, 0 off)."""

    id: int
    label: str
    toggle: str = ""
    state: int = -1

    def properties(self) -> dict[str, Variant]:
        props = {"label": Variant("s", self.label)}
        if self.toggle:
            props["toggle-type"] = Variant("s", self.toggle)
            props["toggle-state"] = Variant("i", self.state)
        return props


class DBusMenu(ServiceInterface):
    """com.canonical.dbusmenu: one level of items under the root (id 0)."""

    def __init__(self, entries: list[Entry], icon_dir: str, clicked: Callable[[int], None]) -> None:
        super().__init__(MENU)
        self.entries = entries
        self.icon_dir = icon_dir
        self.clicked = clicked
        self.revision = 1

    def show(self, entries: list[Entry]) -> None:
        """A new layout revision when an item changed; hosts then read the layout again."""
        if entries != self.entries:
            self.entries = entries
            self.revision += 1
            self.layout_updated(self.revision, 0)

    def _node(self, entry: Entry) -> list[Any]:
        return [entry.id, entry.properties(), []]

    def _root(self) -> list[Any]:
        children = [Variant("(ia{sv}av)", self._node(entry)) for entry in self.entries]
        return [0, {"children-display": Variant("s", "submenu")}, children]

    @dbus_property(PropertyAccess.READ, name="Version")
    def version(self) -> DBusUInt32:
        return 3

    @dbus_property(PropertyAccess.READ, name="TextDirection")
    def text_direction(self) -> DBusStr:
        return "ltr"

    @dbus_property(PropertyAccess.READ, name="Status")
    def status(self) -> DBusStr:
        return "normal"

    @dbus_property(PropertyAccess.READ, name="IconThemePath")
    def icon_theme_path(self) -> Strings:
        return [self.icon_dir]

    @dbus_method(name="GetLayout")
    def get_layout(self, parent_id: DBusInt32, recursion_depth: DBusInt32, property_names: Strings) -> Layout:
        node = next((self._node(entry) for entry in self.entries if entry.id == parent_id), None)
        return (self.revision, node if node is not None else self._root())

    @dbus_method(name="GetGroupProperties")
    def get_group_properties(self, ids: Ints, property_names: Strings) -> GroupProperties:
        return [[entry.id, entry.properties()] for entry in self.entries if entry.id in ids or not ids]

    @dbus_method(name="GetProperty")
    def get_property(self, item_id: DBusInt32, name: DBusStr) -> DBusVariant:
        entry = next((entry for entry in self.entries if entry.id == item_id), None)
        props = entry.properties() if entry is not None else {}
        if name not in props:
            from dbus_fast import DBusError

            raise DBusError("org.freedesktop.DBus.Error.InvalidArgs", f"no property {name!r} on item {item_id}")
        return props[name]

    @dbus_method(name="Event")
    def event(self, item_id: DBusInt32, event_id: DBusStr, data: DBusVariant, timestamp: DBusUInt32) -> Nothing:
        if event_id == "clicked":
            self.clicked(item_id)

    @dbus_method(name="EventGroup")
    def event_group(self, events: Events) -> Ints:
        known = {entry.id for entry in self.entries}
        for item_id, event_id, _, _ in events:
            if event_id == "clicked" and item_id in known:
                self.clicked(item_id)
        return [event[0] for event in events if event[0] not in known]

    @dbus_method(name="AboutToShow")
    def about_to_show(self, item_id: DBusInt32) -> DBusBool:
        return False  # the layout is kept current (LayoutUpdated); nothing to refresh before showing

    @dbus_method(name="AboutToShowGroup")
    def about_to_show_group(self, ids: Ints) -> IdLists:
        return ([], [])

    @dbus_signal(name="LayoutUpdated")
    def layout_updated(self, revision: int, parent: int) -> LayoutRevision:
        return (revision, parent)

    @dbus_signal(name="ItemsPropertiesUpdated")
    def items_properties_updated(self) -> Annotated[tuple[list[Any], list[Any]], DBusSignature("a(ia{sv})a(ias)")]:
        return ([], [])  # declared for the specification; every change is a new layout revision instead


async def _bus_method(bus: MessageBus, member: str, arg: str) -> Any:
    """One call to the bus itself (org.freedesktop.DBus), with one string argument; its first return value."""
    reply = await bus.call(Message(destination="org.freedesktop.DBus", path="/org/freedesktop/DBus",
                                   interface="org.freedesktop.DBus", member=member, signature="s", body=[arg]))
    return reply.body[0] if reply.message_type == MessageType.METHOD_RETURN and reply.body else None


async def register(bus: MessageBus, item_name: str) -> None:
    """Ask the panel's watcher to show the item. The watcher usually reads the item's properties before it
    answers, which this loop serves meanwhile; an error (the watcher went away) is left for its return."""
    await bus.call(Message(destination=WATCHER, path="/StatusNotifierWatcher", interface=WATCHER,
                           member="RegisterStatusNotifierItem", signature="s", body=[item_name]))


async def show_on_panels(bus: MessageBus, item_name: str) -> bool:
    """Register with the StatusNotifierWatcher now if there is one, and again each time one starts (a panel
    started after the tray, or restarted); whether one is there now."""
    tasks: set[asyncio.Task[None]] = set()

    def appeared(msg: Message) -> None:
        if (msg.message_type == MessageType.SIGNAL and msg.member == "NameOwnerChanged"
                and msg.body[0] == WATCHER and msg.body[2]):
            task = asyncio.get_running_loop().create_task(register(bus, item_name))
            tasks.add(task)  # held until done: the loop keeps only a weak reference to a task
            task.add_done_callback(tasks.discard)

    # The match before the question, so a watcher that starts in between is not missed.
    await _bus_method(bus, "AddMatch", f"type='signal',sender='org.freedesktop.DBus',interface='org.freedesktop.DBus',"
                                       f"member='NameOwnerChanged',path='/org/freedesktop/DBus',arg0='{WATCHER}'")
    bus.add_message_handler(appeared)
    if not await _bus_method(bus, "NameHasOwner", WATCHER):
        return False
    await register(bus, item_name)
    return True
