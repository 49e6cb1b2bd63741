"""MSC3814 dehydrated devices: a device stored (encrypted by the client) on the server, which
keeps receiving to-device messages (room keys) while none of the user's clients is online. A new
login rehydrates it and reads those messages through `events`, in batches, without deleting them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from homeserver.api.errors import forbidden, invalid_param, not_found
from homeserver.api.numbers import parse_position
from homeserver.handlers.to_device import message_event
from homeserver.storage.dehydrated_devices import DehydratedDevicesStore
from homeserver.storage.devices import DevicesStore
from homeserver.storage.to_device import ToDeviceStore
from homeserver.util.linearizer import Linearizer

EVENTS_BATCH_LIMIT = 100
# The /keys/upload part of a PUT body, handed to the keys handler for the dehydrated device.
KEY_FIELDS = ("device_keys", "one_time_keys", "fallback_keys")

# (user_id, device_id, {device_keys, one_time_keys, fallback_keys}) -> stored, as /keys/upload does.
KeyUploader = Callable[[str, str, dict[str, Any]], Awaitable[Any]]


class DehydratedDeviceHandler:
    def __init__(self, store: DehydratedDevicesStore, devices: DevicesStore, to_device: ToDeviceStore,
                 upload_keys: KeyUploader):
        self._store = store
        self._devices = devices
        self._to_device = to_device
        self._upload_keys = upload_keys
        self._lock = Linearizer()

    async def get(self, user_id: str) -> dict[str, Any]:
        found = await self._store.get(user_id)
        if found is None:
            raise not_found("No dehydrated device")
        return {"device_id": found[0], "device_data": found[1]}

    async def put(self, user_id: str, device_id: str, device_data: dict[str, Any], display_name: str | None,
                  keys: dict[str, Any]) -> dict[str, Any]:
        """Store a new dehydrated device with its keys, replacing the previous one."""
        device_keys = keys.get("device_keys")
        if device_keys is not None and (device_keys.get("user_id") != user_id
                                        or device_keys.get("device_id") != device_id):
            raise invalid_param("device_keys must be for this user and the dehydrated device")
        async with self._lock.queue(user_id):
            current = await self._store.get(user_id)
            existing = await self._devices.get_device(user_id, device_id)
            if existing is not None and (current is None or current[0] != device_id):
                # Never turn a device somebody is logged in with into a dehydrated one.
                raise invalid_param(f"Device {device_id} already exists")
            # Keys first: they are validated there, and a refused upload must leave nothing behind.
            if any(k in keys for k in KEY_FIELDS):
                await self._upload_keys(user_id, device_id, {k: keys[k] for k in KEY_FIELDS if k in keys})
            await self._store.replace(user_id, device_id, device_data, display_name)
        return {"device_id": device_id}

    async def delete(self, user_id: str) -> dict[str, Any]:
        async with self._lock.queue(user_id):
            device_id = await self._store.delete(user_id)
        if device_id is None:
            raise not_found("No dehydrated device")
        return {"device_id": device_id}

    async def events(self, user_id: str, device_id: str, since: str | None,
                     limit: int) -> tuple[list[dict[str, Any]], str, bool]:
        """The to-device messages sent to the dehydrated device after the token `since`: (events,
        the token after them, whether there may be more). Unlike /sync, nothing is deleted: an
        interrupted rehydration can start again from the beginning."""
        found = await self._store.get(user_id)
        if found is None or found[0] != device_id:
            raise forbidden("Not the user's dehydrated device")
        after = 0
        if since is not None:
            position = parse_position(since)
            if position is None:
                raise invalid_param("Invalid next_batch token")
            after = position
        limit = max(1, min(limit, EVENTS_BATCH_LIMIT))
        messages = await self._to_device.get_messages(user_id, device_id, after,
                                                      self._to_device.stream.current, limit)
        upto = messages[-1].stream_id if messages else max(after, self._to_device.stream.current)
        return [message_event(m) for m in messages], str(upto), len(messages) == limit
