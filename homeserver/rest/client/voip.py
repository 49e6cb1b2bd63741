"""GET /voip/turnServer."""

from __future__ import annotations

from typing import Any

from homeserver.rest.http import HomeserverRequest, RestServlet, client_patterns


class TurnServerServlet(RestServlet):
    PATTERNS = client_patterns("/voip/turnServer")
    GUEST_METHODS = frozenset({"GET"})

    async def on_GET(self, request: HomeserverRequest) -> tuple[int, Any]:
        requester = await self.auth(request)
        return 200, self.hs.turn_handler.get_credentials(requester.user_id, is_guest=requester.is_guest)


def register_servlets(hs: Any, router: Any) -> None:
    router.register(TurnServerServlet(hs))
