"""Room aliases (/directory/room, /rooms/{roomId}/aliases) and the published room directory
(/directory/list/room, /publicRooms)."""

from __future__ import annotations

from typing import Any

from homeserver.api.errors import invalid_param
from homeserver.api.identifiers import is_valid_server_name
from homeserver.handlers.directory import parse_alias
from homeserver.rest.client.rooms import check_room_id
from homeserver.rest.http import (
    HomeserverRequest,
    RestServlet,
    Validator,
    client_patterns,
    parse_integer,
    parse_json_object,
    parse_string,
)

SET_ALIAS_BODY = Validator({
    "type": "object", "required": ["room_id"],
    "properties": {"room_id": {"type": "string"}},
})
VISIBILITY_BODY = Validator({
    "type": "object",
    "properties": {"visibility": {"enum": ["public", "private"]}},
})
PUBLIC_ROOMS_BODY = Validator({
    "type": "object",
    "properties": {
        "limit": {"type": "integer", "minimum": 0},
        "since": {"type": "string"},
        "filter": {"type": "object", "properties": {
            "generic_search_term": {"type": "string"},
            "room_types": {"type": "array", "items": {"type": ["string", "null"]}},
        }},
        "include_all_networks": {"type": "boolean"},
        "third_party_instance_id": {"type": "string"},
    },
})


def check_alias(alias: str) -> str:
    parse_alias(alias)
    return alias


class RoomAliasServlet(RestServlet):
    PATTERNS = client_patterns("/directory/room/(?P<room_alias>[^/]+)")
    GUEST_METHODS = frozenset({"GET"})

    async def on_GET(self, request: HomeserverRequest, room_alias: str) -> tuple[int, Any]:
        return 200, await self.hs.directory_handler.resolve_alias(check_alias(room_alias))

    async def on_PUT(self, request: HomeserverRequest, room_alias: str) -> tuple[int, Any]:
        requester = await self.auth(request)
        check_alias(room_alias)
        body = parse_json_object(request, SET_ALIAS_BODY)
        await self.hs.directory_handler.create_alias(requester.user_id, room_alias, check_room_id(body["room_id"]))
        return 200, {}

    async def on_DELETE(self, request: HomeserverRequest, room_alias: str) -> tuple[int, Any]:
        requester = await self.auth(request)
        await self.hs.directory_handler.delete_alias(requester.user_id, check_alias(room_alias))
        return 200, {}


class RoomAliasesServlet(RestServlet):
    PATTERNS = client_patterns("/rooms/(?P<room_id>[^/]+)/aliases")

    async def on_GET(self, request: HomeserverRequest, room_id: str) -> tuple[int, Any]:
        requester = await self.auth(request)
        aliases = await self.hs.directory_handler.get_local_aliases(requester.user_id, check_room_id(room_id))
        return 200, {"aliases": aliases}


class RoomVisibilityServlet(RestServlet):
    PATTERNS = client_patterns("/directory/list/room/(?P<room_id>[^/]+)")

    async def on_GET(self, request: HomeserverRequest, room_id: str) -> tuple[int, Any]:
        return 200, {"visibility": await self.hs.directory_handler.get_visibility(check_room_id(room_id))}

    async def on_PUT(self, request: HomeserverRequest, room_id: str) -> tuple[int, Any]:
        requester = await self.auth(request)
        check_room_id(room_id)
        body = parse_json_object(request, VISIBILITY_BODY, allow_empty=True)
        await self.hs.directory_handler.set_visibility(requester.user_id, room_id, body.get("visibility", "public"))
        return 200, {}


class PublicRoomsServlet(RestServlet):
    PATTERNS = client_patterns("/publicRooms")
    GUEST_METHODS = frozenset({"GET", "POST"})

    def _remote_server(self, request: HomeserverRequest) -> str | None:
        server = parse_string(request, "server")
        if server is None or server == self.hs.config.server_name:
            return None
        if not is_valid_server_name(server):
            raise invalid_param("server is not a server name")
        return server

    async def on_GET(self, request: HomeserverRequest) -> tuple[int, Any]:
        await self.optional_auth(request)  # the spec lets anyone read the directory
        limit, since = parse_integer(request, "limit", minimum=0), parse_string(request, "since")
        server = self._remote_server(request)
        if server is not None:
            return 200, await self.hs.directory_handler.get_remote_public_rooms(server, limit, since)
        return 200, await self.hs.directory_handler.get_public_rooms(limit, since)

    async def on_POST(self, request: HomeserverRequest) -> tuple[int, Any]:
        await self.auth(request)
        server = self._remote_server(request)
        body = parse_json_object(request, PUBLIC_ROOMS_BODY)
        search = body.get("filter") or {}
        if server is not None:
            return 200, await self.hs.directory_handler.get_remote_public_rooms(
                server, body.get("limit"), body.get("since"), search.get("generic_search_term"),
                search.get("room_types"), bool(body.get("include_all_networks")), body.get("third_party_instance_id"))
        if "third_party_instance_id" in body and not body.get("include_all_networks"):
            # No application service networks exist here: a named one has no rooms.
            return 200, {"chunk": [], "total_room_count_estimate": 0}
        return 200, await self.hs.directory_handler.get_public_rooms(
            body.get("limit"), body.get("since"), search.get("generic_search_term"), search.get("room_types"))


def register_servlets(hs: Any, router: Any) -> None:
    for servlet in (RoomAliasServlet, RoomAliasesServlet, RoomVisibilityServlet, PublicRoomsServlet):
        router.register(servlet(hs))
