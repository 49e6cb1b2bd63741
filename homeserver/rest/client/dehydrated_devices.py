"""MSC3814: PUT/GET/DELETE /dehydrated_device and POST /dehydrated_device/{deviceId}/events,
under /_matrix/client/unstable/org.matrix.msc3814.v1."""

from __future__ import annotations

from typing import Any

from homeserver.handlers.dehydrated_devices import EVENTS_BATCH_LIMIT, KEY_FIELDS
from homeserver.rest.client.keys import DEVICE_KEYS
from homeserver.rest.http import (
    HomeserverRequest,
    RestServlet,
    Validator,
    client_patterns,
    parse_integer,
    parse_json_object,
    parse_string,
)

UNSTABLE = (r"unstable/org\.matrix\.msc3814\.v1",)
PUT_BODY = Validator({
    "type": "object", "required": ["device_id", "device_data"],
    "properties": {
        "device_id": {"type": "string", "minLength": 1, "maxLength": 255},
        "device_data": {"type": "object", "required": ["algorithm"], "properties": {"algorithm": {"type": "string"}}},
        "initial_device_display_name": {"type": ["string", "null"], "maxLength": 512},
        "device_keys": DEVICE_KEYS,
        "one_time_keys": {"type": "object"},
        "fallback_keys": {"type": "object"},
    },
})
EVENTS_BODY = Validator({"type": "object", "properties": {"next_batch": {"type": ["string", "null"]}}})


class DehydratedDeviceServlet(RestServlet):
    PATTERNS = client_patterns("/dehydrated_device", releases=UNSTABLE)

    async def on_GET(self, request: HomeserverRequest) -> tuple[int, Any]:
        requester = await self.auth(request)
        return 200, await self.hs.dehydrated_device_handler.get(requester.user_id)

    async def on_PUT(self, request: HomeserverRequest) -> tuple[int, Any]:
        requester = await self.auth(request)
        body = parse_json_object(request, PUT_BODY)
        keys = {k: body[k] for k in KEY_FIELDS if k in body}
        return 200, await self.hs.dehydrated_device_handler.put(
            requester.user_id, body["device_id"], body["device_data"], body.get("initial_device_display_name"),
            keys)

    async def on_DELETE(self, request: HomeserverRequest) -> tuple[int, Any]:
        requester = await self.auth(request)
        return 200, await self.hs.dehydrated_device_handler.delete(requester.user_id)


class DehydratedDeviceEventsServlet(RestServlet):
    """Two generations of the MSC: POST with `next_batch` in the body, answering `next_batch`
    always (a batch with no events ends); GET with the `from` query parameter, answering
    `next_batch` only while more may follow (its absence ends). Clients of both are in use."""

    PATTERNS = client_patterns("/dehydrated_device/(?P<device_id>[^/]+)/events", releases=UNSTABLE)

    async def on_POST(self, request: HomeserverRequest, device_id: str) -> tuple[int, Any]:
        requester = await self.auth(request)
        body = parse_json_object(request, EVENTS_BODY, allow_empty=True)
        limit = parse_integer(request, "limit", default=EVENTS_BATCH_LIMIT, minimum=1)
        events, next_batch, _ = await self.hs.dehydrated_device_handler.events(
            requester.user_id, device_id, body.get("next_batch"), limit)
        return 200, {"events": events, "next_batch": next_batch}

    async def on_GET(self, request: HomeserverRequest, device_id: str) -> tuple[int, Any]:
        requester = await self.auth(request)
        since = parse_string(request, "from") or parse_string(request, "next_batch")
        limit = parse_integer(request, "limit", default=EVENTS_BATCH_LIMIT, minimum=1)
        events, next_batch, more = await self.hs.dehydrated_device_handler.events(
            requester.user_id, device_id, since, limit)
        return 200, {"events": events, "next_batch": next_batch} if more else {"events": events}


def register_servlets(hs: Any, router: Any) -> None:
    for servlet in (DehydratedDeviceServlet, DehydratedDeviceEventsServlet):
        router.register(servlet(hs))
