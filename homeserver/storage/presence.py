"""Presence state of local users (table presence_state): written in batches behind the
in-memory state the presence handler keeps, read back at start."""

from __future__ import annotations

from typing import NamedTuple

from homeserver.storage.database import Database, Transaction


class StoredPresence(NamedTuple):
    user_id: str
    presence: str
    status_msg: str | None
    last_active_ts: int
    currently_active: bool
    set_explicitly: bool
    stream_id: int


_COLUMNS = "user_id, presence, status_msg, last_active_ts, currently_active, set_explicitly, stream_id"


def _row(r: tuple) -> StoredPresence:
    return StoredPresence(r[0], r[1], r[2], r[3], bool(r[4]), bool(r[5]), r[6])


class PresenceStore:
    def __init__(self, db: Database):
        self._db = db

    async def get_max_stream_id(self) -> int:
        rows = await self._db.execute("presence_max_stream_id", "SELECT MAX(stream_id) FROM presence_state")
        return rows[0][0] or 0

    async def get_remarkable(self) -> list[StoredPresence]:
        """The users whose presence is more than "offline, no message": the ones worth having in
        memory from the start (the rest are read when asked for: get())."""
        rows = await self._db.execute(
            "get_remarkable_presence",
            f"SELECT {_COLUMNS} FROM presence_state WHERE presence <> 'offline' OR status_msg IS NOT NULL")
        return [_row(r) for r in rows]

    async def get(self, user_id: str) -> StoredPresence | None:
        rows = await self._db.execute("get_presence", f"SELECT {_COLUMNS} FROM presence_state WHERE user_id = ?",
                                      user_id)
        return _row(rows[0]) if rows else None

    async def put_many(self, states: list[StoredPresence]) -> None:
        def txn_fn(txn: Transaction) -> None:
            txn.executemany(
                f"INSERT INTO presence_state ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (user_id) DO UPDATE "
                "SET presence = excluded.presence, status_msg = excluded.status_msg, "
                "last_active_ts = excluded.last_active_ts, currently_active = excluded.currently_active, "
                "set_explicitly = excluded.set_explicitly, stream_id = excluded.stream_id",
                [tuple(s) for s in states])

        if states:
            await self._db.run("put_presence", txn_fn)
