"""The e-mail outbox (table email_outbox): mails waiting for the SMTP server to accept them."""

from __future__ import annotations

from typing import NamedTuple

from homeserver.storage.database import Database


class OutboxMail(NamedTuple):
    id: str
    recipient: str
    message: str
    attempts: int
    next_attempt_ts: int


class EmailOutboxStore:
    def __init__(self, db: Database):
        self._db = db

    async def add(self, mail_id: str, recipient: str, message: str, now_ms: int) -> None:
        await self._db.run(
            "add_outbox_mail",
            lambda txn: txn.execute(
                "INSERT INTO email_outbox (id, recipient, message, created_ts, attempts, next_attempt_ts) "
                "VALUES (?, ?, ?, ?, 0, ?)", (mail_id, recipient, message, now_ms, now_ms)))

    async def get_due(self, now_ms: int, limit: int) -> list[OutboxMail]:
        rows = await self._db.execute(
            "get_due_outbox_mails",
            "SELECT id, recipient, message, attempts, next_attempt_ts FROM email_outbox "
            "WHERE next_attempt_ts <= ? ORDER BY next_attempt_ts, created_ts LIMIT ?", now_ms, limit)
        return [OutboxMail(*r) for r in rows]

    async def next_due_ts(self) -> int | None:
        rows = await self._db.execute("next_outbox_due", "SELECT MIN(next_attempt_ts) FROM email_outbox")
        return rows[0][0] if rows and rows[0][0] is not None else None

    async def delete(self, mail_id: str) -> None:
        await self._db.run("delete_outbox_mail",
                           lambda txn: txn.execute("DELETE FROM email_outbox WHERE id = ?", (mail_id,)))

    async def record_failure(self, mail_id: str, attempts: int, next_attempt_ts: int, error: str) -> None:
        await self._db.run(
            "record_outbox_failure",
            lambda txn: txn.execute(
                "UPDATE email_outbox SET attempts = ?, next_attempt_ts = ?, last_error = ? WHERE id = ?",
                (attempts, next_attempt_ts, error[:1000], mail_id)))

    async def count(self) -> int:
        rows = await self._db.execute("count_outbox", "SELECT COUNT(*) FROM email_outbox")
        return rows[0][0]
