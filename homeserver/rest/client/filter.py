"""Filters: POST /user/{userId}/filter and GET /user/{userId}/filter/{filterId}."""

from __future__ import annotations

from typing import Any

from homeserver.rest.http import HomeserverRequest, RestServlet, client_patterns, parse_json_object


class CreateFilterServlet(RestServlet):
    PATTERNS = client_patterns("/user/(?P<user_id>[^/]+)/filter")
    GUEST_METHODS = frozenset({"POST"})

    async def on_POST(self, request: HomeserverRequest, user_id: str) -> tuple[int, Any]:
        requester = await self.auth(request)
        body = parse_json_object(request)
        filter_id = await self.hs.filter_handler.create_filter(requester.user_id, user_id, body)
        return 200, {"filter_id": filter_id}


class GetFilterServlet(RestServlet):
    PATTERNS = client_patterns("/user/(?P<user_id>[^/]+)/filter/(?P<filter_id>[^/]+)")
    GUEST_METHODS = frozenset({"GET"})

    async def on_GET(self, request: HomeserverRequest, user_id: str, filter_id: str) -> tuple[int, Any]:
        requester = await self.auth(request)
        return 200, await self.hs.filter_handler.get_filter(requester.user_id, user_id, filter_id)


def register_servlets(hs: Any, router: Any) -> None:
    router.register(CreateFilterServlet(hs))
    router.register(GetFilterServlet(hs))
