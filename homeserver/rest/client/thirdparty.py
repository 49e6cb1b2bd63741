"""GET /thirdparty/protocols, /thirdparty/protocol/{protocol}, /thirdparty/location[/{protocol}],
/thirdparty/user[/{protocol}]."""

from __future__ import annotations

from typing import Any

from homeserver.rest.http import HomeserverRequest, RestServlet, client_patterns, parse_string


def _fields(request: HomeserverRequest) -> dict[str, str]:
    """The lookup's protocol-specific fields: every query parameter but the access token."""
    fields = {}
    for name, values in request.args.items():
        key = name.decode("utf-8", "replace")
        if key != "access_token" and values:
            fields[key] = values[0].decode("utf-8", "replace")
    return fields


class ProtocolsServlet(RestServlet):
    PATTERNS = client_patterns("/thirdparty/protocols")

    async def on_GET(self, request: HomeserverRequest) -> tuple[int, Any]:
        await self.auth(request)
        return 200, self.hs.thirdparty_handler.get_protocols()


class ProtocolServlet(RestServlet):
    PATTERNS = client_patterns("/thirdparty/protocol/(?P<protocol>[^/]+)")

    async def on_GET(self, request: HomeserverRequest, protocol: str) -> tuple[int, Any]:
        await self.auth(request)
        return 200, self.hs.thirdparty_handler.get_protocol(protocol)


class LocationServlet(RestServlet):
    PATTERNS = client_patterns("/thirdparty/location(?:/(?P<protocol>[^/]+))?")

    async def on_GET(self, request: HomeserverRequest, protocol: str | None = None) -> tuple[int, Any]:
        await self.auth(request)
        handler = self.hs.thirdparty_handler
        if protocol is not None:
            return 200, handler.query_locations(protocol, _fields(request))
        return 200, handler.locations_for_alias(parse_string(request, "alias", required=True))


class UserServlet(RestServlet):
    PATTERNS = client_patterns("/thirdparty/user(?:/(?P<protocol>[^/]+))?")

    async def on_GET(self, request: HomeserverRequest, protocol: str | None = None) -> tuple[int, Any]:
        await self.auth(request)
        handler = self.hs.thirdparty_handler
        if protocol is not None:
            return 200, handler.query_users(protocol, _fields(request))
        return 200, handler.users_for_user_id(parse_string(request, "userid", required=True))


def register_servlets(hs: Any, router: Any) -> None:
    for servlet in (ProtocolsServlet, ProtocolServlet, LocationServlet, UserServlet):
        router.register(servlet(hs))
