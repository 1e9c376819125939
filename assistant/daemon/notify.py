"""Desktop notifications (freedesktop Notifications over the D-Bus session bus, with jeepney)."""

from __future__ import annotations

import logging
import os
from typing import Any

log = logging.getLogger(__name__)


class Notifier:
    """Best effort: off where there is no session bus, and a failure never reaches the caller."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled and bool(os.environ.get("DBUS_SESSION_BUS_ADDRESS"))
        self._conn: Any = None

    def send(self, summary: str, body: str = "") -> None:
        if not self.enabled:
            return
        try:
            from jeepney import DBusAddress, new_method_call
            from jeepney.io.blocking import open_dbus_connection

            if self._conn is None:
                self._conn = open_dbus_connection(bus="SESSION")
            address = DBusAddress(
                "/org/freedesktop/Notifications",
                bus_name="org.freedesktop.Notifications",
                interface="org.freedesktop.Notifications",
            )
            msg = new_method_call(
                address, "Notify", "susssasa{sv}i", ("assistant", 0, "audio-input-microphone", summary, body, [], {}, 4000)
            )
            self._conn.send(msg)  # no reply awaited: a notification must not hold up the loop
        except Exception as exc:  # no notification server, bus gone: turn them off and say so once
            log.info("desktop notifications off: %s", exc)
            self.enabled = False
