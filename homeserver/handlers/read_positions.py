"""Where a user has read up to in a room: their read receipts (m.read / m.read.private, the later
of the two, per thread) as event stream positions."""

from __future__ import annotations

from homeserver.push.read_state import is_read, thread_of
from homeserver.storage.events import EventsStore
from homeserver.storage.receipts import ReceiptsStore


class ReadPositions:
    def __init__(self, events: EventsStore, receipts: ReceiptsStore):
        self._events = events
        self._receipts = receipts

    async def get(self, user_id: str, room_id: str) -> dict[str, int]:
        """receipt thread ('' unthreaded, 'main', or a thread root) -> stream position."""
        receipts = await self._receipts.get_user_read_receipts(room_id, user_id)
        positions = await self._events.get_stream_orderings(list(set(receipts.values())))
        return {thread: positions.get(event_id, 0) for thread, event_id in receipts.items()}

    async def has_read(self, user_id: str, room_id: str, event_id: str, position: int) -> bool:
        event = await self._events.get_event(event_id)
        thread = thread_of(event.content) if event is not None else None
        return is_read(position, thread, await self.get(user_id, room_id))
