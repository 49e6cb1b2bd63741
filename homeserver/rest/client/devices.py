"""/devices, /devices/{deviceId}, /delete_devices."""

from __future__ import annotations

from typing import Any

from homeserver.handlers.uia import PASSWORD
from homeserver.rest.http import (
    HomeserverRequest,
    RestServlet,
    Validator,
    client_patterns,
    operation_path,
    parse_json_object,
)

RENAME_BODY = Validator({
    "type": "object", "properties": {"display_name": {"type": ["string", "null"], "maxLength": 512}},
})
DELETE_DEVICES_BODY = Validator({
    "type": "object",
    "required": ["devices"],
    "properties": {"devices": {"type": "array", "items": {"type": "string"}}, "auth": {"type": "object"}},
})
AUTH_ONLY_BODY = Validator({"type": "object", "properties": {"auth": {"type": "object"}}})


class DevicesServlet(RestServlet):
    PATTERNS = client_patterns("/devices")
    GUEST_METHODS = frozenset({"GET"})

    async def on_GET(self, request: HomeserverRequest) -> tuple[int, Any]:
        requester = await self.auth(request)
        return 200, {"devices": await self.hs.device_handler.list_devices(requester.user_id)}


class DeviceServlet(RestServlet):
    PATTERNS = client_patterns("/devices/(?P<device_id>[^/]+)")
    GUEST_METHODS = frozenset({"GET", "PUT"})

    async def on_GET(self, request: HomeserverRequest, device_id: str) -> tuple[int, Any]:
        requester = await self.auth(request)
        return 200, await self.hs.device_handler.get_device(requester.user_id, device_id)

    async def on_PUT(self, request: HomeserverRequest, device_id: str) -> tuple[int, Any]:
        requester = await self.auth(request)
        body = parse_json_object(request, RENAME_BODY)
        if "display_name" in body:
            await self.hs.device_handler.rename(requester.user_id, device_id, body["display_name"])
        else:
            await self.hs.device_handler.get_device(requester.user_id, device_id)  # 404 if unknown
        return 200, {}

    async def on_DELETE(self, request: HomeserverRequest, device_id: str) -> tuple[int, Any]:
        requester = await self.auth(request)
        body = parse_json_object(request, AUTH_ONLY_BODY, allow_empty=True)
        await self.hs.device_handler.get_device(requester.user_id, device_id)  # 404 before any auth dance
        session_id, _, _ = await self.hs.uia_handler.check(
            body, "DELETE", operation_path(request), [[PASSWORD]], requester.user_id
        )
        await self.hs.device_handler.delete(requester.user_id, [device_id])
        await self.hs.uia_handler.finish(session_id)
        return 200, {}


class DeleteDevicesServlet(RestServlet):
    PATTERNS = client_patterns("/delete_devices")

    async def on_POST(self, request: HomeserverRequest) -> tuple[int, Any]:
        requester = await self.auth(request)
        body = parse_json_object(request, DELETE_DEVICES_BODY)
        session_id, _, _ = await self.hs.uia_handler.check(
            body, "POST", operation_path(request), [[PASSWORD]], requester.user_id
        )
        await self.hs.device_handler.delete(requester.user_id, body["devices"])
        await self.hs.uia_handler.finish(session_id)
        return 200, {}


def register_servlets(hs: Any, router: Any) -> None:
    for servlet in (DevicesServlet, DeviceServlet, DeleteDevicesServlet):
        router.register(servlet(hs))
