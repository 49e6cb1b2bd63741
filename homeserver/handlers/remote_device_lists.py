"""Other servers' users' device lists, tracked while they share a room with one of our users
(spec: server-server API, "Device Management"). The first query for such a user fetches the whole
list (GET /user/devices/{userId}) and keeps it; m.device_list_update EDUs whose `prev_id` chain we
hold are applied to it in place, a gap marks it stale and it is fetched again; m.signing_key_update
replaces the cross-signing keys. The list is dropped when no room is shared any more (we would not
hear of its changes). Users who share no room with ours are asked of their server at each query."""

from __future__ import annotations

import logging
from typing import Any

from twisted.internet import defer

from homeserver.clock import Clock
from homeserver.events.auth import domain_of
from homeserver.federation.api import FederationApi
from homeserver.handlers.device_lists import DeviceListsHandler
from homeserver.handlers.e2e_keys import valid_device_keys, valid_signing_key
from homeserver.storage.events import EventsStore, PersistedEvent
from homeserver.storage.remote_device_lists import RemoteDeviceList, RemoteDeviceListsStore
from homeserver.util.linearizer import Linearizer

logger = logging.getLogger(__name__)

SEEN_KEPT = 20  # stream IDs remembered per user for prev_id checks


class RemoteDeviceListsHandler:
    def __init__(self, server_name: str, clock: Clock, store: RemoteDeviceListsStore, events: EventsStore,
                 device_lists: DeviceListsHandler, federation: FederationApi | None):
        self._server_name = server_name
        self._clock = clock
        self._store = store
        self._events = events
        self._device_lists = device_lists
        self._federation = federation
        self._lock = Linearizer()  # one user's list changes one at a time (EDUs, fetches)

    async def is_tracked(self, user_id: str) -> bool:
        """Whether the (remote) user is joined to a room one of our users is joined to."""
        for room_id in await self._events.get_rooms_for_user(user_id):
            if self._server_name in await self._events.get_joined_servers(room_id):
                return True
        return False

    # -- for /keys/query ------------------------------------------------------------------------

    async def get(self, user_id: str) -> RemoteDeviceList:
        """The user's device list: the kept one, or fetched (and kept) when there is none or it
        is stale. Raises the federation error when the fetch fails."""
        kept = (await self._store.get([user_id])).get(user_id)
        if kept is not None and not kept.stale:
            return kept
        async with self._lock.queue(user_id):
            kept = (await self._store.get([user_id])).get(user_id)
            if kept is not None and not kept.stale:
                return kept  # fetched meanwhile
            return await self._fetch(user_id)

    async def _fetch(self, user_id: str) -> RemoteDeviceList:
        """GET /user/devices of the user's server, checked; kept if we still share a room."""
        assert self._federation is not None
        answer = await self._federation.get_user_devices(domain_of(user_id), user_id)
        if not isinstance(answer, dict) or answer.get("user_id") != user_id or "stream_id" not in answer:
            raise ValueError(f"the /user/devices answer for {user_id} is malformed")
        stream_id = str(answer["stream_id"])
        device_list = RemoteDeviceList(user_id, stream_id, seen=[stream_id])
        devices = answer.get("devices")
        for device in devices if isinstance(devices, list) else []:
            device_id = device.get("device_id") if isinstance(device, dict) else None
            if not isinstance(device_id, str):
                continue
            entry = _device_entry(user_id, device_id, device)
            if entry is not None:
                device_list.devices[device_id] = entry
        for name in ("master_key", "self_signing_key"):
            key = answer.get(name)
            if valid_signing_key(user_id, key):
                setattr(device_list, name, key)
        if await self.is_tracked(user_id):
            await self._store.put(device_list, self._clock.time_msec())
        return device_list

    # -- EDUs -----------------------------------------------------------------------------------

    async def on_device_list_update(self, origin: str, content: dict[str, Any]) -> None:
        """m.device_list_update: applied when we hold every update it follows (`prev_id`), else
        the list is marked stale and fetched again; either way our users hear the keys changed."""
        user_id = content.get("user_id")
        if not isinstance(user_id, str) or domain_of(user_id) != origin or not await self.is_tracked(user_id):
            return
        stream_id, prev_ids, device_id = content.get("stream_id"), content.get("prev_id"), content.get("device_id")
        if stream_id is None or not isinstance(prev_ids, list) or not isinstance(device_id, str):
            return
        stream_id = str(stream_id)
        resync = False
        async with self._lock.queue(user_id):
            kept = (await self._store.get([user_id])).get(user_id)
            if kept is not None and not kept.stale:
                if stream_id in kept.seen:
                    return  # applied already (a repeated transaction)
                if all(str(p) in kept.seen for p in prev_ids) and device_id:
                    self._apply(kept, device_id, content)
                    kept.stream_id = stream_id
                    kept.seen = [*kept.seen, stream_id][-SEEN_KEPT:]
                    await self._store.put(kept, self._clock.time_msec())
                else:
                    await self._store.mark_stale(user_id)
                    resync = True
        await self._device_lists.user_keys_changed(user_id)
        if resync:
            defer.ensureDeferred(self._resync(user_id))

    @staticmethod
    def _apply(kept: RemoteDeviceList, device_id: str, content: dict[str, Any]) -> None:
        if content.get("deleted") is True:
            kept.devices.pop(device_id, None)
            return
        entry = _device_entry(kept.user_id, device_id, content)
        if entry is not None:
            kept.devices[device_id] = entry
        elif device_id in kept.devices and isinstance(content.get("device_display_name"), str):
            kept.devices[device_id]["device_display_name"] = content["device_display_name"]

    async def _resync(self, user_id: str) -> None:
        try:
            async with self._lock.queue(user_id):
                await self._fetch(user_id)
        except Exception as e:  # stays stale: fetched again at the next query
            logger.info("Could not fetch the device list of %s again: %s", user_id, e)

    async def on_signing_key_update(self, origin: str, content: dict[str, Any]) -> None:
        """m.signing_key_update: the user's new master and/or self-signing key."""
        user_id = content.get("user_id")
        if not isinstance(user_id, str) or domain_of(user_id) != origin or not await self.is_tracked(user_id):
            return
        async with self._lock.queue(user_id):
            kept = (await self._store.get([user_id])).get(user_id)
            if kept is not None:
                changed = False
                for name in ("master_key", "self_signing_key"):
                    if valid_signing_key(user_id, content.get(name)):
                        setattr(kept, name, content[name])
                        changed = True
                if changed:
                    await self._store.put(kept, self._clock.time_msec())
        await self._device_lists.user_keys_changed(user_id)

    # -- forgetting -----------------------------------------------------------------------------

    def on_event_persisted(self, persisted: PersistedEvent) -> None:
        """A membership ended: the lists of remote users we no longer share a room with go."""
        event = persisted.event
        if event.type != "m.room.member" or event.content.get("membership") == "join" or event.state_key is None:
            return
        defer.ensureDeferred(self._forget_untracked(event.room_id, event.state_key)).addErrback(
            lambda f: logger.error("Could not drop device lists after %s: %s", event.event_id, f.value))

    async def _forget_untracked(self, room_id: str, user_id: str) -> None:
        if domain_of(user_id) != self._server_name:
            candidates = [user_id]
        else:  # one of ours left: maybe the last one sharing a room with some of the others
            candidates = [u for u, membership, _ in await self._events.get_members(room_id)
                          if membership == "join" and domain_of(u) != self._server_name]
        kept = await self._store.get(candidates)
        gone = [u for u in kept if not await self.is_tracked(u)]
        await self._store.delete(gone)


def _device_entry(user_id: str, device_id: str, device: dict[str, Any]) -> dict[str, Any] | None:
    """{keys, device_display_name?} of a device in a remote answer, or None when its keys are
    missing, for another user or device, or not signed by the device's own key."""
    keys = device.get("keys")
    if not valid_device_keys(user_id, device_id, keys):
        return None
    entry: dict[str, Any] = {"keys": keys}
    name = device.get("device_display_name")
    if isinstance(name, str):
        entry["device_display_name"] = name
    return entry

