"""GET /admin/whois/{userId}: a user's devices and where they were last used from (the user
themself, or a server admin)."""

from __future__ import annotations

from typing import Any

from homeserver.api.errors import forbidden, not_found
from homeserver.rest.client.rooms import check_user_id
from homeserver.rest.http import HomeserverRequest, RestServlet, client_patterns


class WhoisServlet(RestServlet):
    PATTERNS = client_patterns("/admin/whois/(?P<user_id>[^/]+)")

    async def on_GET(self, request: HomeserverRequest, user_id: str) -> tuple[int, Any]:
        requester = await self.auth(request)
        check_user_id(user_id)
        if user_id != requester.user_id and not await self.hs.auth_handler.is_admin(requester.user_id):
            raise forbidden("Only server admins may look up other users")
        if await self.hs.users_store.get_user(user_id) is None:
            raise not_found("No such user on this server")
        return 200, await self.hs.device_handler.whois(user_id)


def register_servlets(hs: Any, router: Any) -> None:
    router.register(WhoisServlet(hs))
