"""Pushers (where to send a user's push notifications) and the notifications recorded for users."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from homeserver.storage.database import Database, Transaction
from homeserver.storage.ids import IdGenerator

_PUSHER_COLUMNS = ("id, user_id, device_id, kind, app_id, pushkey, pushkey_ts, app_display_name, "
                   "device_display_name, profile_tag, lang, data, last_stream_ordering")


@dataclass(frozen=True)
class PusherRecord:
    id: int
    user_id: str
    device_id: str | None
    kind: str
    app_id: str
    pushkey: str
    pushkey_ts: int  # ms
    app_display_name: str
    device_display_name: str
    profile_tag: str | None
    lang: str
    data: dict[str, Any]
    last_stream_ordering: int


@dataclass(frozen=True)
class NotificationRecord:
    user_id: str
    event_id: str
    room_id: str
    stream_ordering: int
    actions: list[Any]
    highlight: bool
    ts: int


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _pusher(row: tuple) -> PusherRecord:
    return PusherRecord(*row[:11], json.loads(row[11]), row[12])


def _notification(row: tuple) -> NotificationRecord:
    user_id, event_id, room_id, position, actions, highlight, ts = row
    return NotificationRecord(user_id, event_id, room_id, position, json.loads(actions), bool(highlight), ts)


class PushersStore:
    def __init__(self, db: Database):
        self._db = db
        self._ids = IdGenerator("pushers", "id")
        # Called with the deleted pushers once a transaction that deleted some has committed.
        self.removed_listeners: list[Callable[[list[PusherRecord]], None]] = []

    async def load(self) -> None:
        await self._ids.load(self._db)

    # -- pushers --------------------------------------------------------------------------------

    async def get_pushers(self, user_id: str) -> list[PusherRecord]:
        rows = await self._db.execute("get_pushers", f"SELECT {_PUSHER_COLUMNS} FROM pushers WHERE user_id = ? "
                                      "ORDER BY id", user_id)
        return [_pusher(r) for r in rows]

    async def get_pushers_of_kind(self, kind: str) -> list[PusherRecord]:
        rows = await self._db.execute("get_pushers_of_kind",
                                      f"SELECT {_PUSHER_COLUMNS} FROM pushers WHERE kind = ? ORDER BY id", kind)
        return [_pusher(r) for r in rows]

    async def get_pusher(self, pusher_id: int) -> PusherRecord | None:
        rows = await self._db.execute("get_pusher", f"SELECT {_PUSHER_COLUMNS} FROM pushers WHERE id = ?",
                                      pusher_id)
        return _pusher(rows[0]) if rows else None

    async def set_pusher(self, user_id: str, device_id: str | None, kind: str, app_id: str, pushkey: str,
                         app_display_name: str, device_display_name: str, profile_tag: str | None, lang: str,
                         data: dict[str, Any], now_ms: int, start_after: int,
                         remove_others: bool) -> PusherRecord:
        """Create the user's (app_id, pushkey) pusher or update it in place (a new pushkey_ts and
        device; delivery goes on from where it was). `remove_others`: delete the pushers of other
        users with this app_id and pushkey. `start_after`: where a new pusher starts delivering."""

        def txn_fn(txn: Transaction) -> PusherRecord:
            removed: list[PusherRecord] = []
            if remove_others:
                removed = self._delete_where_txn(txn, "app_id = ? AND pushkey = ? AND user_id <> ?",
                                                 (app_id, pushkey, user_id))
            row = txn.execute("SELECT id, last_stream_ordering FROM pushers WHERE user_id = ? AND app_id = ? "
                              "AND pushkey = ?", (user_id, app_id, pushkey)).fetchone()
            values = (device_id, kind, now_ms, app_display_name, device_display_name, profile_tag, lang,
                      _dumps(data))
            if row is None:
                pusher_id, position = self._ids.next(), start_after
                txn.execute(
                    "INSERT INTO pushers (device_id, kind, pushkey_ts, app_display_name, device_display_name, "
                    "profile_tag, lang, data, id, user_id, app_id, pushkey, last_stream_ordering) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (*values, pusher_id, user_id, app_id, pushkey, position))
            else:
                pusher_id, position = row
                txn.execute(
                    "UPDATE pushers SET device_id = ?, kind = ?, pushkey_ts = ?, app_display_name = ?, "
                    "device_display_name = ?, profile_tag = ?, lang = ?, data = ? WHERE id = ?",
                    (*values, pusher_id))
            self._after_removal(txn, removed)
            return PusherRecord(pusher_id, user_id, device_id, kind, app_id, pushkey, now_ms, app_display_name,
                                device_display_name, profile_tag, lang, data, position)

        return await self._db.run("set_pusher", txn_fn)

    async def delete_pusher(self, user_id: str, app_id: str, pushkey: str) -> bool:
        """Delete the user's (app_id, pushkey) pusher; False if there was none."""
        removed = await self._db.run("delete_pusher", self._delete_and_notify_txn,
                                     "user_id = ? AND app_id = ? AND pushkey = ?", (user_id, app_id, pushkey))
        return bool(removed)

    async def delete_all_pushers(self, user_id: str) -> None:
        await self._db.run("delete_all_pushers", self._delete_and_notify_txn, "user_id = ?", (user_id,))

    def delete_devices_txn(self, txn: Transaction, user_id: str, device_ids: list[str]) -> None:
        """The pushers set up by these devices (a device deletion hook: logout, password change)."""
        for device_id in device_ids:
            self._delete_and_notify_txn(txn, "user_id = ? AND device_id = ?", (user_id, device_id))

    async def set_last_stream_ordering(self, pusher_id: int, position: int) -> None:
        await self._db.run("set_pusher_position", lambda txn: txn.execute(
            "UPDATE pushers SET last_stream_ordering = ? WHERE id = ?", (position, pusher_id)))

    def _delete_and_notify_txn(self, txn: Transaction, where: str, args: tuple) -> list[PusherRecord]:
        removed = self._delete_where_txn(txn, where, args)
        self._after_removal(txn, removed)
        return removed

    @staticmethod
    def _delete_where_txn(txn: Transaction, where: str, args: tuple) -> list[PusherRecord]:
        # `where` is one of this module's constant clauses, never input.
        rows = txn.execute(f"SELECT {_PUSHER_COLUMNS} FROM pushers WHERE {where}", args).fetchall()
        if rows:
            txn.execute(f"DELETE FROM pushers WHERE {where}", args)
        return [_pusher(r) for r in rows]

    def _after_removal(self, txn: Transaction, removed: list[PusherRecord]) -> None:
        if removed:
            for listener in self.removed_listeners:
                txn.call_after_commit(lambda listener=listener: listener(removed))

    # -- notifications --------------------------------------------------------------------------

    async def add_notifications(self, rows: list[NotificationRecord]) -> None:
        """Record notifications (an event's, for its recipients); one already recorded is kept."""

        def txn_fn(txn: Transaction) -> None:
            txn.executemany(
                "INSERT INTO push_notifications (user_id, event_id, room_id, stream_ordering, actions, highlight, ts) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (user_id, event_id) DO NOTHING",
                [(n.user_id, n.event_id, n.room_id, n.stream_ordering, _dumps(n.actions), n.highlight, n.ts)
                 for n in rows])

        if rows:
            await self._db.run("add_notifications", txn_fn)

    async def get_notifications(self, user_id: str, before: int | None, limit: int,
                                only_highlight: bool) -> list[NotificationRecord]:
        """The user's notifications, newest first, below position `before` (if given)."""
        sql = ("SELECT user_id, event_id, room_id, stream_ordering, actions, highlight, ts FROM push_notifications "
               "WHERE user_id = ?")
        args: list[Any] = [user_id]
        if only_highlight:
            sql += " AND highlight = ?"
            args.append(True)
        if before is not None:
            sql += " AND stream_ordering < ?"
            args.append(before)
        sql += " ORDER BY stream_ordering DESC LIMIT ?"
        args.append(limit)
        rows = await self._db.execute("get_notifications", sql, *args)
        return [_notification(r) for r in rows]

    async def get_notifications_after(self, user_id: str, after: int, limit: int) -> list[NotificationRecord]:
        """The user's notifications past position `after`, oldest first (what a pusher sends next)."""
        rows = await self._db.execute(
            "get_notifications_after",
            "SELECT user_id, event_id, room_id, stream_ordering, actions, highlight, ts FROM push_notifications "
            "WHERE user_id = ? AND stream_ordering > ? ORDER BY stream_ordering LIMIT ?", user_id, after, limit)
        return [_notification(r) for r in rows]

    async def get_latest_notified_of_type(self, user_id: str, event_type: str,
                                          limit: int) -> list[tuple[str, str, int]]:
        """(room_id, event_id, position) of the user's latest notifications for events of a type."""
        return [tuple(r) for r in await self._db.execute(
            "get_latest_notified_of_type",
            "SELECT n.room_id, n.event_id, n.stream_ordering FROM push_notifications n "
            "JOIN events e ON e.event_id = n.event_id WHERE n.user_id = ? AND e.type = ? "
            "ORDER BY n.stream_ordering DESC LIMIT ?", user_id, event_type, limit)]

    async def delete_notifications_before(self, ts: int) -> None:
        await self._db.run("delete_old_notifications", lambda txn: txn.execute(
            "DELETE FROM push_notifications WHERE ts < ?", (ts,)))
