"""GET /rooms/{roomId}/hierarchy (spaces), also at the MSC2946 unstable path it had before v1.2;
GET /room_summary/{roomIdOrAlias}."""

from __future__ import annotations

import re
from typing import Any

from homeserver.api.errors import invalid_param
from homeserver.rest.client.rooms import check_room_id
from homeserver.rest.http import (
    CLIENT_PREFIX,
    HomeserverRequest,
    RestServlet,
    client_patterns,
    parse_boolean,
    parse_integer,
    parse_string,
)

_HIERARCHY_PATH = "/rooms/(?P<room_id>[^/]+)/hierarchy"


class SpaceHierarchyServlet(RestServlet):
    PATTERNS = [*client_patterns(_HIERARCHY_PATH, releases=(), v1=True),
                re.compile(f"^{CLIENT_PREFIX}/unstable/org\\.matrix\\.msc2946{_HIERARCHY_PATH}$")]

    async def on_GET(self, request: HomeserverRequest, room_id: str) -> tuple[int, Any]:
        requester = await self.auth(request)
        check_room_id(room_id)
        return 200, await self.hs.space_hierarchy_handler.get_hierarchy(
            requester.user_id, room_id,
            suggested_only=bool(parse_boolean(request, "suggested_only", default=False)),
            max_depth=parse_integer(request, "max_depth"),
            limit=parse_integer(request, "limit"),
            from_token=parse_string(request, "from"))


class RoomSummaryServlet(RestServlet):
    PATTERNS = client_patterns("/room_summary/(?P<room_id_or_alias>[^/]+)", releases=(), v1=True)

    async def on_GET(self, request: HomeserverRequest, room_id_or_alias: str) -> tuple[int, Any]:
        requester = await self.optional_auth(request)  # the spec lets anyone summarise public rooms
        if room_id_or_alias[:1] not in ("!", "#"):
            raise invalid_param(f"Not a room ID or alias: {room_id_or_alias!r}")
        room_id = await self.hs.directory_handler.resolve_room_id_or_alias(room_id_or_alias)
        return 200, await self.hs.space_hierarchy_handler.get_room_summary(
            requester.user_id if requester else None, check_room_id(room_id))


def register_servlets(hs: Any, router: Any) -> None:
    router.register(SpaceHierarchyServlet(hs))
    router.register(RoomSummaryServlet(hs))
