"""POST /search (server-side search of room events)."""

from __future__ import annotations

from typing import Any

from homeserver.events.filtering import ROOM_EVENT_FILTER_SCHEMA
from homeserver.rest.http import (
    HomeserverRequest,
    RestServlet,
    Validator,
    client_patterns,
    parse_json_object,
    parse_string,
)
from homeserver.storage.search import SEARCH_KEYS

_CONTEXT_LIMIT = {"type": "integer", "minimum": 0}

ROOM_EVENTS_CRITERIA = {
    "type": "object", "required": ["search_term"],
    "properties": {
        "search_term": {"type": "string", "maxLength": 2000},
        "keys": {"type": "array", "items": {"enum": sorted(SEARCH_KEYS.values())}},
        "filter": ROOM_EVENT_FILTER_SCHEMA,
        "order_by": {"enum": ["recent", "rank"]},
        "event_context": {
            "type": "object",
            "properties": {"before_limit": _CONTEXT_LIMIT, "after_limit": _CONTEXT_LIMIT,
                           "include_profile": {"type": "boolean"}},
        },
        "include_state": {"type": "boolean"},
        "groupings": {
            "type": "object",
            "properties": {"group_by": {"type": "array", "items": {
                "type": "object", "required": ["key"], "properties": {"key": {"enum": ["room_id", "sender"]}}}}},
        },
    },
}

SEARCH_BODY = Validator({
    "type": "object", "required": ["search_categories"],
    "properties": {"search_categories": {"type": "object", "properties": {"room_events": ROOM_EVENTS_CRITERIA}}},
})


class SearchServlet(RestServlet):
    PATTERNS = client_patterns("/search")

    async def on_POST(self, request: HomeserverRequest) -> tuple[int, Any]:
        requester = await self.auth(request)
        body = parse_json_object(request, SEARCH_BODY)
        next_batch = parse_string(request, "next_batch")
        return 200, await self.hs.search_handler.search(requester.user_id, body["search_categories"], next_batch)


def register_servlets(hs: Any, router: Any) -> None:
    router.register(SearchServlet(hs))
