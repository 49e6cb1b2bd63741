"""Push notifications: GET /pushers, POST /pushers/set, GET /notifications."""

from __future__ import annotations

from typing import Any

from homeserver.rest.http import (
    HomeserverRequest,
    RestServlet,
    client_patterns,
    parse_integer,
    parse_json_object,
    parse_string,
)


class PushersServlet(RestServlet):
    PATTERNS = client_patterns("/pushers")

    async def on_GET(self, request: HomeserverRequest) -> tuple[int, Any]:
        requester = await self.auth(request)
        return 200, {"pushers": await self.hs.pusher_handler.get_pushers(requester.user_id)}


class SetPusherServlet(RestServlet):
    PATTERNS = client_patterns("/pushers/set")

    async def on_POST(self, request: HomeserverRequest) -> tuple[int, Any]:
        requester = await self.auth(request)
        body = parse_json_object(request)
        await self.hs.pusher_handler.set_pusher(requester.user_id, requester.device_id, body)
        return 200, {}


class NotificationsServlet(RestServlet):
    PATTERNS = client_patterns("/notifications")

    async def on_GET(self, request: HomeserverRequest) -> tuple[int, Any]:
        requester = await self.auth(request)
        return 200, await self.hs.notification_list_handler.get_notifications(
            requester.user_id, parse_string(request, "from"), parse_integer(request, "limit", minimum=1),
            parse_string(request, "only"))


def register_servlets(hs: Any, router: Any) -> None:
    for servlet in (PushersServlet, SetPusherServlet, NotificationsServlet):
        router.register(servlet(hs))
