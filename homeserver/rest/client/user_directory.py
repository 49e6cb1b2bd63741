"""POST /user_directory/search."""

from __future__ import annotations

from typing import Any

from homeserver.handlers.user_directory import DEFAULT_LIMIT
from homeserver.rest.http import HomeserverRequest, RestServlet, Validator, client_patterns, parse_json_object

SEARCH_BODY = Validator({
    "type": "object", "required": ["search_term"],
    "properties": {"search_term": {"type": "string", "maxLength": 1000},
                   "limit": {"type": "integer", "minimum": 0}},
})


class UserDirectorySearchServlet(RestServlet):
    PATTERNS = client_patterns("/user_directory/search")

    async def on_POST(self, request: HomeserverRequest) -> tuple[int, Any]:
        requester = await self.auth(request)
        body = parse_json_object(request, SEARCH_BODY)
        return 200, await self.hs.user_directory_handler.search(requester.user_id, body["search_term"],
                                                                int(body.get("limit", DEFAULT_LIMIT)))


def register_servlets(hs: Any, router: Any) -> None:
    router.register(UserDirectorySearchServlet(hs))
