"""Delayed events (MSC4140): the events clients scheduled, their transaction IDs, and the hook that
removes a scheduled event in the same transaction as the event it became."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from homeserver.events.model import Event
from homeserver.storage.database import Database, Transaction

_COLUMNS = ("delay_id, user_id, device_id, room_id, event_type, state_key, content, delay_ms, running_since, "
            "due_ts")


@dataclass(frozen=True)
class DelayedEvent:
    delay_id: str
    user_id: str
    device_id: str | None
    room_id: str
    event_type: str
    state_key: str | None  # None: a message
    content: dict[str, Any]
    delay_ms: int
    running_since: int
    due_ts: int


class DelayedEventGone(Exception):
    """The scheduled event an event is being sent for is no longer scheduled (cancelled, or sent
    already): the event's transaction is rolled back, so a delayed event never goes out twice."""


def _row(r: tuple) -> DelayedEvent:
    return DelayedEvent(r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6]), r[7], r[8], r[9])


class DelayedEventsStore:
    def __init__(self, db: Database):
        self._db = db

    async def add(self, event: DelayedEvent, txn_id: tuple[str, str, str] | None, now_ms: int) -> None:
        """Store a scheduled event, and the (user, device, txn) it was sent with."""
        def txn_fn(txn: Transaction) -> None:
            txn.execute(
                f"INSERT INTO delayed_events ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (event.delay_id, event.user_id, event.device_id, event.room_id, event.event_type, event.state_key,
                 json.dumps(event.content), event.delay_ms, event.running_since, event.due_ts))
            if txn_id is not None:
                txn.execute("INSERT INTO delayed_event_txns (user_id, device_id, txn_id, delay_id, created_ts) "
                            "VALUES (?, ?, ?, ?, ?)", (*txn_id, event.delay_id, now_ms))

        await self._db.run("add_delayed_event", txn_fn)

    async def get_txn_delay_id(self, user_id: str, device_id: str, txn_id: str) -> str | None:
        rows = await self._db.execute(
            "get_delayed_event_txn",
            "SELECT delay_id FROM delayed_event_txns WHERE user_id = ? AND device_id = ? AND txn_id = ?",
            user_id, device_id, txn_id)
        return rows[0][0] if rows else None

    async def count_for_user(self, user_id: str) -> int:
        rows = await self._db.execute("count_delayed_events",
                                      "SELECT COUNT(*) FROM delayed_events WHERE user_id = ?", user_id)
        return rows[0][0]

    async def get(self, delay_id: str) -> DelayedEvent | None:
        rows = await self._db.execute("get_delayed_event",
                                      f"SELECT {_COLUMNS} FROM delayed_events WHERE delay_id = ?", delay_id)
        return _row(rows[0]) if rows else None

    async def get_for_user(self, user_id: str) -> list[DelayedEvent]:
        """The user's scheduled events, the next due first."""
        rows = await self._db.execute(
            "get_delayed_events_for_user",
            f"SELECT {_COLUMNS} FROM delayed_events WHERE user_id = ? ORDER BY due_ts, running_since, delay_id",
            user_id)
        return [_row(r) for r in rows]

    async def get_all(self) -> list[DelayedEvent]:
        """Every scheduled event, the next due first (loaded at start-up)."""
        rows = await self._db.execute(
            "get_all_delayed_events",
            f"SELECT {_COLUMNS} FROM delayed_events ORDER BY due_ts, running_since, delay_id")
        return [_row(r) for r in rows]

    async def restart(self, delay_id: str, running_since: int, due_ts: int) -> bool:
        """Move a scheduled event's timer; False if it is not scheduled."""
        def txn_fn(txn: Transaction) -> bool:
            txn.execute("UPDATE delayed_events SET running_since = ?, due_ts = ? WHERE delay_id = ?",
                        (running_since, due_ts, delay_id))
            return txn.rowcount > 0

        return await self._db.run("restart_delayed_event", txn_fn)

    async def delete(self, delay_id: str) -> bool:
        """Forget a scheduled event (cancelled, or dropped); False if it was not scheduled."""
        def txn_fn(txn: Transaction) -> bool:
            txn.execute("DELETE FROM delayed_events WHERE delay_id = ?", (delay_id,))
            return txn.rowcount > 0

        return await self._db.run("delete_delayed_event", txn_fn)

    async def delete_txns_before(self, ts: int) -> None:
        await self._db.execute("delete_old_delayed_event_txns",
                               "DELETE FROM delayed_event_txns WHERE created_ts < ?", ts)

    def on_event_persisted_txn(self, txn: Transaction, event: Event, position: int) -> None:
        """An EventsStore persist hook: an event sent for a scheduled delayed event takes its row
        away in its own transaction; if the row is gone the event is not persisted at all."""
        delay_id = event.internal.get("delay_id")
        if delay_id is None:
            return
        txn.execute("DELETE FROM delayed_events WHERE delay_id = ?", (delay_id,))
        if txn.rowcount != 1:
            raise DelayedEventGone(delay_id)
