"""GET /events (deprecated since r0, and its peeking form with `room_id`) and GET /events/{eventId}:
the room events after a token, across the user's rooms (or in one room the user may peek into),
long-polling on the notifier like /sync when there are none yet."""

from __future__ import annotations

from typing import Any

from homeserver.api.errors import forbidden, invalid_param, not_found
from homeserver.events.model import Event
from homeserver.handlers.room_reads import RoomReadHandler, parse_stream_token, stream_token
from homeserver.handlers.visibility import VisibilityHandler
from homeserver.notifier import Notifier
from homeserver.storage.account_data import AccountDataStore
from homeserver.storage.events import EventsStore

MAX_EVENTS = 100  # per response; the `end` token then sits at the last one, and the rest come next


class EventStreamHandler:
    def __init__(self, events: EventsStore, reads: RoomReadHandler, visibility: VisibilityHandler,
                 account_data: AccountDataStore, notifier: Notifier):
        self._events = events
        self._reads = reads
        self._visibility = visibility
        self._account_data = account_data
        self._notifier = notifier

    async def get_events(self, user_id: str, from_token: str | None, timeout_ms: int,
                         room_id: str | None = None) -> dict[str, Any]:
        """Events after `from_token` (from now if None) that the user may see, oldest first;
        waits up to `timeout_ms` for some when there are none."""
        start = self._events.stream.current
        if from_token is not None:
            parsed = parse_stream_token(from_token)
            if parsed is None or parsed > start:
                raise invalid_param(f"Invalid 'from' token {from_token!r}")
            start = parsed
        if room_id is not None:
            await self._check_may_peek(user_id, room_id)
        deadline = self._notifier.clock.time_msec() + timeout_ms
        while True:
            upto = self._events.stream.current
            rooms = [room_id] if room_id is not None else await self._rooms_to_read(user_id, start, upto)
            chunk, end = await self._read(user_id, rooms, start, upto)
            remaining = deadline - self._notifier.clock.time_msec()
            if chunk or end < upto or remaining <= 0:
                break
            watched = [room_id] if room_id is not None else await self._events.get_rooms_for_user(user_id)
            # Nothing was written since `upto` was read, so no wake-up can have been missed
            # (no await between this check and the waiter's registration).
            if self._events.stream.current == upto and not await self._notifier.wait(user_id, watched, remaining):
                break  # timed out: nothing new up to `upto`
        return {"chunk": await self._reads.serialize(chunk, user_id), "start": stream_token(start),
                "end": stream_token(end)}

    async def get_event(self, user_id: str, event_id: str) -> dict[str, Any]:
        """One event by ID alone, if the user may see it (404 otherwise, as for /rooms/{roomId}/event)."""
        event = await self._events.get_event(event_id)
        if event is None:
            raise not_found("Event not found")
        return await self._reads.get_event(user_id, event.room_id, event_id)

    async def _check_may_peek(self, user_id: str, room_id: str) -> None:
        membership = await self._events.get_membership(room_id, user_id)
        if membership is not None and membership[0] == "join":
            return
        if await self._events.get_room_version(room_id) is None or not await self._reads.is_world_readable(room_id):
            raise forbidden("You are not in this room, and it is not world readable")

    async def _rooms_to_read(self, user_id: str, start: int, upto: int) -> list[str]:
        """The rooms the user is in, and those they left in between (their leave event is news)."""
        rooms = set(await self._events.get_rooms_for_user(user_id))
        rooms.update(await self._events.get_membership_changes(user_id, start, upto))
        return sorted(rooms)

    async def _read(self, user_id: str, rooms: list[str], start: int, upto: int) -> tuple[list[Event], int]:
        """The visible events of the rooms in (start, end], oldest first, and `end`: `upto`, or
        less when a room (or all of them together) had more than MAX_EVENTS."""
        ignored = await self._account_data.get_ignored_users(user_id)
        end = upto
        picked: list[tuple[int, Event]] = []
        for room_id in rooms:
            rows = await self._events.paginate_room_events(room_id, start, False, MAX_EVENTS, upto)
            if len(rows) == MAX_EVENTS:
                end = min(end, rows[-1][1])  # this room may have more: stop where its page stops
            fetched = await self._events.get_events([event_id for event_id, _ in rows])
            candidates = [fetched[eid] for eid, _ in rows if eid in fetched and fetched[eid].sender not in ignored]
            positions = dict(rows)
            picked.extend((positions[e.event_id], e)
                          for e in await self._visibility.filter_events_for_user(user_id, candidates))
        picked = sorted((p for p in picked if p[0] <= end), key=lambda p: p[0])
        if len(picked) > MAX_EVENTS:
            picked = picked[:MAX_EVENTS]
            end = picked[-1][0]
        return [event for _, event in picked], end
