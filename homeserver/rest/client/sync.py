"""GET /sync."""

from __future__ import annotations

from typing import Any

from homeserver.rest.http import (
    HomeserverRequest,
    RestServlet,
    cancellable,
    client_patterns,
    parse_boolean,
    parse_integer,
    parse_string,
)

MAX_TIMEOUT_MS = 5 * 60 * 1000
UNSTABLE_USE_STATE_AFTER = "org.matrix.msc4222.use_state_after"
UNSTABLE_STATE_AFTER = "org.matrix.msc4222.state_after"


class SyncServlet(RestServlet):
    PATTERNS = client_patterns("/sync")
    GUEST_METHODS = frozenset({"GET"})

    @cancellable  # a client gone away stops costing anything, even while its sync waits
    async def on_GET(self, request: HomeserverRequest) -> tuple[int, Any]:
        requester = await self.auth(request)
        since = parse_string(request, "since")
        timeout = min(parse_integer(request, "timeout", default=0, minimum=0) or 0, MAX_TIMEOUT_MS)
        full_state = bool(parse_boolean(request, "full_state", default=False))
        set_presence = parse_string(request, "set_presence", allowed=("online", "offline", "unavailable"))
        stable = bool(parse_boolean(request, "use_state_after", default=False))
        unstable = bool(parse_boolean(request, UNSTABLE_USE_STATE_AFTER, default=False))
        sync_filter = await self._filter(requester.user_id, parse_string(request, "filter"))
        body = await self.hs.sync_handler.sync(requester.user_id, requester.device_id, since, timeout,
                                               full_state, sync_filter, stable or unstable, set_presence)
        if unstable and not stable:
            # MSC4222 clients (matrix-js-sdk) read the answer under the unstable name they asked with.
            for section in ("join", "leave"):
                for room in body.get("rooms", {}).get(section, {}).values():
                    if "state_after" in room:
                        room[UNSTABLE_STATE_AFTER] = room.pop("state_after")
        return 200, body

    async def _filter(self, user_id: str, raw: str | None) -> dict[str, Any]:
        """The `filter` parameter: inline JSON (starts with "{"), or the ID of a stored filter."""
        return await self.hs.filter_handler.resolve_json(raw, user_id)


def register_servlets(hs: Any, router: Any) -> None:
    router.register(SyncServlet(hs))
