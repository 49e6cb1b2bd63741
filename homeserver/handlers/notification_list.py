"""GET /notifications: the events a user has been (or would have been) notified about, newest
first, each marked read or not from their read receipts. The `from` / `next_token` token is the
event stream position the next page starts below."""

from __future__ import annotations

from typing import Any

from homeserver.api.errors import invalid_param
from homeserver.api.numbers import parse_position
from homeserver.handlers.read_positions import ReadPositions
from homeserver.handlers.room_reads import RoomReadHandler
from homeserver.push.read_state import is_read, thread_of
from homeserver.storage.events import EventsStore
from homeserver.storage.pushers import PushersStore

DEFAULT_LIMIT = 50
MAX_LIMIT = 1000


def parse_token(token: str | None) -> int | None:
    if token is None:
        return None
    position = parse_position(token)
    if position is None:
        raise invalid_param("'from' is not a token this server gave out")
    return position


class NotificationListHandler:
    def __init__(self, store: PushersStore, events: EventsStore, reads: ReadPositions, room_reads: RoomReadHandler):
        self._store = store
        self._events = events
        self._reads = reads
        self._room_reads = room_reads

    async def get_notifications(self, user_id: str, from_token: str | None, limit: int | None,
                                only: str | None) -> dict[str, Any]:
        if only is not None and only != "highlight":
            raise invalid_param("'only' can only be 'highlight'")
        before = parse_token(from_token)
        limit = min(limit if limit is not None else DEFAULT_LIMIT, MAX_LIMIT)
        rows = await self._store.get_notifications(user_id, before, limit + 1, only == "highlight")
        more = len(rows) > limit
        rows = rows[:limit]
        events = await self._events.get_events([r.event_id for r in rows])
        serialized = {e["event_id"]: e for e in await self._room_reads.serialize(list(events.values()), user_id)}
        reads: dict[str, dict[str, int]] = {}
        notifications = []
        for row in rows:
            event = events.get(row.event_id)
            if event is None:
                continue
            if row.room_id not in reads:
                reads[row.room_id] = await self._reads.get(user_id, row.room_id)
            client_event = dict(serialized[row.event_id])
            client_event.pop("room_id", None)
            notifications.append({
                "actions": row.actions,
                "event": client_event,
                "read": is_read(row.stream_ordering, thread_of(event.content), reads[row.room_id]),
                "room_id": row.room_id,
                "ts": row.ts,
            })
        out: dict[str, Any] = {"notifications": notifications}
        if more and rows:
            out["next_token"] = str(rows[-1].stream_ordering)
        return out
