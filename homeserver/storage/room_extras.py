"""Event, room and user reports, forgotten rooms, and finding a room's events by timestamp."""

from __future__ import annotations

from typing import Any

from homeserver.storage.database import Database, Transaction
from homeserver.storage.events import VISIBLE
from homeserver.storage.ids import IdGenerator


class RoomExtrasStore:
    def __init__(self, db: Database):
        self._db = db
        self._event_report_ids = IdGenerator("event_reports", "id")
        self._room_report_ids = IdGenerator("room_reports", "id")
        self._user_report_ids = IdGenerator("user_reports", "id")

    async def load(self) -> None:
        await self._event_report_ids.load(self._db)
        await self._room_report_ids.load(self._db)
        await self._user_report_ids.load(self._db)

    # -- reports --------------------------------------------------------------------------------

    async def add_event_report(self, room_id: str, event_id: str, user_id: str, reason: str | None,
                               score: int | None, now_ms: int) -> int:
        report_id = self._event_report_ids.next()
        await self._db.run("add_event_report", lambda txn: txn.execute(
            "INSERT INTO event_reports (id, room_id, event_id, user_id, reason, score, received_ts) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)", (report_id, room_id, event_id, user_id, reason, score, now_ms)))
        return report_id

    async def add_room_report(self, room_id: str, user_id: str, reason: str, now_ms: int) -> int:
        report_id = self._room_report_ids.next()
        await self._db.run("add_room_report", lambda txn: txn.execute(
            "INSERT INTO room_reports (id, room_id, user_id, reason, received_ts) VALUES (?, ?, ?, ?, ?)",
            (report_id, room_id, user_id, reason, now_ms)))
        return report_id

    async def add_user_report(self, target_user_id: str, user_id: str, reason: str, now_ms: int) -> int:
        report_id = self._user_report_ids.next()
        await self._db.run("add_user_report", lambda txn: txn.execute(
            "INSERT INTO user_reports (id, target_user_id, user_id, reason, received_ts) VALUES (?, ?, ?, ?, ?)",
            (report_id, target_user_id, user_id, reason, now_ms)))
        return report_id

    async def get_user_reports(self, target_user_id: str) -> list[dict[str, Any]]:
        rows = await self._db.execute(
            "get_user_reports",
            "SELECT id, user_id, reason, received_ts FROM user_reports WHERE target_user_id = ? ORDER BY id",
            target_user_id)
        return [dict(zip(("id", "user_id", "reason", "received_ts"), r, strict=True)) for r in rows]

    async def get_event_reports(self, room_id: str) -> list[dict[str, Any]]:
        rows = await self._db.execute(
            "get_event_reports",
            "SELECT id, event_id, user_id, reason, score, received_ts FROM event_reports WHERE room_id = ? "
            "ORDER BY id", room_id)
        return [dict(zip(("id", "event_id", "user_id", "reason", "score", "received_ts"), r, strict=True)) for r in rows]

    async def get_room_reports(self, room_id: str) -> list[dict[str, Any]]:
        rows = await self._db.execute(
            "get_room_reports",
            "SELECT id, user_id, reason, received_ts FROM room_reports WHERE room_id = ? ORDER BY id", room_id)
        return [dict(zip(("id", "user_id", "reason", "received_ts"), r, strict=True)) for r in rows]

    # -- forgotten rooms ------------------------------------------------------------------------

    async def forget_room(self, user_id: str, room_id: str, membership_event_id: str, now_ms: int) -> None:
        def txn_fn(txn: Transaction) -> None:
            txn.execute("DELETE FROM forgotten_rooms WHERE user_id = ? AND room_id = ?", (user_id, room_id))
            txn.execute("INSERT INTO forgotten_rooms (user_id, room_id, membership_event_id, forgotten_ts) "
                        "VALUES (?, ?, ?, ?)", (user_id, room_id, membership_event_id, now_ms))

        await self._db.run("forget_room", txn_fn)

    async def get_forgotten_membership(self, user_id: str, room_id: str) -> str | None:
        """The membership event ID the user had when they forgot the room, if they did."""
        rows = await self._db.execute(
            "get_forgotten_membership",
            "SELECT membership_event_id FROM forgotten_rooms WHERE user_id = ? AND room_id = ?", user_id, room_id)
        return rows[0][0] if rows else None

    async def get_forgotten_rooms(self, user_id: str) -> dict[str, str]:
        """room_id -> the membership event ID the user had when they forgot it, for every room
        they forgot."""
        rows = await self._db.execute(
            "get_forgotten_rooms", "SELECT room_id, membership_event_id FROM forgotten_rooms WHERE user_id = ?",
            user_id)
        return {r[0]: r[1] for r in rows}

    # -- events by timestamp --------------------------------------------------------------------

    async def get_events_by_timestamp(self, room_id: str, ts: int, forwards: bool, after: tuple[int, int] | None,
                                      limit: int) -> list[tuple[str, int, int]]:
        """(event_id, origin_server_ts, stream_ordering) of the room's accepted events nearest `ts`:
        forwards those at or after it, oldest first; backwards those at or before it, newest first.
        `after`: the (origin_server_ts, stream_ordering) of the last row of the previous page."""
        if forwards:
            sql = ("SELECT event_id, origin_server_ts, stream_ordering FROM events WHERE room_id = ? "
                   f"AND origin_server_ts >= ? AND {VISIBLE}")
            args: list[Any] = [room_id, ts]
            if after is not None:
                sql += " AND (origin_server_ts > ? OR (origin_server_ts = ? AND stream_ordering > ?))"
                args += [after[0], after[0], after[1]]
            sql += " ORDER BY origin_server_ts ASC, stream_ordering ASC LIMIT ?"
        else:
            sql = ("SELECT event_id, origin_server_ts, stream_ordering FROM events WHERE room_id = ? "
                   f"AND origin_server_ts <= ? AND {VISIBLE}")
            args = [room_id, ts]
            if after is not None:
                sql += " AND (origin_server_ts < ? OR (origin_server_ts = ? AND stream_ordering < ?))"
                args += [after[0], after[0], after[1]]
            sql += " ORDER BY origin_server_ts DESC, stream_ordering DESC LIMIT ?"
        args.append(limit)
        rows = await self._db.execute("get_events_by_timestamp", sql, *args)
        return [(r[0], r[1], r[2]) for r in rows]
