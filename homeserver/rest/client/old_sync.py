"""The deprecated pre-/sync API, still in the spec: GET /initialSync, GET /rooms/{roomId}/initialSync,
GET /events (also for peeking, with `room_id`) and GET /events/{eventId}."""

from __future__ import annotations

from typing import Any

from homeserver.handlers.initial_sync import DEFAULT_MESSAGES_LIMIT
from homeserver.rest.client.rooms import check_room_id
from homeserver.rest.client.sync import MAX_TIMEOUT_MS
from homeserver.rest.http import (
    HomeserverRequest,
    RestServlet,
    cancellable,
    client_patterns,
    parse_boolean,
    parse_integer,
    parse_string,
)

MAX_MESSAGES_LIMIT = 1000


class InitialSyncServlet(RestServlet):
    PATTERNS = client_patterns("/initialSync")

    async def on_GET(self, request: HomeserverRequest) -> tuple[int, Any]:
        requester = await self.auth(request)
        limit = min(parse_integer(request, "limit", default=DEFAULT_MESSAGES_LIMIT, minimum=0) or 0,
                    MAX_MESSAGES_LIMIT)
        archived = bool(parse_boolean(request, "archived", default=False))
        return 200, await self.hs.initial_sync_handler.initial_sync(requester.user_id, limit, archived)


class RoomInitialSyncServlet(RestServlet):
    PATTERNS = client_patterns("/rooms/(?P<room_id>[^/]+)/initialSync")
    GUEST_METHODS = frozenset({"GET"})

    async def on_GET(self, request: HomeserverRequest, room_id: str) -> tuple[int, Any]:
        requester = await self.auth(request)
        return 200, await self.hs.initial_sync_handler.room_initial_sync(requester.user_id, check_room_id(room_id))


class EventsServlet(RestServlet):
    PATTERNS = client_patterns("/events")
    GUEST_METHODS = frozenset({"GET"})

    @cancellable
    async def on_GET(self, request: HomeserverRequest) -> tuple[int, Any]:
        requester = await self.auth(request)
        from_token = parse_string(request, "from")
        timeout = min(parse_integer(request, "timeout", default=0, minimum=0) or 0, MAX_TIMEOUT_MS)
        room_id = parse_string(request, "room_id")
        if room_id is not None:
            check_room_id(room_id)
        return 200, await self.hs.event_stream_handler.get_events(requester.user_id, from_token, timeout, room_id)


class EventServlet(RestServlet):
    PATTERNS = client_patterns("/events/(?P<event_id>[^/]+)")

    async def on_GET(self, request: HomeserverRequest, event_id: str) -> tuple[int, Any]:
        requester = await self.auth(request)
        return 200, await self.hs.event_stream_handler.get_event(requester.user_id, event_id)


def register_servlets(hs: Any, router: Any) -> None:
    for servlet in (InitialSyncServlet, RoomInitialSyncServlet, EventsServlet, EventServlet):
        router.register(servlet(hs))
