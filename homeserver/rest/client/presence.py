"""GET/PUT /presence/{userId}/status."""

from __future__ import annotations

from typing import Any

from homeserver.rest.client.rooms import check_user_id
from homeserver.rest.http import HomeserverRequest, RestServlet, Validator, client_patterns, parse_json_object

STATUS_BODY = Validator({
    "type": "object", "required": ["presence"],
    "properties": {"presence": {"enum": ["online", "unavailable", "offline"]},
                   "status_msg": {"type": ["string", "null"], "maxLength": 1024}},
})


class PresenceStatusServlet(RestServlet):
    PATTERNS = client_patterns("/presence/(?P<user_id>[^/]+)/status")

    async def on_GET(self, request: HomeserverRequest, user_id: str) -> tuple[int, Any]:
        requester = await self.auth(request)
        return 200, await self.hs.presence_handler.get_status(requester.user_id, check_user_id(user_id))

    async def on_PUT(self, request: HomeserverRequest, user_id: str) -> tuple[int, Any]:
        requester = await self.auth(request)
        body = parse_json_object(request, STATUS_BODY)
        await self.hs.presence_handler.set_status(requester.user_id, check_user_id(user_id), body["presence"],
                                                  body.get("status_msg"))
        return 200, {}


def register_servlets(hs: Any, router: Any) -> None:
    router.register(PresenceStatusServlet(hs))
