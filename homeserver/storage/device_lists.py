"""The device-list stream (which users' devices or keys changed, at which position) and the
membership questions it is read with: who shares a room with whom, who joined or left since when."""

from __future__ import annotations

from homeserver.storage.database import Database, Transaction
from homeserver.storage.ids import IdGenerator, StreamIdTracker


class DeviceListsStore:
    def __init__(self, db: Database):
        self._db = db
        self.stream = StreamIdTracker(IdGenerator("device_lists_stream", "stream_id"))

    async def load(self) -> None:
        await self.stream._generator.load(self._db)
        rows = await self._db.execute("max_device_lists_stream", "SELECT MAX(stream_id) FROM device_lists_stream")
        self.stream.load(rows[0][0] or 0)

    async def add_change(self, user_id: str, only_for: str | None = None) -> int:
        position = self.stream.allocate()
        try:
            await self._db.run("add_device_list_change", lambda txn: txn.execute(
                "INSERT INTO device_lists_stream (stream_id, user_id, only_for) VALUES (?, ?, ?)",
                (position, user_id, only_for)))
        finally:
            self.stream.finish(position)
        return position

    async def get_changes(self, after: int, upto: int) -> list[tuple[str, str | None]]:
        """(user_id, only_for) of the changes in (after, upto]."""
        rows = await self._db.execute(
            "get_device_list_changes",
            "SELECT DISTINCT user_id, only_for FROM device_lists_stream WHERE stream_id > ? AND stream_id <= ?",
            after, upto)
        return [(r[0], r[1]) for r in rows]

    async def get_users_sharing_a_room(self, user_id: str) -> set[str]:
        """Everyone joined to a room the user is joined to (the user too, if joined anywhere)."""
        rows = await self._db.execute(
            "get_users_sharing_a_room",
            "SELECT DISTINCT other.user_id FROM current_memberships mine JOIN current_memberships other "
            "ON other.room_id = mine.room_id WHERE mine.user_id = ? AND mine.membership = ? AND other.membership = ?",
            user_id, "join", "join")
        return {r[0] for r in rows}

    async def get_membership_changes(self, user_id: str, after: int, upto: int
                                     ) -> tuple[dict[str, str], list[tuple[str, str]]]:
        """Membership changes in event positions (after, upto] that matter to the user's device
        lists: (room_id -> the user's own latest membership, for rooms where it changed),
        [(room_id, user_id)] of other users whose membership changed in rooms the user is joined
        to now or whose own membership changed."""

        def txn_fn(txn: Transaction) -> tuple[dict[str, str], list[tuple[str, str]]]:
            own: dict[str, str] = {}
            for room_id, membership in txn.execute(
                    "SELECT room_id, membership FROM room_memberships WHERE user_id = ? AND stream_ordering > ? "
                    "AND stream_ordering <= ? ORDER BY stream_ordering", (user_id, after, upto)).fetchall():
                own[room_id] = membership
            joined = [r[0] for r in txn.execute(
                "SELECT room_id FROM current_memberships WHERE user_id = ? AND membership = ?",
                (user_id, "join")).fetchall()]
            rooms = sorted(set(joined) | set(own))
            others = txn.select_in(
                "SELECT DISTINCT m.room_id, m.user_id FROM events e JOIN room_memberships m ON m.event_id = e.event_id "
                "WHERE e.room_id {in} AND e.stream_ordering > ? AND e.stream_ordering <= ? AND m.user_id <> ?",
                rooms, after=(after, upto, user_id))
            return own, [(r[0], r[1]) for r in others]

        return await self._db.run("get_device_list_membership_changes", txn_fn)

    async def get_joined_members(self, room_ids: list[str]) -> set[str]:
        def txn_fn(txn: Transaction) -> set[str]:
            return {r[0] for r in txn.select_in(
                "SELECT DISTINCT user_id FROM current_memberships WHERE room_id {in} AND membership = ?",
                room_ids, after=("join",))}

        return await self._db.run("get_joined_members", txn_fn) if room_ids else set()
