"""Queries and directories other servers ask us: `/query/{queryType}` (directory, profile),
`/publicRooms` (GET and POST), `/hierarchy/{roomId}` (spec: data/api/server-server/query.yaml,
public_rooms.yaml, space_hierarchy.yaml)."""

from __future__ import annotations

from typing import Any

from homeserver.api.errors import Codes, MatrixError
from homeserver.federation.transport.server import FederationServlet, federation_patterns
from homeserver.rest.client.directory import PUBLIC_ROOMS_BODY
from homeserver.rest.http import (
    HomeserverRequest,
    parse_boolean,
    parse_integer,
    parse_json_object,
    parse_string,
)


class QueryServlet(FederationServlet):
    PATTERNS = federation_patterns("/query/(?P<query_type>[^/]+)")

    async def on_GET(self, request: HomeserverRequest, query_type: str) -> tuple[int, Any]:
        origin = await self.authenticate(request)
        handler = self.hs.federation_query_handler
        if query_type == "directory":
            alias = parse_string(request, "room_alias", required=True)
            return 200, await handler.query_directory(origin, alias)
        if query_type == "profile":
            user_id = parse_string(request, "user_id", required=True)
            return 200, await handler.query_profile(origin, user_id, parse_string(request, "field"))
        raise MatrixError(404, Codes.UNRECOGNIZED, f"Unknown query type {query_type!r}")


class PublicRoomsServlet(FederationServlet):
    PATTERNS = federation_patterns("/publicRooms")

    async def on_GET(self, request: HomeserverRequest) -> tuple[int, Any]:
        origin = await self.authenticate(request)
        self.hs.federation_query_handler.check_public_rooms_allowed()
        return 200, await self.hs.federation_query_handler.public_rooms(
            origin, parse_integer(request, "limit", minimum=0), parse_string(request, "since"),
            include_all_networks=bool(parse_boolean(request, "include_all_networks", default=False)),
            third_party_instance_id=parse_string(request, "third_party_instance_id"))

    async def on_POST(self, request: HomeserverRequest) -> tuple[int, Any]:
        origin = await self.authenticate(request)
        self.hs.federation_query_handler.check_public_rooms_allowed()
        body = parse_json_object(request, PUBLIC_ROOMS_BODY, allow_empty=True)
        search = body.get("filter") or {}
        return 200, await self.hs.federation_query_handler.public_rooms(
            origin, body.get("limit"), body.get("since"), search.get("generic_search_term"), search.get("room_types"),
            bool(body.get("include_all_networks", False)), body.get("third_party_instance_id"))


class HierarchyServlet(FederationServlet):
    PATTERNS = federation_patterns("/hierarchy/(?P<room_id>[^/]+)")

    async def on_GET(self, request: HomeserverRequest, room_id: str) -> tuple[int, Any]:
        origin = await self.authenticate(request)
        await self.check_acl(origin, room_id)
        suggested_only = bool(parse_boolean(request, "suggested_only", default=False))
        return 200, await self.hs.space_hierarchy_handler.get_federation_hierarchy(origin, room_id, suggested_only)


def register_servlets(hs: Any, router: Any) -> None:
    for servlet in (QueryServlet, PublicRoomsServlet, HierarchyServlet):
        router.register(servlet(hs))
