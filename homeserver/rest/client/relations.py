"""GET /rooms/{roomId}/relations/{eventId}[/{relType}[/{eventType}]] and /rooms/{roomId}/threads."""

from __future__ import annotations

from typing import Any

from homeserver.handlers.room_reads import position_from_token, stream_token
from homeserver.rest.client.rooms import check_room_id
from homeserver.rest.http import (
    HomeserverRequest,
    RestServlet,
    client_patterns,
    parse_boolean,
    parse_integer,
    parse_string,
)

MAX_LIMIT = 1000


def _position(request: HomeserverRequest, name: str) -> int | None:
    token = parse_string(request, name)
    return position_from_token(token) if token is not None else None


class RelationsServlet(RestServlet):
    PATTERNS = client_patterns(
        "/rooms/(?P<room_id>[^/]+)/relations/(?P<event_id>[^/]+)(?:/(?P<rel_type>[^/]+)(?:/(?P<event_type>[^/]+))?)?",
        releases=(), v1=True)

    async def on_GET(self, request: HomeserverRequest, room_id: str, event_id: str, rel_type: str | None = None,
                     event_type: str | None = None) -> tuple[int, Any]:
        requester = await self.auth(request)
        check_room_id(room_id)
        backwards = parse_string(request, "dir", default="b", allowed=("b", "f")) == "b"
        limit = min(parse_integer(request, "limit", default=50, minimum=1) or 50, MAX_LIMIT)
        recurse = parse_boolean(request, "recurse", default=False)
        children, next_position, depth = await self.hs.relations_handler.get_relations(
            requester.user_id, room_id, event_id, rel_type, event_type, _position(request, "from"),
            _position(request, "to"), backwards, limit, bool(recurse))
        body: dict[str, Any] = {"chunk": await self.hs.room_read_handler.serialize(children, requester.user_id)}
        if next_position is not None:
            body["next_batch"] = stream_token(next_position)
        if recurse:
            body["recursion_depth"] = depth
        return 200, body


class ThreadsServlet(RestServlet):
    PATTERNS = client_patterns("/rooms/(?P<room_id>[^/]+)/threads", releases=(), v1=True)

    async def on_GET(self, request: HomeserverRequest, room_id: str) -> tuple[int, Any]:
        requester = await self.auth(request)
        check_room_id(room_id)
        include = parse_string(request, "include", default="all", allowed=("all", "participated"))
        limit = min(parse_integer(request, "limit", default=50, minimum=1) or 50, MAX_LIMIT)
        # Threads are only listed to members (current or past) of the room.
        await self.hs.room_read_handler.get_state_event(requester.user_id, room_id, "m.room.create", "")
        roots, next_position = await self.hs.relations_handler.get_threads(
            requester.user_id, room_id, include == "participated", _position(request, "from"), limit)
        body: dict[str, Any] = {"chunk": await self.hs.room_read_handler.serialize(roots, requester.user_id)}
        if next_position is not None:
            body["next_batch"] = stream_token(next_position)
        return 200, body


def register_servlets(hs: Any, router: Any) -> None:
    for servlet in (RelationsServlet, ThreadsServlet):
        router.register(servlet(hs))
