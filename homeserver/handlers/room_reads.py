"""Reading rooms: state, single events, members, and history, each within what the user may see."""

from __future__ import annotations

from typing import Any

from homeserver.api.errors import forbidden, invalid_param, not_found
from homeserver.api.numbers import parse_position
from homeserver.clock import Clock
from homeserver.events.client_format import client_event
from homeserver.events.filtering import RoomEventFilter, room_event_filter, validate_room_event_filter
from homeserver.events.model import Event
from homeserver.handlers.backfill import BackfillHandler
from homeserver.handlers.relations import RelationsHandler
from homeserver.handlers.visibility import VisibilityHandler
from homeserver.storage.account_data import AccountDataStore
from homeserver.storage.events import EventsStore
from homeserver.storage.room_extras import RoomExtrasStore
from homeserver.storage.state_groups import StateGroupsStore

MAX_PAGE = 1000
MAX_BACKFILL_ROUNDS = 3  # /backfill rounds one /messages request may wait for


def stream_token(position: int) -> str:
    return f"s{position}"


def parse_pagination_token(token: str) -> int | None:
    """The position of a /messages token: as parse_stream_token, or below 0 ("s-12": the room's
    past, fetched from other servers; see BackfillHandler)."""
    if token.startswith("s-"):
        position = parse_stream_token("s" + token[2:])
        return -position if position is not None else None
    return parse_stream_token(token)


def parse_stream_token(token: str) -> int | None:
    """The event stream position of a /messages or /sync token ("s123", or "s123_..." from sync)."""
    head = token.split("_", 1)[0]
    return parse_position(head[1:]) if head.startswith("s") else None


class RoomReadHandler:
    def __init__(self, clock: Clock, events: EventsStore, state_groups: StateGroupsStore,
                 visibility: VisibilityHandler, relations: RelationsHandler,
                 forgotten_rooms: RoomExtrasStore | None = None, account_data: AccountDataStore | None = None,
                 backfill: BackfillHandler | None = None):
        self._account_data = account_data
        self._backfill = backfill
        self._clock = clock
        self._events = events
        self._state_groups = state_groups
        self._visibility = visibility
        self._relations = relations
        self._forgotten_rooms = forgotten_rooms

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
        if membership and membership[0] in ("leave", "ban") and not await self.is_forgotten(
                user_id, room_id, membership):
            groups = await self._state_groups.get_event_state_groups([membership[1]])
            return await self._state_groups.get_state(groups[membership[1]][1])
        raise forbidden("You are not in this room")

    async def is_forgotten(self, user_id: str, room_id: str, membership: tuple[str, str] | None) -> bool:
        """The user forgot the room (POST /forget) and has had no membership change since."""
        if self._forgotten_rooms is None or membership is None:
            return False
        return await self._forgotten_rooms.get_forgotten_membership(user_id, room_id) == membership[1]

    async def forgotten_rooms(self, user_id: str, memberships: dict[str, tuple[str, str]]) -> set[str]:
        """Of the rooms in `memberships` (room_id -> (membership, event_id)), those the user
        forgot and has had no membership change in since."""
        if self._forgotten_rooms is None:
            return set()
        forgotten = await self._forgotten_rooms.get_forgotten_rooms(user_id)
        return {r for r, event_id in forgotten.items() if r in memberships and memberships[r][1] == event_id}

    async def is_world_readable(self, room_id: str) -> bool:
        """Anyone may read the room now (peeking)."""
        return await self._is_world_readable(await self._events.get_current_state_ids(room_id))

    async def _is_world_readable(self, state: dict[tuple[str, str], str]) -> bool:
        hv = state.get(("m.room.history_visibility", ""))
        event = await self._events.get_event(hv) if hv else None
        return bool(event and event.content.get("history_visibility") == "world_readable")

    async def serialize(self, events: list[Event], user_id: str | None = None,
                        _depth: int = 0) -> list[dict[str, Any]]:
        """Client events; with `user_id`, unredacted events carry their bundled aggregations
        (`unsigned.m.relations`) as that user may see them, and a `prev_content` from an erased
        sender is pruned as that user would see the event it comes from."""
        redactions = await self._events.get_redactions([e.event_id for e in events])
        now = self._clock.time_msec()
        bundles: dict[str, dict[str, Any]] = {}
        nested: dict[str, dict[str, Any]] = {}
        if user_id is not None and _depth < 2:
            # Redacted events, and the pruned copies of an erased sender's, carry no aggregations.
            bundles = await self._relations.aggregations(
                [e for e in events if e.event_id not in redactions and not e.internal.get("erased")], user_id)
            inner = [agg for b in bundles.values()
                     for agg in (b.get("m.replace"), b.get("m.thread", {}).get("latest_event")) if agg is not None]
            if inner:
                serialized = await self.serialize(inner, user_id, _depth + 1)
                nested = {d["event_id"]: d for d in serialized}
        replaced_ids = [e.unsigned["replaces_state"] for e in events if "replaces_state" in e.unsigned]
        replaced = await self._events.get_events(replaced_ids) if replaced_ids else {}
        if replaced and user_id is not None:
            # An erased sender's state shows through no `prev_content` either.
            replaced = {e.event_id: e for e in await self._visibility.erased_copies(user_id, list(replaced.values()))}
        replaced_redactions = await self._events.get_redactions(list(replaced)) if replaced else {}
        because = await self._redaction_events({**redactions, **replaced_redactions}, now)
        out = []
        for e in events:
            prev = replaced.get(e.unsigned.get("replaces_state", ""))
            prev_content = None
            if prev is not None:
                prev_content = client_event(prev, now, because.get(prev.event_id))["content"]
            d = client_event(e, now, because.get(e.event_id), prev_content=prev_content)
            if user_id is not None and e.sender == user_id and "delay_id" in e.internal:
                d["unsigned"]["org.matrix.msc4140.delay_id"] = e.internal["delay_id"]  # sent as a delayed event
            bundle = bundles.get(e.event_id)
            if bundle:
                relations: dict[str, Any] = {}
                if "m.replace" in bundle:
                    relations["m.replace"] = nested[bundle["m.replace"].event_id]
                if "m.thread" in bundle:
                    thread = dict(bundle["m.thread"])
                    if "latest_event" in thread:
                        thread["latest_event"] = nested[thread["latest_event"].event_id]
                    relations["m.thread"] = thread
                if "m.reference" in bundle:
                    relations["m.reference"] = bundle["m.reference"]
                d["unsigned"]["m.relations"] = relations
            out.append(d)
        return out

    async def _redaction_events(self, redactions: dict[str, str], now: int) -> dict[str, dict[str, Any]]:
        """redacted event_id -> its redaction event as a client event (for unsigned.redacted_because)."""
        if not redactions:
            return {}
        fetched = await self._events.get_events(list(set(redactions.values())))
        return {eid: client_event(fetched[rid], now, include_room_id=False)
                for eid, rid in redactions.items() if rid in fetched}

    async def get_state(self, user_id: str, room_id: str) -> list[dict[str, Any]]:
        ids = await self._state_ids_for_user(user_id, room_id)
        events = await self._events.get_events(list(ids.values()))
        return await self.serialize([events[i] for i in ids.values() if i in events], user_id)

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
        visible = await self._visibility.filter_events_for_user(user_id, [event])
        if not visible:
            raise not_found("Event not found")  # 404, not 403: do not confirm it exists
        event = visible[0]  # an erased sender's: pruned
        if await self.is_forgotten(user_id, room_id, await self._events.get_membership(room_id, user_id)) and \
                not await self._is_world_readable(await self._events.get_current_state_ids(room_id)):
            raise not_found("Event not found")  # the user forgot the room
        return (await self.serialize([event], user_id))[0]

    async def get_members(self, user_id: str, room_id: str, membership: str | None = None,
                          not_membership: str | None = None, at: str | None = None) -> list[dict[str, Any]]:
        ids = await self._state_ids_for_user(user_id, room_id)
        if at is not None:
            ids = await self._state_at_token(user_id, room_id, position_from_token(at), ids)
        member_ids = [eid for (t, _), eid in ids.items() if t == "m.room.member"]
        events = await self._events.get_events(member_ids)
        chosen = [e for e in events.values()
                  if (membership is None or e.content.get("membership") == membership)
                  and (not_membership is None or e.content.get("membership") != not_membership)]
        return await self.serialize(sorted(chosen, key=lambda e: e.state_key or ""), user_id)

    async def _state_at_token(self, user_id: str, room_id: str, position: int,
                              visible: dict[tuple[str, str], str]) -> dict[tuple[str, str], str]:
        """The room state at a stream position, if the user was joined then (or the room is world
        readable); else the state the user may see anyway."""
        event_id = await self._events.get_event_at_position(room_id, position)
        groups = await self._state_groups.get_event_state_groups([event_id]) if event_id else {}
        if event_id not in groups:
            return visible
        state = await self._state_groups.get_state(groups[event_id][1])
        member_id = state.get(("m.room.member", user_id))
        member = await self._events.get_event(member_id) if member_id else None
        if (member and member.content.get("membership") == "join") or await self._is_world_readable(state):
            return state
        return visible

    async def get_joined_members(self, user_id: str, room_id: str) -> dict[str, dict[str, Any]]:
        membership = await self._events.get_membership(room_id, user_id)
        if not membership or membership[0] != "join":
            raise forbidden("You are not in this room")
        joined = [eid for _, m, eid in await self._events.get_members(room_id) if m == "join"]
        events = await self._events.get_events(joined)
        return {e.state_key: {"display_name": e.content.get("displayname"), "avatar_url": e.content.get("avatar_url")}
                for e in events.values()}

    async def get_messages(self, user_id: str, room_id: str, from_token: str | None, to_token: str | None,
                           backwards: bool, limit: int,
                           event_filter: dict[str, Any] | RoomEventFilter, backfill: bool = False,
                           as_admin: bool = False) -> dict[str, Any]:
        """A page of the room's history the user may see, through a RoomEventFilter (a dict is
        validated first: 400 naming a bad field). With `backfill`, paging back past the start of
        what we hold asks the room's other servers for the history behind it (bounded rounds).
        `as_admin`: a server admin reading any room's whole history (admin API), unfiltered by
        membership, visibility or ignored users."""
        if not isinstance(event_filter, RoomEventFilter):
            validate_room_event_filter(event_filter)
        flt = room_event_filter(event_filter)
        membership = await self._events.get_membership(room_id, user_id)
        if await self.is_forgotten(user_id, room_id, membership):
            membership = None  # a forgotten room's history is no longer served to the user
        state = await self._events.get_current_state_ids(room_id) if membership is None else None
        if membership is None and not (state and await self._is_world_readable(state)) and not as_admin:
            raise forbidden("You are not in this room")
        if from_token is None:
            start = self._events.stream.current if backwards else self._events.lowest_position - 1
        else:
            start = position_from_token(from_token)
        to = position_from_token(to_token) if to_token else None
        limit = max(1, min(limit, MAX_PAGE))
        if not flt.room_allowed(room_id):  # rooms/not_rooms leave nothing of this room
            return {"chunk": [], "start": stream_token(start)}
        # Events of users this user ignores are not served (spec: ignoring users).
        ignored = await self._account_data.get_ignored_users(user_id) if self._account_data and not as_admin \
            else set()
        chunk: list[Event] = []
        position = start
        # Fetch pages until `limit` events pass the filter and visibility rules, or history ends.
        exhausted = False
        rounds = MAX_BACKFILL_ROUNDS if backfill and backwards and self._backfill is not None else 0
        while len(chunk) < limit and not exhausted:
            rows = await self._events.paginate_room_events(room_id, position, backwards, limit * 2, to)
            exhausted = len(rows) < limit * 2
            if exhausted and rounds and to is None:
                # The start of what we hold: the room may have older history on other servers.
                rounds -= 1
                if await self._backfill.backfill(room_id):
                    rows = await self._events.paginate_room_events(room_id, position, backwards, limit * 2, to)
                    exhausted = len(rows) < limit * 2
            if not rows:
                break
            fetched = await self._events.get_events([eid for eid, _ in rows])
            page = [fetched[eid] for eid, _ in rows if eid in fetched and flt.matches(fetched[eid])
                    and fetched[eid].sender not in ignored]
            visible = page if as_admin else await self._visibility.filter_events_for_user(user_id, page)
            for event in visible:
                if len(chunk) == limit:
                    break
                chunk.append(event)
            positions = dict(rows)
            last = positions[chunk[-1].event_id] if len(chunk) == limit else rows[-1][1]
            position = last - 1 if backwards else last  # the token sits just after its event
        result: dict[str, Any] = {"chunk": await self.serialize(chunk, user_id), "start": stream_token(start)}
        # Backwards, no `end` says the start of the room is reached. Forwards, the live end is
        # only "for now": `end` is where to go on from (with /messages or /sync) when more comes.
        if not backwards or not exhausted or len(chunk) == limit:
            result["end"] = stream_token(position)
        if flt.lazy_load_members and chunk:
            result["state"] = await self._sender_members(user_id, room_id, chunk)
        return result

    async def _sender_members(self, user_id: str, room_id: str, events: list[Event]) -> list[dict[str, Any]]:
        """The member events of the events' senders, as the user may see the room's state (lazy
        loading of members: clients need them to show names and avatars)."""
        state = await self._state_ids_for_user(user_id, room_id)
        senders = {e.sender for e in events}
        ids = [eid for (t, sk), eid in state.items() if t == "m.room.member" and sk in senders]
        fetched = await self._events.get_events(ids)
        return await self.serialize([fetched[i] for i in ids if i in fetched], user_id)


def position_from_token(token: str) -> int:
    """The event stream position of a pagination token; 400 M_INVALID_PARAM if it is not one."""
    position = parse_pagination_token(token)
    if position is None:
        raise invalid_param(f"Invalid pagination token {token!r}")
    return position
