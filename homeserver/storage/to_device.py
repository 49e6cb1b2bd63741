"""To-device messages: each device's inbox on the to-device stream, and the transaction IDs of
requests already carried out."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from homeserver.storage.database import Database, Transaction
from homeserver.storage.ids import IdGenerator, StreamIdTracker


@dataclass(frozen=True)
class InboxMessage:
    stream_id: int
    sender: str
    type: str
    content: dict[str, Any]


class ToDeviceStore:
    def __init__(self, db: Database):
        self._db = db
        self._ids = IdGenerator("device_inbox_stream", "position")
        self.stream = StreamIdTracker(self._ids)

    async def load(self) -> None:
        await self._ids.load(self._db)
        rows = await self._db.execute("max_device_inbox_stream", "SELECT MAX(position) FROM device_inbox_stream")
        self.stream.load(rows[0][0] or 0)

    async def txn_done(self, user_id: str, device_id: str, txn_id: str) -> bool:
        rows = await self._db.execute(
            "get_device_inbox_txn",
            "SELECT 1 FROM device_inbox_txns WHERE user_id = ? AND device_id = ? AND txn_id = ?",
            user_id, device_id, txn_id)
        return bool(rows)

    async def add_messages(self, sender: str, sender_device: str, txn_id: str, now_ms: int, message_type: str,
                           messages: list[tuple[str, str, str]]) -> int:
        """Store `messages` ([(user_id, device_id, content JSON)]) at one new stream position and
        record the transaction. Returns the position."""
        position = self.stream.allocate()

        def txn_fn(txn: Transaction) -> None:
            txn.execute("INSERT INTO device_inbox_txns (user_id, device_id, txn_id, ts) VALUES (?, ?, ?, ?)",
                        (sender, sender_device, txn_id, now_ms))
            if messages:
                txn.executemany(
                    "INSERT INTO device_inbox (user_id, device_id, stream_id, sender, type, content) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    [(user_id, device_id, position, sender, message_type, content)
                     for user_id, device_id, content in messages])
            txn.execute("UPDATE device_inbox_stream SET position = ? WHERE position < ?", (position, position))

        try:
            await self._db.run("add_to_device_messages", txn_fn)
        finally:
            self.stream.finish(position)
        return position

    async def get_messages(self, user_id: str, device_id: str, after: int, upto: int,
                           limit: int) -> list[InboxMessage]:
        """The device's messages in (after, upto], oldest first, at most `limit`."""
        rows = await self._db.execute(
            "get_device_inbox",
            "SELECT stream_id, sender, type, content FROM device_inbox "
            "WHERE user_id = ? AND device_id = ? AND stream_id > ? AND stream_id <= ? "
            "ORDER BY stream_id LIMIT ?",
            user_id, device_id, after, upto, limit)
        return [InboxMessage(s, sender, t, json.loads(c)) for s, sender, t, c in rows]

    async def delete_messages(self, user_id: str, device_id: str, upto: int) -> None:
        """Forget the device's messages at or below `upto` (delivered)."""
        def txn_fn(txn: Transaction) -> None:
            # Most syncs acknowledge nothing: look first, so they stay read-only transactions.
            if txn.execute("SELECT 1 FROM device_inbox WHERE user_id = ? AND device_id = ? AND stream_id <= ? "
                           "LIMIT 1", (user_id, device_id, upto)).fetchone():
                txn.execute("DELETE FROM device_inbox WHERE user_id = ? AND device_id = ? AND stream_id <= ?",
                            (user_id, device_id, upto))

        await self._db.run("delete_device_inbox", txn_fn)

    def delete_devices_txn(self, txn: Transaction, user_id: str, device_ids: list[str]) -> None:
        """Drop the inboxes and transaction records of deleted devices."""
        for device_id in device_ids:
            txn.execute("DELETE FROM device_inbox WHERE user_id = ? AND device_id = ?", (user_id, device_id))
            txn.execute("DELETE FROM device_inbox_txns WHERE user_id = ? AND device_id = ?", (user_id, device_id))

    async def delete_old_txns(self, before_ms: int) -> None:
        await self._db.run("delete_old_device_inbox_txns", lambda txn: txn.execute(
            "DELETE FROM device_inbox_txns WHERE ts < ?", (before_ms,)))
