"""GET /mutual_rooms?user_id=..."""

from __future__ import annotations

from typing import Any

from homeserver.rest.http import HomeserverRequest, RestServlet, client_patterns, parse_string


class MutualRoomsServlet(RestServlet):
    PATTERNS = client_patterns("/mutual_rooms", releases=(), v1=True)

    async def on_GET(self, request: HomeserverRequest) -> tuple[int, Any]:
        requester = await self.auth(request)
        other = parse_string(request, "user_id", required=True)
        assert other is not None
        return 200, await self.hs.mutual_rooms_handler.mutual_rooms(requester.user_id, other,
                                                                     parse_string(request, "from"))


def register_servlets(hs: Any, router: Any) -> None:
    router.register(MutualRoomsServlet(hs))
