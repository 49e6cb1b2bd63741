"""GET /voip/turnServer."""

from __future__ import annotations

from typing import Any

from homeserver.rest.http import HomeserverRequest, RestServlet, client_patterns


class TurnServerServlet(RestServlet):
    PATTERNS = client_patterns("/voip/turnServer")

    async def on_GET(self, request: HomeserverRequest) -> tuple[int, Any]:
        requester = await self.auth(request)
        # Guest accounts are not implemented (allow_guest_access must be false): nobody is a guest.
        return 200, self.hs.turn_handler.get_credentials(requester.user_id, is_guest=False)


def register_servlets(hs: Any, router: Any) -> None:
    router.register(TurnServerServlet(hs))
