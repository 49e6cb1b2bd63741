"""Read receipts (m.read, m.read.private), threaded or not."""

from __future__ import annotations

from typing import Any

from homeserver.storage.database import Database, Transaction
from homeserver.storage.ids import IdGenerator, StreamIdTracker
from homeserver.util.caches import LruCache


class ReceiptsStore:
    def __init__(self, db: Database):
        self._db = db
        self.stream = StreamIdTracker(IdGenerator("receipts", "stream_id"))
        # (room_id, user_id) -> the user's read receipts there: every /sync counts unread
        # notifications from them, in each room with news. Dropped after the commit of the user's
        # next receipt there (a read that raced with it does not fill it: see LruCache).
        self._read_receipts: LruCache[tuple[str, str], dict[str, str]] = LruCache("user_read_receipts", 100_000)

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
            txn.call_after_commit(lambda: self._forget_read_receipts(room_id, user_id))

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

        if not room_ids or (after is not None and after >= upto):
            return []  # nothing to look in (a sync woken by something else: an empty range)
        return await self._db.run("get_receipt_changes", txn_fn)

    async def get_user_read_receipts(self, room_id: str, user_id: str) -> dict[str, str]:
        """thread_id ('' unthreaded, 'main', or a thread root) -> the event the user's latest
        m.read or m.read.private receipt points at (the later of the two)."""
        async def load() -> dict[str, str]:
            rows = await self._db.execute(
                "get_user_read_receipts",
                "SELECT r.thread_id, r.event_id, e.stream_ordering FROM receipts r "
                "JOIN events e ON e.event_id = r.event_id "
                "WHERE r.room_id = ? AND r.user_id = ? AND r.receipt_type IN ('m.read', 'm.read.private')",
                room_id, user_id,
            )
            best: dict[str, tuple[int, str]] = {}
            for thread_id, event_id, position in rows:
                if thread_id not in best or position > best[thread_id][0]:
                    best[thread_id] = (position, event_id)
            return {t: e for t, (_, e) in best.items()}

        return dict(await self._read_receipts.get_or_load((room_id, user_id), load))

    def _forget_read_receipts(self, room_id: str, user_id: str) -> None:
        self._read_receipts.pop((room_id, user_id))
