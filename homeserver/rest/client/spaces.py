"""GET /rooms/{roomId}/hierarchy (spaces), also at the MSC2946 unstable path it had before v1.2;
GET /room_summary/{roomIdOrAlias} (also at MSC3266's unstable paths)."""

from __future__ import annotations

import re
from typing import Any

from homeserver.api.errors import invalid_param
from homeserver.api.identifiers import is_valid_server_name
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
_ROOM_ID_OR_ALIAS = "(?P<room_id_or_alias>[^/]+)"
_NHEKO_PREFIX = f"{CLIENT_PREFIX}/unstable/im\\.nheko\\.summary"
_UNSTABLE_PATH_START = f"{CLIENT_PREFIX}/unstable/"


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


MAX_VIA = 10  # servers asked about a room we do not hold (up to 3 of them are tried)


class RoomSummaryServlet(RestServlet):
    """Stable (v1.15) and MSC3266's unstable paths: `im.nheko.summary/summary/{id}`, and the
    `rooms/{id}/summary` form some clients still use. matrix-js-sdk picks the stable path only when
    /versions lists `v1.15` or `org.matrix.msc3266`, so the unstable one must work too; its
    answers also carry the prefixed field names of the proposal's first implementations."""

    PATTERNS = [*client_patterns(f"/room_summary/{_ROOM_ID_OR_ALIAS}", releases=(), v1=True),
                re.compile(f"^{_NHEKO_PREFIX}/summary/{_ROOM_ID_OR_ALIAS}$"),
                re.compile(f"^{_NHEKO_PREFIX}/rooms/{_ROOM_ID_OR_ALIAS}/summary$")]
    GUEST_METHODS = frozenset({"GET"})  # anyone may summarise public rooms; guests too

    async def on_GET(self, request: HomeserverRequest, room_id_or_alias: str) -> tuple[int, Any]:
        requester = await self.optional_auth(request)
        if room_id_or_alias[:1] not in ("!", "#"):
            raise invalid_param(f"Not a room ID or alias: {room_id_or_alias!r}")
        via = parse_server_names(request, "via")  # asked when the room is not held here
        room_id = await self.hs.directory_handler.resolve_room_id_or_alias(room_id_or_alias)
        summary = await self.hs.space_hierarchy_handler.get_room_summary(
            requester.user_id if requester else None, check_room_id(room_id), via[:MAX_VIA])
        if request.path.decode("utf-8", "replace").startswith(_UNSTABLE_PATH_START):
            for key in ("room_version", "encryption"):
                if key in summary:
                    summary[f"im.nheko.summary.{key}"] = summary[key]
        return 200, summary


def parse_server_names(request: HomeserverRequest, name: str) -> list[str]:
    """Every value of a repeated query parameter, each a server name (400 M_INVALID_PARAM if not)."""
    names = []
    for raw in request.args.get(name.encode("ascii"), []):
        try:
            value = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise invalid_param(f"Query parameter {name!r} must be UTF-8") from None
        if not is_valid_server_name(value):
            raise invalid_param(f"Query parameter {name!r}: not a server name: {value!r}")
        names.append(value)
    return names


def register_servlets(hs: Any, router: Any) -> None:
    router.register(SpaceHierarchyServlet(hs))
    router.register(RoomSummaryServlet(hs))
