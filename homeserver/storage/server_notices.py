"""Each user's server notices room (schema 031)."""

from __future__ import annotations

from homeserver.storage.database import Database, Transaction


class ServerNoticesStore:
    def __init__(self, db: Database):
        self._db = db

    async def get_room(self, user_id: str) -> str | None:
        rows = await self._db.execute("get_server_notice_room",
                                      "SELECT room_id FROM server_notice_rooms WHERE user_id = ?", user_id)
        return rows[0][0] if rows else None

    async def set_room(self, user_id: str, room_id: str, now_ms: int) -> None:
        def txn_fn(txn: Transaction) -> None:
            txn.execute("DELETE FROM server_notice_rooms WHERE user_id = ?", (user_id,))
            txn.execute("INSERT INTO server_notice_rooms (user_id, room_id, created_ts) VALUES (?, ?, ?)",
                        (user_id, room_id, now_ms))

        await self._db.run("set_server_notice_room", txn_fn)

    async def is_notice_room_of(self, user_id: str, room_id: str) -> bool:
        rows = await self._db.execute("is_server_notice_room", "SELECT 1 FROM server_notice_rooms WHERE user_id = ? "
                                      "AND room_id = ?", user_id, room_id)
        return bool(rows)
