"""Admin API for federation, with Synapse's paths and shapes: the destinations we federate with,
one destination, the rooms we share with it, and resetting its backoff."""

from __future__ import annotations

from typing import Any

from homeserver.api.errors import invalid_param
from homeserver.api.identifiers import is_valid_server_name
from homeserver.rest.admin.users import _admin_path
from homeserver.rest.http import (
    HomeserverRequest,
    RestServlet,
    Router,
    parse_integer,
    parse_json,
    parse_string,
)
from homeserver.storage.destinations import ORDERINGS

DEFAULT_LIMIT = 100
DESTINATION = "(?P<destination>[^/]+)"


def _check_destination(destination: str) -> str:
    if not is_valid_server_name(destination):
        raise invalid_param(f"Invalid server name: {destination!r}")
    return destination


def _page(request: HomeserverRequest) -> tuple[int, int, bool]:
    offset = parse_integer(request, "from", default=0, minimum=0)
    limit = parse_integer(request, "limit", default=DEFAULT_LIMIT, minimum=0)
    backwards = parse_string(request, "dir", default="f", allowed=("f", "b")) == "b"
    return offset or 0, DEFAULT_LIMIT if limit is None else limit, backwards


class DestinationsServlet(RestServlet):
    PATTERNS = _admin_path("/federation/destinations")

    async def on_GET(self, request: HomeserverRequest) -> tuple[int, Any]:
        await self.auth_admin(request)
        offset, limit, backwards = _page(request)
        order_by = parse_string(request, "order_by", default="destination", allowed=tuple(ORDERINGS)) or "destination"
        return 200, await self.hs.destinations_admin_handler.list_destinations(offset, limit, order_by, backwards)


class DestinationServlet(RestServlet):
    PATTERNS = _admin_path(f"/federation/destinations/{DESTINATION}")

    async def on_GET(self, request: HomeserverRequest, destination: str) -> tuple[int, Any]:
        await self.auth_admin(request)
        return 200, await self.hs.destinations_admin_handler.get_destination(_check_destination(destination))


class DestinationRoomsServlet(RestServlet):
    PATTERNS = _admin_path(f"/federation/destinations/{DESTINATION}/rooms")

    async def on_GET(self, request: HomeserverRequest, destination: str) -> tuple[int, Any]:
        await self.auth_admin(request)
        _check_destination(destination)
        offset, limit, backwards = _page(request)
        return 200, await self.hs.destinations_admin_handler.get_rooms(destination, offset, limit, backwards)


class ResetConnectionServlet(RestServlet):
    PATTERNS = _admin_path(f"/federation/destinations/{DESTINATION}/reset_connection")

    async def on_POST(self, request: HomeserverRequest, destination: str) -> tuple[int, Any]:
        await self.auth_admin(request)
        _check_destination(destination)
        parse_json(request, allow_empty=True)  # `{}` by the docs; nothing in it is used
        await self.hs.destinations_admin_handler.reset_connection(destination)
        return 200, {}


def register_servlets(hs: Any, router: Router) -> None:
    for servlet in (DestinationsServlet, DestinationServlet, DestinationRoomsServlet, ResetConnectionServlet):
        router.register(servlet(hs))
