"""GET /sync, and simplified sliding sync (MSC4186: POST .../org.matrix.simplified_msc3575/sync)."""

from __future__ import annotations

import re
from typing import Any

from homeserver.api.errors import invalid_param
from homeserver.rest.http import (
    CLIENT_PREFIX,
    HomeserverRequest,
    RestServlet,
    Validator,
    cancellable,
    client_patterns,
    parse_boolean,
    parse_integer,
    parse_json_object,
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


_STRINGS = {"type": "array", "items": {"type": "string"}}
_NULLABLE_STRINGS = {"type": "array", "items": {"type": ["string", "null"]}}
_REQUIRED_STATE = {"type": "array", "items": {"type": "array", "items": {"type": "string"},
                                              "minItems": 2, "maxItems": 2}}
_ROOM_CONFIG = {
    "timeline_limit": {"type": "integer", "minimum": 0, "maximum": 1000},
    "required_state": _REQUIRED_STATE,
}
_EXTENSION = {"type": "object", "properties": {"enabled": {"type": ["boolean", "null"]},
                                               "lists": _STRINGS, "rooms": _STRINGS}}
# The request body, as Synapse and Element X shape it (docs/sync.md, "Sliding sync").
SLIDING_SYNC_SCHEMA = {
    "type": "object",
    "properties": {
        "conn_id": {"type": "string", "maxLength": 255},
        "txn_id": {"type": "string"},
        "lists": {
            "type": "object", "maxProperties": 100, "propertyNames": {"maxLength": 64},
            "additionalProperties": {
                "type": "object",
                "required": ["timeline_limit", "required_state"],
                "properties": {
                    **_ROOM_CONFIG,
                    "ranges": {"type": "array", "items": {
                        "type": "array", "items": {"type": "integer", "minimum": 0}, "minItems": 2, "maxItems": 2}},
                    "slow_get_all_rooms": {"type": "boolean"},
                    "filters": {"type": "object", "properties": {
                        "is_dm": {"type": "boolean"}, "spaces": _STRINGS, "is_encrypted": {"type": "boolean"},
                        "is_invite": {"type": "boolean"}, "room_types": _NULLABLE_STRINGS,
                        "not_room_types": _NULLABLE_STRINGS, "room_name_like": {"type": "string"},
                        "tags": _STRINGS, "not_tags": _STRINGS}},
                },
            },
        },
        "room_subscriptions": {
            "type": "object",
            "additionalProperties": {"type": "object", "required": ["timeline_limit", "required_state"],
                                     "properties": _ROOM_CONFIG},
        },
        "extensions": {
            "type": "object",
            "properties": {
                "to_device": {"type": "object", "properties": {
                    "enabled": {"type": ["boolean", "null"]}, "since": {"type": ["string", "null"]},
                    "limit": {"type": "integer", "minimum": 1, "maximum": 100}}},
                "e2ee": _EXTENSION, "account_data": _EXTENSION, "receipts": _EXTENSION, "typing": _EXTENSION,
            },
        },
    },
}


class SlidingSyncServlet(RestServlet):
    PATTERNS = [re.compile(f"^{CLIENT_PREFIX}/unstable/org\\.matrix\\.simplified_msc3575/sync$")]
    GUEST_METHODS = frozenset({"POST"})
    _validator = Validator(SLIDING_SYNC_SCHEMA)

    async def on_POST(self, request: HomeserverRequest) -> tuple[int, Any]:
        requester = await self.auth(request)
        pos = parse_string(request, "pos")
        timeout = min(parse_integer(request, "timeout", default=0, minimum=0) or 0, MAX_TIMEOUT_MS)
        body = parse_json_object(request, self._validator, allow_empty=True)
        for spec in (body.get("lists") or {}).values():
            for start, end in spec.get("ranges") or []:
                if start > end:
                    raise invalid_param("A range's start is after its end")
        return 200, await self.hs.sliding_sync_handler.sync(requester.user_id, requester.device_id, pos, timeout,
                                                            body)


def register_servlets(hs: Any, router: Any) -> None:
    router.register(SyncServlet(hs))
    router.register(SlidingSyncServlet(hs))
