"""GET /sync."""

from __future__ import annotations

from typing import Any

from homeserver.rest.http import (
    HomeserverRequest,
    RestServlet,
    client_patterns,
    parse_boolean,
    parse_integer,
    parse_string,
)

MAX_TIMEOUT_MS = 5 * 60 * 1000


class SyncServlet(RestServlet):
    PATTERNS = client_patterns("/sync")

    async def on_GET(self, request: HomeserverRequest) -> tuple[int, Any]:
        requester = await self.auth(request)
        since = parse_string(request, "since")
        timeout = min(parse_integer(request, "timeout", default=0, minimum=0) or 0, MAX_TIMEOUT_MS)
        full_state = bool(parse_boolean(request, "full_state", default=False))
        set_presence = parse_string(request, "set_presence", allowed=("online", "offline", "unavailable"))
        use_state_after = bool(parse_boolean(request, "use_state_after", default=False)
                               or parse_boolean(request, "org.matrix.msc4222.use_state_after", default=False))
        sync_filter = await self._filter(requester.user_id, parse_string(request, "filter"))
        return 200, await self.hs.sync_handler.sync(requester.user_id, requester.device_id, since, timeout,
                                                    full_state, sync_filter, use_state_after, set_presence)

    async def _filter(self, user_id: str, raw: str | None) -> dict[str, Any]:
        """The `filter` parameter: inline JSON (starts with "{"), or the ID of a stored filter."""
        return await self.hs.filter_handler.resolve_json(raw, user_id)


def register_servlets(hs: Any, router: Any) -> None:
    router.register(SyncServlet(hs))
