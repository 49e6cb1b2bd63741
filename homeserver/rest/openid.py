"""OpenID: POST /_matrix/client/v3/user/{userId}/openid/request_token (a client asks for a token)
and GET /_matrix/federation/v1/openid/userinfo (a third party exchanges it for the user ID).

The userinfo endpoint belongs to the federation API but is not authenticated with signed
requests: the token is the credential. It is served on every listener with a `client`,
`federation` or `openid` resource, and does not depend on federation being allowed
(`federation_domain_whitelist`): lk-jwt-service (Element Call) and integration managers need it
on servers that do not federate. A reverse proxy forwarding only `/_matrix/client` must also
forward `/_matrix/federation/v1/openid/userinfo` for them to reach it (docs/calls.md)."""

from __future__ import annotations

import re
from typing import Any

from homeserver.rest.http import (
    HomeserverRequest,
    RestServlet,
    client_patterns,
    parse_json_object,
    parse_string,
)


class RequestOpenIdTokenServlet(RestServlet):
    PATTERNS = client_patterns("/user/(?P<user_id>[^/]+)/openid/request_token")

    async def on_POST(self, request: HomeserverRequest, user_id: str) -> tuple[int, Any]:
        requester = await self.auth(request)
        parse_json_object(request, allow_empty=True)  # an empty object, reserved for future use
        return 200, await self.hs.openid_handler.request_token(requester.user_id, user_id)


class OpenIdUserInfoServlet(RestServlet):
    PATTERNS = [re.compile("^/_matrix/federation/v1/openid/userinfo$")]

    async def on_GET(self, request: HomeserverRequest) -> tuple[int, Any]:
        token = parse_string(request, "access_token", required=True)
        return 200, await self.hs.openid_handler.get_userinfo(token or "")


def register_servlets(hs: Any, router: Any) -> None:
    """The client-server half (on `client` listeners)."""
    router.register(RequestOpenIdTokenServlet(hs))


def register_userinfo_servlet(hs: Any, router: Any) -> None:
    """The third parties' half (on `client`, `federation` and `openid` listeners)."""
    router.register(OpenIdUserInfoServlet(hs))
