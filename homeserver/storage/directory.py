"""Room aliases hosted here and the published room directory (tables of 004_directory.sql)."""

from __future__ import annotations

from dataclasses import dataclass

from homeserver.storage.database import Database, Transaction


@dataclass(frozen=True)
class RoomAlias:
    room_alias: str
    room_id: str
    creator: str


class DirectoryStore:
    def __init__(self, db: Database):
        self._db = db

    # -- aliases --------------------------------------------------------------------------------

    async def create_alias(self, room_alias: str, room_id: str, creator: str, now_ms: int) -> bool:
        """Map the alias to the room; False if the alias is taken."""
        try:
            await self._db.run(
                "create_room_alias",
                lambda txn: txn.execute(
                    "INSERT INTO room_aliases (room_alias, room_id, creator, created_ts) VALUES (?, ?, ?, ?)",
                    (room_alias, room_id, creator, now_ms),
                ),
            )
            return True
        except self._db.IntegrityError:
            return False

    async def get_alias(self, room_alias: str) -> RoomAlias | None:
        rows = await self._db.execute(
            "get_room_alias", "SELECT room_alias, room_id, creator FROM room_aliases WHERE room_alias = ?",
            room_alias)
        return RoomAlias(*rows[0]) if rows else None

    async def get_aliases_for_room(self, room_id: str) -> list[str]:
        rows = await self._db.execute(
            "get_aliases_for_room", "SELECT room_alias FROM room_aliases WHERE room_id = ? ORDER BY created_ts, "
            "room_alias", room_id)
        return [r[0] for r in rows]

    async def delete_alias(self, room_alias: str) -> bool:
        """False if there was no such alias."""

        def txn_fn(txn: Transaction) -> bool:
            txn.execute("DELETE FROM room_aliases WHERE room_alias = ?", (room_alias,))
            return txn.rowcount > 0

        return await self._db.run("delete_room_alias", txn_fn)

    async def move_aliases(self, old_room_id: str, new_room_id: str) -> list[str]:
        """Point every alias of the old room at the new one; returns the aliases moved."""

        def txn_fn(txn: Transaction) -> list[str]:
            moved = [r[0] for r in txn.execute(
                "SELECT room_alias FROM room_aliases WHERE room_id = ? ORDER BY created_ts, room_alias",
                (old_room_id,)).fetchall()]
            txn.execute("UPDATE room_aliases SET room_id = ? WHERE room_id = ?", (new_room_id, old_room_id))
            return moved

        return await self._db.run("move_room_aliases", txn_fn)

    # -- published room directory ---------------------------------------------------------------

    async def get_visibility(self, room_id: str) -> str | None:
        rows = await self._db.execute(
            "get_room_visibility", "SELECT visibility FROM room_directory WHERE room_id = ?", room_id)
        return rows[0][0] if rows else None

    async def set_visibility(self, room_id: str, visibility: str) -> None:
        def txn_fn(txn: Transaction) -> None:
            txn.execute("DELETE FROM room_directory WHERE room_id = ?", (room_id,))
            txn.execute("INSERT INTO room_directory (room_id, visibility) VALUES (?, ?)", (room_id, visibility))

        await self._db.run("set_room_visibility", txn_fn)

    async def get_published_rooms(self) -> list[tuple[str, int]]:
        """(room_id, number of joined members) of every room published as public."""
        rows = await self._db.execute(
            "get_published_rooms",
            "SELECT d.room_id, COUNT(m.user_id) FROM room_directory d "
            "LEFT JOIN current_memberships m ON m.room_id = d.room_id AND m.membership = ? "
            "WHERE d.visibility = ? GROUP BY d.room_id",
            "join", "public",
        )
        return [(r[0], int(r[1])) for r in rows]
