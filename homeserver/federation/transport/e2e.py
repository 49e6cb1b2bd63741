"""End-to-end encryption across servers, the answering side: GET /user/devices/{userId},
POST /user/keys/query, POST /user/keys/claim (spec: data/api/server-server/user_devices.yaml,
user_keys.yaml)."""

from __future__ import annotations

from typing import Any

from homeserver.federation.transport.server import FederationServlet, federation_body, federation_patterns
from homeserver.rest.http import HomeserverRequest, Validator

QUERY_BODY = Validator({
    "type": "object", "required": ["device_keys"],
    "properties": {"device_keys": {"type": "object", "maxProperties": 1000,
                                   "additionalProperties": {"type": "array", "items": {"type": "string"}}}},
})
CLAIM_BODY = Validator({
    "type": "object", "required": ["one_time_keys"],
    "properties": {"one_time_keys": {"type": "object", "maxProperties": 1000, "additionalProperties": {
        "type": "object", "additionalProperties": {"type": "string"}}}},
})


class UserDevicesServlet(FederationServlet):
    PATTERNS = federation_patterns("/user/devices/(?P<user_id>[^/]+)")

    async def on_GET(self, request: HomeserverRequest, user_id: str) -> tuple[int, Any]:
        await self.authenticate(request)
        return 200, await self.hs.e2e_keys_handler.federation_devices(user_id, self.hs.device_lists_handler.position)


class UserKeysQueryServlet(FederationServlet):
    PATTERNS = federation_patterns("/user/keys/query")

    async def on_POST(self, request: HomeserverRequest) -> tuple[int, Any]:
        await self.authenticate(request)
        body = federation_body(request, QUERY_BODY)
        return 200, await self.hs.e2e_keys_handler.federation_query(body["device_keys"])


class UserKeysClaimServlet(FederationServlet):
    PATTERNS = federation_patterns("/user/keys/claim")

    async def on_POST(self, request: HomeserverRequest) -> tuple[int, Any]:
        await self.authenticate(request)
        body = federation_body(request, CLAIM_BODY)
        return 200, await self.hs.e2e_keys_handler.federation_claim(body["one_time_keys"])


def register_servlets(hs: Any, router: Any) -> None:
    for servlet in (UserDevicesServlet, UserKeysQueryServlet, UserKeysClaimServlet):
        router.register(servlet(hs))
