"""The space hierarchy (spec: client-server API, "Spaces" and `GET /rooms/{roomId}/hierarchy`).

The tree is walked depth first from the requested room along the `m.space.child` state events
of space-rooms, children in the spec's order ("Ordering of children within a space"). A room is
shown when the requester may see it (`_is_accessible`); a room is looked at once per walk, which
also breaks loops. A page stops after `limit` rooms; what is left of the walk (the stack
and the rooms done) is kept in memory under a random token for a few minutes, which `from` names.

Rooms this server does not hold are asked of the servers in the child's `via` over federation
(`GET /_matrix/federation/v1/hierarchy/{roomId}`, federation/hierarchy.py: checked, cached). Such a
room is shown when the user could join or peek it on what its server says (public, knock, world
readable, or restricted to a room the user is joined to here); a room no server answers for is
left out (it still appears in its parent's `children_state`). The requested room itself must be
one this server holds."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from homeserver.api.errors import Codes, MatrixError, forbidden, not_found
from homeserver.clock import Clock
from homeserver.events.model import Event
from homeserver.events.room_versions import RoomVersion
from homeserver.federation.hierarchy import RemoteHierarchy
from homeserver.handlers.room_summary import (
    JOIN_RULES,
    SUMMARY_STATE,
    StateKey,
    content_str,
    is_world_readable,
    join_rule_of,
    public_room_chunk,
)
from homeserver.storage.events import EventsStore
from homeserver.util.caches import LruCache

SPACE_CHILD = "m.space.child"
ENCRYPTION = ("m.room.encryption", "")
DEFAULT_LIMIT = 50
MAX_LIMIT = 100
MAX_DEPTH = 50  # the default and the most `max_depth` may be
PAGINATION_SESSION_LIFETIME_MS = 5 * 60 * 1000
MAX_PAGINATION_SESSIONS = 1000
MAX_ORDER_LENGTH = 50


@dataclass(frozen=True)
class _PaginationSession:
    user_id: str
    room_id: str
    suggested_only: bool
    max_depth: int
    stack: tuple[tuple[str, int, tuple[str, ...]], ...]  # (room_id, depth, via); the next room is the last
    done: frozenset[str]  # rooms already looked at (shown or not)
    created_ms: int


def valid_via(content: Mapping[str, Any]) -> bool:
    """A child counts only when its `via` is a non-empty list of server names."""
    via = content.get("via")
    return isinstance(via, list) and bool(via) and all(isinstance(s, str) and s for s in via)


def valid_order(content: Mapping[str, Any]) -> str | None:
    """The `order` key when valid (1-50 characters from \\x20 to \\x7E), else None."""
    order = content.get("order")
    if (isinstance(order, str) and 0 < len(order) <= MAX_ORDER_LENGTH
            and all("\x20" <= c <= "\x7e" for c in order)):
        return order
    return None


def child_order_key(event: Event) -> tuple[int, str, int, str]:
    """Children with a valid `order` first, by it; then by the event's origin_server_ts; then by
    room ID (the state key)."""
    order = valid_order(event.content)
    return (0 if order is not None else 1, order or "", event.origin_server_ts, event.state_key or "")


def stripped_order_key(child: Mapping[str, Any]) -> tuple[int, str, int, str]:
    """child_order_key for a stripped child event (from another server)."""
    order = valid_order(child["content"])
    return (0 if order is not None else 1, order or "", child["origin_server_ts"], child["state_key"])


def stripped_child_event(event: Event) -> dict[str, Any]:
    """A stripped state event with its origin_server_ts, as `children_state` holds them."""
    return {"type": event.type, "state_key": event.state_key, "content": event.content, "sender": event.sender,
            "origin_server_ts": event.origin_server_ts}


class SpaceHierarchyHandler:
    def __init__(self, clock: Clock, events: EventsStore, remote: RemoteHierarchy | None = None):
        self._clock = clock
        self._events = events
        self._remote = remote
        self._sessions: LruCache[str, _PaginationSession] = LruCache("hierarchy_pagination",
                                                                     MAX_PAGINATION_SESSIONS)

    async def get_hierarchy(self, user_id: str, room_id: str, suggested_only: bool, max_depth: int | None,
                            limit: int | None, from_token: str | None) -> dict[str, Any]:
        """One page of the hierarchy under `room_id` as `user_id` may see it. 403 when the user
        may not see `room_id` itself (or it does not exist here); 400 for a bad `from`."""
        if max_depth is not None and max_depth < 0:
            raise MatrixError(400, Codes.INVALID_PARAM, "max_depth must be a non-negative integer")
        if limit is not None and limit < 1:
            raise MatrixError(400, Codes.INVALID_PARAM, "limit must be an integer greater than zero")
        depth_limit = MAX_DEPTH if max_depth is None else min(max_depth, MAX_DEPTH)
        page_size = DEFAULT_LIMIT if limit is None else min(limit, MAX_LIMIT)

        if not await self._room_is_accessible(user_id, room_id):
            raise forbidden("You are not allowed to view this room.")

        if from_token is not None:
            session = self._resume(from_token, user_id, room_id, suggested_only, depth_limit)
            stack, done = list(session.stack), set(session.done)
        else:
            stack, done = [(room_id, 0, ())], set()

        rooms: list[dict[str, Any]] = []
        while stack and len(rooms) < page_size:
            current, depth, via = stack.pop()
            if current in done:
                continue
            done.add(current)
            walk = depth < depth_limit
            if await self._events.get_room_version(current) is not None:
                entry = await self._room_entry(user_id, current, suggested_only, walk_children=walk)
            else:
                entry = await self._remote_entry(user_id, current, suggested_only, walk, list(via))
            if entry is None:
                continue
            rooms.append(entry)
            # Reversed, so that the first child is the next to pop.
            stack.extend((child["state_key"], depth + 1, tuple(child["content"]["via"]))
                         for child in reversed(entry["children_state"]))

        result: dict[str, Any] = {"rooms": rooms}
        stack = [item for item in stack if item[0] not in done]
        if stack:
            token = secrets.token_urlsafe(16)
            self._sessions.set(token, _PaginationSession(
                user_id, room_id, suggested_only, depth_limit, tuple(stack), frozenset(done),
                self._clock.time_msec()))
            result["next_batch"] = token
        return result

    def _resume(self, token: str, user_id: str, room_id: str, suggested_only: bool,
                depth_limit: int) -> _PaginationSession:
        session = self._sessions.get(token)
        if (session is None or session.user_id != user_id or session.room_id != room_id
                or self._clock.time_msec() - session.created_ms > PAGINATION_SESSION_LIFETIME_MS):
            raise MatrixError(400, Codes.INVALID_PARAM, "Unknown pagination token")
        if session.suggested_only != suggested_only or session.max_depth != depth_limit:
            raise MatrixError(400, Codes.INVALID_PARAM,
                              "suggested_only and max_depth cannot change on paginated requests")
        return session

    async def _remote_entry(self, user_id: str, room_id: str, suggested_only: bool, walk_children: bool,
                            via: list[str]) -> dict[str, Any] | None:
        """The summary of a room we do not hold, from its servers, when the user could see it."""
        if self._remote is None or self._remote.known_inaccessible(room_id):
            return None
        summary = self._remote.child_summary(room_id, suggested_only)
        if summary is None or (walk_children and summary.get("room_type") == "m.space"
                               and "children_state" not in summary):
            answer = await self._remote.get_hierarchy(room_id, suggested_only, via)
            if answer is None:
                return None
            summary = answer["room"]
        if not await self._remote_is_accessible(user_id, summary):
            return None
        entry = {k: v for k, v in summary.items() if k != "children_state"}
        children: list[dict[str, Any]] = []
        if walk_children and entry.get("room_type") == "m.space":
            children = [c for c in summary.get("children_state", []) if valid_via(c["content"])
                        and (not suggested_only or c["content"].get("suggested") is True)]
            children.sort(key=stripped_order_key)
        entry["children_state"] = children
        return entry

    async def _remote_is_accessible(self, user_id: str, summary: Mapping[str, Any]) -> bool:
        """What the user may see of a room we do not hold (its server vouched for the rest): a
        room they could join or knock on, or read; or one restricted to a room they are joined to
        here. Their own membership of it we cannot know."""
        if summary.get("world_readable") is True or summary.get("join_rule") in ("public", "knock",
                                                                                  "knock_restricted"):
            return True
        if summary.get("join_rule") in ("restricted", "knock_restricted"):
            for allowed_room in summary.get("allowed_room_ids", []):
                joined = await self._events.get_membership(allowed_room, user_id)
                if joined is not None and joined[0] == "join":
                    return True
        return False

    # -- one room -------------------------------------------------------------------------------

    async def get_room_summary(self, user_id: str | None, room_id: str, via: list[str] | None = None
                               ) -> dict[str, Any]:
        """GET /room_summary (spec v1.15, MSC3266): the room's hierarchy entry without children,
        with the requester's `membership`. Visible to those in it (joined, invited, or waiting on
        a knock) and to potential joiners (the hierarchy's rules: restricted rooms to members of
        an allowed room). Without a requester (no access token), only what anyone may see: rooms
        anyone may join, knock on or read. A banned user sees what anyone sees, with `membership:
        ban` (hiding more from them than from an anonymous request would hide nothing). A room
        this server does not hold is asked of the `via` servers over federation (their hierarchy
        answer, see _remote_entry). 404 when the requester may not see the room, or nobody could
        describe it."""
        membership = await self._events.get_membership(room_id, user_id) if user_id is not None else None
        current = membership[0] if membership is not None else None
        # "" is nobody's user ID: no membership and no allowed room makes the room accessible.
        viewer = user_id if user_id is not None and current != "ban" else ""
        if await self._events.get_room_version(room_id) is not None or not via:
            entry = await self._room_entry(viewer, room_id, False, walk_children=False,
                                           visible_to=("join", "invite", "knock"))
        else:
            entry = await self._remote_entry(viewer, room_id, False, False, via)
        if entry is None:
            raise not_found("Room not found.")
        del entry["children_state"]
        # A room with no join rules event cannot be joined without an invite (auth rules), while a
        # chunk without `join_rule` is "assumed to be public": say what it is.
        entry.setdefault("join_rule", "invite")
        if current is not None:
            entry["membership"] = current
        return entry

    # -- over federation ------------------------------------------------------------------------

    async def get_federation_hierarchy(self, origin: str, room_id: str, suggested_only: bool) -> dict[str, Any]:
        """`GET /_matrix/federation/v1/hierarchy/{roomId}`: the room and its children (one level,
        no pagination) as the server `origin` may see them. 404 when the room is not here or the
        server could not peek or join it. Children we hold but the server may not see are listed
        in `inaccessible_children`; children we do not hold are left out."""
        entry = await self._server_entry(origin, room_id, suggested_only)
        if entry is None:
            raise not_found("Room not found, or not visible to your server.")
        children: list[dict[str, Any]] = []
        inaccessible: list[str] = []
        for child in entry["children_state"]:
            child_id = child["state_key"]
            if await self._events.get_room_version(child_id) is None:
                continue
            child_entry = await self._server_entry(origin, child_id, suggested_only)
            if child_entry is None:
                inaccessible.append(child_id)
            else:
                children.append(child_entry)
        return {"room": entry, "children": children, "inaccessible_children": inaccessible}

    async def _server_entry(self, origin: str, room_id: str, suggested_only: bool) -> dict[str, Any] | None:
        room_version = await self._events.get_room_version(room_id)
        if room_version is None:
            return None
        state = await self._events.get_current_state_ids(room_id)
        events = await self._state_events(state, (*SUMMARY_STATE, ENCRYPTION))
        if ("m.room.create", "") not in events or not await self._is_accessible_to_server(
                origin, room_id, room_version, events):
            return None
        return await self._summary(room_id, room_version, state, events, suggested_only, walk_children=True)

    async def _is_accessible_to_server(self, origin: str, room_id: str, room_version: RoomVersion,
                                       events: Mapping[StateKey, Event]) -> bool:
        """Whether a server could peek or join the room: one of its users is joined or invited;
        the room is world readable, public, or open to knocks; or it is restricted and one of
        its users is joined to a room the join rules allow (the asking server filters further
        for its user, with `allowed_room_ids`)."""
        if await self._server_has_member(origin, room_id, ("join", "invite")):
            return True
        if is_world_readable(events):
            return True
        join_rule = join_rule_of(events)
        if join_rule == "public":
            return True
        if (join_rule == "knock" and room_version.knock_join_rule) or (
                join_rule == "knock_restricted" and room_version.knock_restricted_join_rule):
            return True
        for allowed_room in self._allowed_room_ids(room_version, events):
            if await self._server_has_member(origin, allowed_room, ("join",)):
                return True
        return False

    async def _server_has_member(self, server_name: str, room_id: str, memberships: tuple[str, ...]) -> bool:
        suffix = ":" + server_name
        return any(m in memberships and user_id.endswith(suffix)
                   for user_id, m, _ in await self._events.get_members(room_id))

    async def _room_is_accessible(self, user_id: str, room_id: str) -> bool:
        room_version = await self._events.get_room_version(room_id)
        if room_version is None:
            return False
        state = await self._events.get_current_state_ids(room_id)
        events = await self._state_events(state, (*SUMMARY_STATE, ("m.room.member", user_id)))
        return await self._is_accessible(user_id, room_version, events)

    async def _room_entry(self, user_id: str, room_id: str, suggested_only: bool, walk_children: bool,
                          visible_to: tuple[str, ...] = ("join", "invite")) -> dict[str, Any] | None:
        """The room's summary with its `children_state`, or None when the user may not see it or
        it is not known here. Members whose membership is in `visible_to` always see it."""
        room_version = await self._events.get_room_version(room_id)
        if room_version is None:
            return None  # not on this server: needs federation (see the module's docstring)
        state = await self._events.get_current_state_ids(room_id)
        events = await self._state_events(state, (*SUMMARY_STATE, ENCRYPTION, ("m.room.member", user_id)))
        if not await self._is_accessible(user_id, room_version, events, visible_to):
            return None
        return await self._summary(room_id, room_version, state, events, suggested_only, walk_children)

    async def _summary(self, room_id: str, room_version: RoomVersion, state: Mapping[StateKey, str],
                       events: Mapping[StateKey, Event], suggested_only: bool,
                       walk_children: bool) -> dict[str, Any]:
        members = await self._events.get_members(room_id)
        entry = public_room_chunk(room_id, events, sum(1 for _, m, _ in members if m == "join"))
        entry["room_version"] = room_version.identifier
        encryption = content_str(events.get(ENCRYPTION), "algorithm")
        if encryption is not None:
            entry["encryption"] = encryption
        allowed = self._allowed_room_ids(room_version, events)
        if allowed:
            entry["allowed_room_ids"] = allowed
        children: list[Event] = []
        if walk_children and entry.get("room_type") == "m.space":
            children = await self._children(state, suggested_only)
        entry["children_state"] = [stripped_child_event(e) for e in children]
        return entry

    async def _children(self, state: Mapping[StateKey, str], suggested_only: bool) -> list[Event]:
        """The space's valid `m.space.child` events (a room ID as state key and a valid `via`), in
        the spec's order; only the suggested ones if `suggested_only`."""
        keys = [k for k in state if k[0] == SPACE_CHILD and k[1].startswith("!")]
        events = await self._state_events(state, keys)
        children = [e for e in events.values() if valid_via(e.content)]
        if suggested_only:
            children = [e for e in children if e.content.get("suggested") is True]
        return sorted(children, key=child_order_key)

    async def _is_accessible(self, user_id: str, room_version: RoomVersion, events: Mapping[StateKey, Event],
                             visible_to: tuple[str, ...] = ("join", "invite")) -> bool:
        """Whether the user may see the room in a hierarchy (the spec's list): they are joined or
        invited (memberships in `visible_to`); anyone may join it (`public`), knock on it, or read
        it (`world_readable`); or it is restricted and they are joined to one of the rooms its join
        rules allow. A banned user sees none of it."""
        membership = content_str(events.get(("m.room.member", user_id)), "membership")
        if membership == "ban":
            return False
        if membership in visible_to or is_world_readable(events):
            return True
        join_rule = join_rule_of(events)
        if join_rule == "public":
            return True
        if (join_rule == "knock" and room_version.knock_join_rule) or (
                join_rule == "knock_restricted" and room_version.knock_restricted_join_rule):
            return True
        for allowed_room in self._allowed_room_ids(room_version, events):
            joined = await self._events.get_membership(allowed_room, user_id)
            if joined is not None and joined[0] == "join":
                return True
        return False

    @staticmethod
    def _allowed_room_ids(room_version: RoomVersion, events: Mapping[StateKey, Event]) -> list[str]:
        """The rooms whose members may join a restricted room (`m.room_membership` conditions),
        or [] when the room is not restricted in its room version."""
        join_rules = events.get(JOIN_RULES)
        join_rule = join_rule_of(events)
        if join_rules is None or not ((join_rule == "restricted" and room_version.restricted_join_rule) or (
                join_rule == "knock_restricted" and room_version.knock_restricted_join_rule)):
            return []
        allow = join_rules.content.get("allow")
        rooms = []
        for condition in allow if isinstance(allow, list) else []:
            if (isinstance(condition, dict) and condition.get("type") == "m.room_membership"
                    and isinstance(condition.get("room_id"), str) and condition["room_id"] not in rooms):
                rooms.append(condition["room_id"])
        return rooms

    async def _state_events(self, state: Mapping[StateKey, str], keys: Any) -> dict[StateKey, Event]:
        ids = {k: state[k] for k in keys if k in state}
        fetched = await self._events.get_events(list(ids.values()))
        return {k: fetched[eid] for k, eid in ids.items() if eid in fetched}
