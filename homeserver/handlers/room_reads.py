"""Reading rooms: state, single events, members, and history, each within what the user may see."""

from __future__ import annotations

from typing import Any

from homeserver.api.errors import forbidden, not_found
from homeserver.clock import Clock
from homeserver.events.client_format import client_event
from homeserver.events.model import Event
from homeserver.handlers.visibility import VisibilityHandler
from homeserver.storage.events import EventsStore
from homeserver.storage.state_groups import StateGroupsStore

MAX_PAGE = 1000


def stream_token(position: int) -> str:
    return f"s{position}"


def parse_stream_token(token: str) -> int | None:
    """The event stream position of a /messages or /sync token ("s123", or "s123_..." from sync)."""
    head = token.split("_", 1)[0]
    if len(head) > 1 and head[0] == "s" and head[1:].isdigit():
        return int(head[1:])
    return None


class RoomReadHandler:
    def __init__(self, clock: Clock, events: EventsStore, state_groups: StateGroupsStore,
                 visibility: VisibilityHandler):
        self._clock = clock
        self._events = events
        self._state_groups = state_groups
        self._visibility = visibility

    async def _state_ids_for_user(self, user_id: str, room_id: str) -> dict[tuple[str, str], str]:
        """The room state the user may see: current if joined (or the room is world readable),
        as it was when they left if they left; else 403."""
        if await self._events.get_room_version(room_id) is None:
            raise forbidden("You are not in this room")  # do not tell outsiders which rooms exist
        membership = await self._events.get_membership(room_id, user_id)
        current = await self._events.get_current_state_ids(room_id)
        if membership and membership[0] == "join":
            return current
        if await self._is_world_readable(current):
            return current
        if membership and membership[0] in ("leave", "ban"):
            groups = await self._state_groups.get_event_state_groups([membership[1]])
            return await self._state_groups.get_state(groups[membership[1]][1])
        raise forbidden("You are not in this room")

    async def _is_world_readable(self, state: dict[tuple[str, str], str]) -> bool:
        hv = state.get(("m.room.history_visibility", ""))
        event = await self._events.get_event(hv) if hv else None
        return bool(event and event.content.get("history_visibility") == "world_readable")

    async def serialize(self, events: list[Event]) -> list[dict[str, Any]]:
        redactions = await self._events.get_redactions([e.event_id for e in events])
        now = self._clock.time_msec()
        return [client_event(e, now, redactions.get(e.event_id)) for e in events]

    async def get_state(self, user_id: str, room_id: str) -> list[dict[str, Any]]:
        ids = await self._state_ids_for_user(user_id, room_id)
        events = await self._events.get_events(list(ids.values()))
        return await self.serialize([events[i] for i in ids.values() if i in events])

    async def get_state_event(self, user_id: str, room_id: str, event_type: str, state_key: str) -> Event:
        ids = await self._state_ids_for_user(user_id, room_id)
        event_id = ids.get((event_type, state_key))
        event = await self._events.get_event(event_id) if event_id else None
        if event is None:
            raise not_found("Event not found")
        return event

    async def get_event(self, user_id: str, room_id: str, event_id: str) -> dict[str, Any]:
        event = await self._events.get_event(event_id)
        if event is None or event.room_id != room_id:
            raise not_found("Event not found")
        if not await self._visibility.filter_events_for_user(user_id, [event]):
            raise not_found("Event not found")  # 404, not 403: do not confirm it exists
        return (await self.serialize([event]))[0]

    async def get_members(self, user_id: str, room_id: str, membership: str | None = None,
                          not_membership: str | None = None) -> list[dict[str, Any]]:
        ids = await self._state_ids_for_user(user_id, room_id)
        member_ids = [eid for (t, _), eid in ids.items() if t == "m.room.member"]
        events = await self._events.get_events(member_ids)
        chosen = [e for e in events.values()
                  if (membership is None or e.content.get("membership") == membership)
                  and (not_membership is None or e.content.get("membership") != not_membership)]
        return await self.serialize(sorted(chosen, key=lambda e: e.state_key or ""))

    async def get_joined_members(self, user_id: str, room_id: str) -> dict[str, dict[str, Any]]:
        membership = await self._events.get_membership(room_id, user_id)
        if not membership or membership[0] != "join":
            raise forbidden("You are not in this room")
        joined = [eid for _, m, eid in await self._events.get_members(room_id) if m == "join"]
        events = await self._events.get_events(joined)
        return {e.state_key: {"display_name": e.content.get("displayname"), "avatar_url": e.content.get("avatar_url")}
                for e in events.values()}

    async def get_messages(self, user_id: str, room_id: str, from_token: str | None, to_token: str | None,
                           backwards: bool, limit: int, event_filter: dict[str, Any]) -> dict[str, Any]:
        membership = await self._events.get_membership(room_id, user_id)
        state = await self._events.get_current_state_ids(room_id) if membership is None else None
        if membership is None and not (state and await self._is_world_readable(state)):
            raise forbidden("You are not in this room")
        if from_token is None:
            start = self._events.stream.current if backwards else 0
        else:
            start = _position(from_token)
        to = _position(to_token) if to_token else None
        limit = max(1, min(limit, MAX_PAGE))
        chunk: list[Event] = []
        position = start
        # Fetch pages until `limit` events pass the filter and visibility rules, or history ends.
        exhausted = False
        while len(chunk) < limit and not exhausted:
            rows = await self._events.paginate_room_events(room_id, position, backwards, limit * 2, to)
            exhausted = len(rows) < limit * 2
            if not rows:
                break
            fetched = await self._events.get_events([eid for eid, _ in rows])
            page = [fetched[eid] for eid, _ in rows if eid in fetched and _matches(fetched[eid], event_filter)]
            for event in await self._visibility.filter_events_for_user(user_id, page):
                if len(chunk) == limit:
                    break
                chunk.append(event)
            positions = dict(rows)
            last = positions[chunk[-1].event_id] if len(chunk) == limit else rows[-1][1]
            position = last - 1 if backwards else last  # the token sits just after its event
        result: dict[str, Any] = {"chunk": await self.serialize(chunk), "start": stream_token(start)}
        if not exhausted or len(chunk) == limit:
            result["end"] = stream_token(position)
        return result


def _position(token: str) -> int:
    position = parse_stream_token(token)
    if position is None:
        from homeserver.api.errors import invalid_param

        raise invalid_param(f"Invalid pagination token {token!r}")
    return position


def _matches(event: Event, f: dict[str, Any]) -> bool:
    """The RoomEventFilter fields that select events by type and sender ('*' wildcards)."""
    def match(value: str, patterns: list[str]) -> bool:
        return any(p == value or (p.endswith("*") and value.startswith(p[:-1])) for p in patterns)

    if "types" in f and not match(event.type, f["types"]):
        return False
    if match(event.type, f.get("not_types", [])):
        return False
    if "senders" in f and event.sender not in f["senders"]:
        return False
    if event.sender in f.get("not_senders", []):
        return False
    return True
