"""Read receipts (m.read, m.read.private), threaded or not."""

from __future__ import annotations

from typing import Any

from homeserver.storage.database import Database, Transaction
from homeserver.storage.ids import IdGenerator, StreamIdTracker


class ReceiptsStore:
    def __init__(self, db: Database):
        self._db = db
        self.stream = StreamIdTracker(IdGenerator("receipts", "stream_id"))

    async def load(self) -> None:
        await self.stream._generator.load(self._db)
        rows = await self._db.execute("max_receipts", "SELECT MAX(stream_id) FROM receipts")
        self.stream.load(rows[0][0] or 0)

    async def put(self, room_id: str, receipt_type: str, user_id: str, thread_id: str, event_id: str,
                  ts: int) -> int:
        position = self.stream.allocate()

        def txn_fn(txn: Transaction) -> None:
            txn.execute("DELETE FROM receipts WHERE room_id = ? AND receipt_type = ? AND user_id = ? AND thread_id = ?",
                        (room_id, receipt_type, user_id, thread_id))
            txn.execute("INSERT INTO receipts (room_id, receipt_type, user_id, thread_id, event_id, ts, stream_id) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?)", (room_id, receipt_type, user_id, thread_id, event_id, ts, position))

        try:
            await self._db.run("put_receipt", txn_fn)
        finally:
            self.stream.finish(position)
        return position

    async def get_changes(self, room_ids: list[str], after: int | None, upto: int) -> list[tuple[Any, ...]]:
        """(room_id, receipt_type, user_id, thread_id, event_id, ts) of receipts in (after, upto]."""

        def txn_fn(txn: Transaction) -> list[tuple[Any, ...]]:
            return txn.select_in(
                "SELECT room_id, receipt_type, user_id, thread_id, event_id, ts FROM receipts "
                "WHERE room_id {in} AND stream_id > ? AND stream_id <= ?", room_ids, after=(after or 0, upto))

        return await self._db.run("get_receipt_changes", txn_fn) if room_ids else []
