"""What other servers may read from us (spec: server-server "Retrieving events", "Backfilling
and retrieving missing events", "Authentication" of events): single events, the state and auth
chain at an event, backfill, missing events, timestamp_to_event.

A server asking about a room must be in it (one of its users joined, in the current state);
events it may not see (history visibility, see VisibilityHandler.filter_events_for_server) are
served redacted, never dropped, so its copy of the graph stays whole."""

from __future__ import annotations

from typing import Any

from homeserver.api.errors import Codes, MatrixError, forbidden, not_found
from homeserver.events.model import Event
from homeserver.handlers.visibility import VisibilityHandler
from homeserver.storage.events import EventsStore
from homeserver.storage.room_extras import RoomExtrasStore
from homeserver.storage.state_groups import StateGroupsStore

MAX_BACKFILL = 100
MAX_MISSING_EVENTS = 20
MAX_EVENT_IDS = 100


class FederationReadHandler:
    def __init__(self, server_name: str, events: EventsStore, state_groups: StateGroupsStore,
                 visibility: VisibilityHandler, room_extras: RoomExtrasStore):
        self._server_name = server_name
        self._events = events
        self._state_groups = state_groups
        self._visibility = visibility
        self._room_extras = room_extras

    async def _check_in_room(self, origin: str, room_id: str) -> None:
        if await self._events.get_room_version(room_id) is None:
            raise not_found("Unknown room")
        suffix = ":" + origin
        for user_id, membership, _ in await self._events.get_members(room_id):
            if membership == "join" and user_id.endswith(suffix):
                return
        raise forbidden(f"{origin} is not in the room")

    async def _event_in_room(self, room_id: str, event_id: str) -> Event:
        event = await self._events.get_event(event_id)
        if event is None or event.room_id != room_id:
            raise not_found("Unknown event")
        return event

    async def get_event(self, origin: str, event_id: str) -> dict[str, Any]:
        event = await self._events.get_event(event_id)
        if event is None:
            raise not_found("Unknown event")
        await self._check_in_room(origin, event.room_id)
        (served,) = await self._visibility.filter_events_for_server(origin, [event])
        return served.pdu

    async def get_state_ids(self, origin: str, room_id: str, event_id: str) -> tuple[list[str], list[str]]:
        """(state event IDs before the event, their auth chain's IDs)."""
        await self._check_in_room(origin, room_id)
        event = await self._event_in_room(room_id, event_id)
        groups = await self._state_groups.get_event_state_groups([event.event_id])
        if event.event_id not in groups:
            raise not_found("No state known at that event")
        state = await self._state_groups.get_state(groups[event.event_id][0])
        state_ids = sorted(state.values())
        chain = await self._events.get_auth_chain_ids(state_ids)
        return state_ids, sorted(chain)

    async def get_state(self, origin: str, room_id: str, event_id: str) -> tuple[list[dict], list[dict]]:
        state_ids, chain_ids = await self.get_state_ids(origin, room_id, event_id)
        return await self._pdus(state_ids), await self._pdus(chain_ids)

    async def get_event_auth(self, origin: str, room_id: str, event_id: str) -> list[dict]:
        await self._check_in_room(origin, room_id)
        event = await self._event_in_room(room_id, event_id)
        return await self._pdus(sorted(await self._events.get_auth_chain_ids([event.event_id])))

    async def backfill(self, origin: str, room_id: str, from_ids: list[str], limit: int) -> list[dict]:
        """Up to `limit` events reached backwards from `from_ids` (them included), deepest first."""
        await self._check_in_room(origin, room_id)
        if not from_ids or len(from_ids) > MAX_EVENT_IDS:
            raise MatrixError(400, Codes.INVALID_PARAM, f"Give between 1 and {MAX_EVENT_IDS} event IDs in 'v'")
        limit = max(0, min(limit, MAX_BACKFILL))
        found: dict[str, Event] = {}
        frontier = [e for e in (await self._events.get_events(from_ids)).values() if e.room_id == room_id]
        while frontier and len(found) < limit:
            frontier.sort(key=lambda e: (-e.depth, e.event_id))
            event = frontier.pop(0)
            if event.event_id in found:
                continue
            found[event.event_id] = event
            prevs = [p for p in event.prev_event_ids if p not in found]
            fetched = await self._events.get_events(prevs)
            frontier.extend(e for e in fetched.values() if e.room_id == room_id)
        ordered = sorted(found.values(), key=lambda e: (-e.depth, e.event_id))
        return [e.pdu for e in await self._visibility.filter_events_for_server(origin, ordered)]

    async def get_missing_events(self, origin: str, room_id: str, earliest: list[str], latest: list[str],
                                 limit: int, min_depth: int) -> list[dict]:
        """Events before `latest` (not included) back to `earliest` (excluded), at most `limit`,
        not below `min_depth`, oldest first."""
        await self._check_in_room(origin, room_id)
        if len(earliest) > MAX_EVENT_IDS or len(latest) > MAX_EVENT_IDS:
            raise MatrixError(400, Codes.INVALID_PARAM, f"At most {MAX_EVENT_IDS} event IDs")
        limit = max(0, min(limit, MAX_MISSING_EVENTS))
        seen = set(earliest) | set(latest)
        found: list[Event] = []
        starts = [e for e in (await self._events.get_events(latest)).values() if e.room_id == room_id]
        frontier = [p for e in starts for p in e.prev_event_ids if p not in seen]
        while frontier and len(found) < limit:
            fetched = await self._events.get_events(frontier)
            frontier = []
            for event in sorted(fetched.values(), key=lambda e: (-e.depth, e.event_id)):
                if len(found) >= limit or event.room_id != room_id or event.event_id in seen:
                    continue
                seen.add(event.event_id)
                if event.depth < min_depth:
                    continue
                found.append(event)
                frontier.extend(p for p in event.prev_event_ids if p not in seen)
        found.sort(key=lambda e: (e.depth, e.event_id))
        return [e.pdu for e in await self._visibility.filter_events_for_server(origin, found)]

    async def timestamp_to_event(self, origin: str, room_id: str, ts: int, forwards: bool) -> dict[str, Any]:
        await self._check_in_room(origin, room_id)
        rows = await self._room_extras.get_events_by_timestamp(room_id, ts, forwards, None, 1)
        if not rows:
            raise not_found("No event found in that direction")
        return {"event_id": rows[0][0], "origin_server_ts": rows[0][1]}

    async def _pdus(self, event_ids: list[str]) -> list[dict]:
        fetched = await self._events.get_events(event_ids)
        return [fetched[eid].pdu for eid in event_ids if eid in fetched]
