"""A user's devices: list, look up, rename, delete (with their tokens)."""

from __future__ import annotations

from typing import Any

from homeserver.api.errors import not_found
from homeserver.storage.devices import DeviceRecord, DevicesStore


def device_json(d: DeviceRecord) -> dict[str, Any]:
    return {"device_id": d.device_id, "display_name": d.display_name,
            "last_seen_ip": d.last_seen_ip, "last_seen_ts": d.last_seen_ts}


class DeviceHandler:
    def __init__(self, devices: DevicesStore):
        self._devices = devices

    async def list_devices(self, user_id: str) -> list[dict[str, Any]]:
        return [device_json(d) for d in await self._devices.get_devices(user_id)]

    async def get_device(self, user_id: str, device_id: str) -> dict[str, Any]:
        device = await self._devices.get_device(user_id, device_id)
        if device is None:
            raise not_found("Device not found")
        return device_json(device)

    async def rename(self, user_id: str, device_id: str, display_name: str | None) -> None:
        if not await self._devices.set_display_name(user_id, device_id, display_name):
            raise not_found("Device not found")

    async def whois(self, user_id: str) -> dict[str, Any]:
        """GET /admin/whois: each device is a session; its one connection is its latest request
        (only the latest is recorded per device, written behind in batches)."""
        devices = {}
        for device_id, last in sorted((await self._devices.get_last_connections(user_id)).items()):
            connections = []
            if last is not None:
                ts, ip, user_agent = last
                connections.append({"ip": ip, "last_seen": ts, "user_agent": user_agent})
            devices[device_id] = {"sessions": [{"connections": connections}]}
        return {"user_id": user_id, "devices": devices}

    async def delete(self, user_id: str, device_ids: list[str]) -> None:
        await self._devices.delete_devices(user_id, device_ids)
