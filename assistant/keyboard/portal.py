"""Typing through the RemoteDesktop portal (org.freedesktop.portal.RemoteDesktop, jeepney): GNOME and KDE on Wayland.

Mutter and KWin have no virtual-keyboard protocol for wtype; what they offer an app is this portal. The
first session asks the user, in a dialog of the desktop's own, to allow keyboard control; the portal then
hands back a restore token, kept in the state directory (0600), and every later session presents it and
is not asked again. Each token is good for one session and the next one comes back with it, so it is
saved after every start.

Keys go out as keysyms (NotifyKeyboardKeysym): the compositor finds the key and the modifiers in the
user's own layout, so no layout table is needed here. A session stays open while the user dictates and
closes after SESSION_IDLE_S without an edit: the desktop shows that it is being controlled while one is open.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from assistant.core.atomic import write_atomic
from assistant.keyboard.typing import Edit, TypingFailed, keysym

log = logging.getLogger(__name__)

BUS_NAME = "org.freedesktop.portal.Desktop"
OBJECT = "/org/freedesktop/portal/desktop"
INTERFACE = "org.freedesktop.portal.RemoteDesktop"
KEYBOARD = 1  # the portal's device type bit
PERSIST_UNTIL_REVOKED = 2
CALL_TIMEOUT_S = 10.0
CONSENT_TIMEOUT_S = 120.0  # the first start waits for the user to answer the desktop's dialog
SESSION_IDLE_S = 20.0
KEY_GAP_S = 0.002


class Portal:
    name = "portal"

    def __init__(self, env: Mapping[str, str], token_path: Path) -> None:
        self.env = env
        self.token_path = token_path
        self._checked: str | None | bool = False  # False: not asked yet; then the problem (None: none)
        self._lock = threading.Lock()
        self._conn: Any = None
        self._session = ""
        self._tokens = itertools.count(1)
        self._idle: threading.Timer | None = None

    def problem(self) -> str | None:
        if not self.env.get("DBUS_SESSION_BUS_ADDRESS"):
            return "no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is not set)"
        if self._checked is False:
            self._checked = self._probe()
        return self._checked if isinstance(self._checked, str) else None

    def _probe(self) -> str | None:
        """Whether the session's portal has a RemoteDesktop with a keyboard: asked once, the answer kept."""
        from jeepney import DBusAddress, MessageType, Properties
        from jeepney.io.blocking import open_dbus_connection

        try:
            with open_dbus_connection(bus=self.env["DBUS_SESSION_BUS_ADDRESS"]) as conn:
                portal = DBusAddress(OBJECT, bus_name=BUS_NAME, interface=INTERFACE)
                reply = conn.send_and_get_reply(Properties(portal).get("AvailableDeviceTypes"), timeout=CALL_TIMEOUT_S)
        except (OSError, TimeoutError, ValueError) as exc:  # ValueError: an address jeepney cannot read
            return f"cannot ask the desktop portal ({exc or type(exc).__name__})"
        if reply.header.message_type == MessageType.error:
            return "the desktop's portal has no RemoteDesktop (GNOME and KDE have it; the wlroots one does not)"
        if not int(reply.body[0][1]) & KEYBOARD:
            return "the desktop's RemoteDesktop portal offers no keyboard"
        return None

    async def apply(self, edit: Edit) -> None:
        text = "\b" * edit.erase + edit.text
        if text:
            await asyncio.to_thread(self._type, text)

    def _type(self, text: str) -> None:
        with self._lock:
            if self._idle is not None:
                self._idle.cancel()
            try:
                if not self._session:
                    self._start()
                for char in text:
                    for state in (1, 0):  # pressed, released
                        self._call("NotifyKeyboardKeysym", "oa{sv}iu", (self._session, {}, keysym(char), state))
                    time.sleep(KEY_GAP_S)
            except (OSError, TimeoutError) as exc:
                self._drop()
                raise TypingFailed(f"portal: the D-Bus connection failed ({exc})") from None
            except TypingFailed:
                self._drop()
                raise
            self._idle = threading.Timer(SESSION_IDLE_S, self.close)
            self._idle.daemon = True
            self._idle.start()

    # ---- the portal's request/response dance ----------------------------------------------------

    def _call(self, member: str, signature: str, body: tuple[Any, ...]) -> Any:
        from jeepney import DBusAddress, MessageType, new_method_call

        portal = DBusAddress(OBJECT, bus_name=BUS_NAME, interface=INTERFACE)
        reply = self._conn.send_and_get_reply(new_method_call(portal, member, signature, body), timeout=CALL_TIMEOUT_S)
        if reply.header.message_type == MessageType.error:
            raise TypingFailed(f"portal: {member} failed ({reply.body[0] if reply.body else 'no reason given'})")
        return reply.body

    def _request(self, member: str, signature: str, body: tuple[Any, ...], timeout: float = CALL_TIMEOUT_S
                 ) -> dict[str, Any]:
        """Call a method that answers later through a Request object's Response signal; its results.

        The request's path is known before the call (sender and handle_token), so the match is in place
        before the answer can come.
        """
        from jeepney import MatchRule, message_bus

        token = f"assistant{next(self._tokens)}"
        sender = self._conn.unique_name.lstrip(":").replace(".", "_")
        path = f"{OBJECT}/request/{sender}/{token}"
        rule = MatchRule(type="signal", interface="org.freedesktop.portal.Request", member="Response", path=path)
        self._conn.send_and_get_reply(message_bus.AddMatch(rule), timeout=CALL_TIMEOUT_S)
        options = body[-1]
        options["handle_token"] = ("s", token)
        with self._conn.filter(rule) as answers:
            self._call(member, signature, body)
            try:
                signal = self._conn.recv_until_filtered(answers, timeout=timeout)
            except TimeoutError:
                unanswered = " (the desktop's dialog was not answered)" if member == "Start" else ""
                raise TypingFailed(f"portal: no answer to {member} in {timeout:.0f} s{unanswered}") from None
        response, results = signal.body
        if response == 1:
            raise TypingFailed("portal: the user did not allow keyboard control (allow it when the desktop asks)")
        if response != 0:
            raise TypingFailed(f"portal: {member} was refused by the desktop (response {response})")
        return {key: value[1] for key, value in results.items()}

    def _start(self) -> None:
        from jeepney.io.blocking import open_dbus_connection

        self._conn = open_dbus_connection(bus=self.env["DBUS_SESSION_BUS_ADDRESS"])
        created = self._request("CreateSession", "a{sv}", ({"session_handle_token": ("s", "assistant")},))
        self._session = str(created["session_handle"])
        select: dict[str, tuple[str, Any]] = {"types": ("u", KEYBOARD), "persist_mode": ("u", PERSIST_UNTIL_REVOKED)}
        restore = self._read_token()
        if restore:
            select["restore_token"] = ("s", restore)
        self._request("SelectDevices", "oa{sv}", (self._session, select))
        # Without a token the desktop asks the user here, so this one waits for an answer.
        started = self._request("Start", "osa{sv}", (self._session, "", {}), timeout=CONSENT_TIMEOUT_S)
        if not int(started.get("devices", 0)) & KEYBOARD:
            raise TypingFailed("portal: the desktop started the session without a keyboard")
        if started.get("restore_token"):
            self._save_token(str(started["restore_token"]))
        log.info("dictation: RemoteDesktop portal session %s (%s)", self._session,
                 "restored without asking" if restore else "allowed by the user")

    def _save_token(self, token: str) -> None:
        try:
            self.token_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            write_atomic(self.token_path, token)
        except OSError as exc:  # typing goes on; the desktop will ask again next time
            log.warning("dictation: cannot keep the portal's restore token in %s (%s)", self.token_path, exc.strerror)

    def _read_token(self) -> str:
        try:
            return self.token_path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError):
            return ""

    def _drop(self) -> None:
        """Forget a session that failed, so the next edit starts a fresh one."""
        if self._conn is not None:
            self._conn.close()
        self._conn, self._session = None, ""

    def close(self) -> None:
        """End the session (the desktop stops showing that it is controlled)."""
        from jeepney import DBusAddress, new_method_call

        with self._lock:
            if self._session and self._conn is not None:
                session = DBusAddress(self._session, bus_name=BUS_NAME, interface="org.freedesktop.portal.Session")
                try:
                    self._conn.send_and_get_reply(new_method_call(session, "Close"), timeout=CALL_TIMEOUT_S)
                except (OSError, TimeoutError):
                    pass
            self._drop()
