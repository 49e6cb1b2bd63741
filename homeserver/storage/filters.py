"""Users' uploaded filters (table user_filters): IDs numbered per user."""

from __future__ import annotations

from homeserver.storage.database import Database, Transaction
from homeserver.util.linearizer import Linearizer


class FiltersStore:
    def __init__(self, db: Database):
        self._db = db
        # One writer per user at a time (this process is the only writer): the next ID is MAX + 1.
        self._writers = Linearizer()

    async def add_filter(self, user_id: str, filter_json: str) -> int:
        """The ID of this exact filter JSON for the user: an earlier one if it was stored before,
        else a new one."""
        def txn_fn(txn: Transaction) -> int:
            row = txn.execute("SELECT filter_id FROM user_filters WHERE user_id = ? AND filter_json = ? "
                              "ORDER BY filter_id LIMIT 1", (user_id, filter_json)).fetchone()
            if row is not None:
                return int(row[0])
            row = txn.execute("SELECT MAX(filter_id) FROM user_filters WHERE user_id = ?", (user_id,)).fetchone()
            filter_id = 0 if row is None or row[0] is None else int(row[0]) + 1
            txn.execute("INSERT INTO user_filters (user_id, filter_id, filter_json) VALUES (?, ?, ?)",
                        (user_id, filter_id, filter_json))
            return filter_id

        async with self._writers.queue(user_id):
            return await self._db.run("add_filter", txn_fn)

    async def get_filter(self, user_id: str, filter_id: int) -> str | None:
        rows = await self._db.execute(
            "get_filter", "SELECT filter_json FROM user_filters WHERE user_id = ? AND filter_id = ?",
            user_id, filter_id)
        return rows[0][0] if rows else None
