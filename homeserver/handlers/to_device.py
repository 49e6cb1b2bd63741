"""Send-to-device messaging: fan a request out to device inboxes, hand each device its messages in
/sync, and forget them once the device's next sync acknowledges them (exactly once, as the client
sees it: a sync retried with the same token gets the same messages again)."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any

from homeserver.api.errors import Codes, MatrixError
from homeserver.api.identifiers import UserID
from homeserver.clock import Clock
from homeserver.events.hashing import encode_canonical_json
from homeserver.notifier import Notifier
from homeserver.ratelimit import RateLimiter
from homeserver.storage.devices import DevicesStore
from homeserver.storage.to_device import InboxMessage, ToDeviceStore
from homeserver.util.linearizer import Linearizer

logger = logging.getLogger(__name__)

# Spec: "100 messages is recommended as a reasonable limit" per /sync response.
SYNC_BATCH_LIMIT = 100
# How long a transaction ID is remembered: a client retries within minutes, not weeks.
TXN_ID_LIFETIME_MS = 7 * 24 * 3600 * 1000
ALL_DEVICES = "*"


@dataclass(frozen=True)
class ToDeviceBatch:
    events: list[dict[str, Any]]
    # The to-device position the client has now seen: the last message handed out when the
    # batch was cut short, else the stream's position.
    upto: int
    limited: bool


def message_event(message: InboxMessage) -> dict[str, Any]:
    return {"sender": message.sender, "type": message.type, "content": message.content}


class ToDeviceHandler:
    def __init__(self, server_name: str, clock: Clock, store: ToDeviceStore, devices: DevicesStore,
                 notifier: Notifier, max_message_size: int, edus: Any = None,
                 key_requests_limiter: RateLimiter | None = None):
        self._server_name = server_name
        # rc_key_requests: a device's m.room_key_request messages to other users beyond it are dropped.
        self._key_requests_limiter = key_requests_limiter
        self._edus = edus  # the federation sender: messages for other servers' users go as EDUs
        self._clock = clock
        self._store = store
        self._devices = devices
        self._notifier = notifier
        self._max_message_size = max_message_size
        self._txn_lock = Linearizer()
        # So that a sync with nothing to acknowledge costs no database round trip: the highest
        # position handed to each device in a sync and not yet acknowledged, and the devices
        # known to hold no delivered messages beyond that (any device may, after a restart).
        self._delivered: dict[tuple[str, str], int] = {}
        self._checked: set[tuple[str, str]] = set()

    @property
    def current_position(self) -> int:
        return self._store.stream.current

    async def send(self, sender: str, sender_device: str, txn_id: str, message_type: str,
                   messages: dict[str, dict[str, dict[str, Any]]]) -> None:
        """`messages`: user_id -> device_id (or "*") -> content. A transaction ID already carried out
        for this device does nothing new."""
        for user_id, by_device in messages.items():
            UserID.parse(user_id)
            for content in by_device.values():
                if len(encode_canonical_json(content)) > self._max_message_size:
                    raise MatrixError(413, Codes.TOO_LARGE,
                                      f"A to-device message is larger than {self._max_message_size} bytes")
        async with self._txn_lock.queue(f"{sender}|{sender_device}|{txn_id}"):
            if await self._store.txn_done(sender, sender_device, txn_id):
                return
            messages = self._drop_excess_key_requests(sender, sender_device, message_type, messages)
            rows = await self._rows_for_local_devices(message_type, messages)
            await self._store.add_messages(sender, sender_device, txn_id, self._clock.time_msec(), message_type,
                                           rows)
            self._send_remote(sender, f"{sender_device}|{txn_id}", message_type, messages)
        for user_id in {user_id for user_id, _, _ in rows}:
            self._notifier.on_user_data(user_id)

    def _drop_excess_key_requests(self, sender: str, sender_device: str, message_type: str,
                                  messages: dict[str, dict[str, dict[str, Any]]]) -> dict[str, dict[str, dict[str, Any]]]:
        """Room key requests to other users take from the sending device's rc_key_requests bucket,
        one per user addressed; those beyond it are dropped (the request still succeeds), as in
        Synapse: a runaway client must not flood everyone's devices."""
        if message_type != "m.room_key_request" or self._key_requests_limiter is None:
            return messages
        kept = {}
        for user_id, by_device in messages.items():
            if user_id == sender or self._key_requests_limiter.allows(f"{sender}|{sender_device}"):
                kept[user_id] = by_device
            else:
                logger.info("Dropping room key requests from %s (%s) to %s: rc_key_requests", sender,
                            sender_device, user_id)
        return kept

    def _send_remote(self, sender: str, txn_key: str, message_type: str,
                     messages: dict[str, dict[str, dict[str, Any]]]) -> None:
        """Messages for other servers' users: one m.direct_to_device EDU per server, its
        message_id unique for this (device, transaction) so a resent EDU is delivered once."""
        if self._edus is None:
            return
        by_server: dict[str, dict[str, dict[str, Any]]] = {}
        for user_id, by_device in messages.items():
            domain = UserID.parse(user_id).domain
            if domain != self._server_name:
                by_server.setdefault(domain, {})[user_id] = by_device
        message_id = hashlib.sha256(f"{sender}|{txn_key}".encode()).hexdigest()[:32]
        for server, for_server in sorted(by_server.items()):
            self._edus.send_edu(server, "m.direct_to_device", {
                "sender": sender, "type": message_type, "message_id": message_id, "messages": for_server})

    async def on_remote_to_device(self, origin: str, content: dict[str, Any]) -> None:
        """An m.direct_to_device EDU: messages of the sending server's user for our users' devices,
        delivered once per message_id."""
        sender, message_type, message_id = content.get("sender"), content.get("type"), content.get("message_id")
        messages = content.get("messages")
        if not isinstance(sender, str) or sender.partition(":")[2] != origin or not isinstance(message_type, str) \
                or not isinstance(message_id, str) or not message_id or len(message_id) > 255 \
                or not isinstance(messages, dict):
            return
        local: dict[str, dict[str, dict[str, Any]]] = {}
        for user_id, by_device in messages.items():
            if not isinstance(by_device, dict) or not user_id.endswith(":" + self._server_name):
                continue
            kept = {d: c for d, c in by_device.items() if isinstance(d, str) and isinstance(c, dict)
                    and len(encode_canonical_json(c)) <= self._max_message_size}
            if kept:
                local[user_id] = kept
        if not local:
            return
        try:
            for user_id in local:
                UserID.parse(user_id)
        except MatrixError:
            return
        async with self._txn_lock.queue(f"{sender}||{message_id}"):
            if await self._store.txn_done(sender, "", message_id):
                return
            rows = await self._rows_for_local_devices(message_type, local)
            await self._store.add_messages(sender, "", message_id, self._clock.time_msec(), message_type, rows)
        for user_id in {user_id for user_id, _, _ in rows}:
            self._notifier.on_user_data(user_id)

    async def _rows_for_local_devices(self, message_type: str,
                                      messages: dict[str, dict[str, dict[str, Any]]]) -> list[tuple[str, str, str]]:
        """[(user_id, device_id, content JSON)] for the devices that exist; unknown users and
        devices are dropped (spec: the sender cannot tell)."""
        rows = []
        for user_id, by_device in messages.items():
            if UserID.parse(user_id).domain != self._server_name:
                continue  # another server's user: sent as an EDU (_send_remote)
            existing = {d.device_id for d in await self._devices.get_devices(user_id)}
            targets: dict[str, dict[str, Any]] = {}
            if ALL_DEVICES in by_device:
                targets = dict.fromkeys(existing, by_device[ALL_DEVICES])
            # A device named explicitly gets its own content, even alongside "*".
            targets.update({d: c for d, c in by_device.items() if d != ALL_DEVICES and d in existing})
            rows += [(user_id, device_id, json.dumps(content)) for device_id, content in sorted(targets.items())]
        return rows

    async def acknowledge(self, user_id: str, device_id: str, upto: int) -> None:
        """The device's sync came back with a token at `upto`: it has everything up to there."""
        key = (user_id, device_id)
        if upto <= 0 or (key in self._checked and self._delivered.get(key, 0) == 0):
            return
        await self._store.delete_messages(user_id, device_id, upto)
        self._checked.add(key)
        if self._delivered.get(key, 0) <= upto:
            self._delivered.pop(key, None)

    async def messages_for_sync(self, user_id: str, device_id: str, after: int, upto: int,
                                limit: int = SYNC_BATCH_LIMIT) -> ToDeviceBatch:
        """The device's messages in (after, upto], at most a batch (`limit`) of them."""
        if after >= upto:
            return ToDeviceBatch([], upto, False)  # nothing was sent to anyone since
        limit = max(1, min(limit, SYNC_BATCH_LIMIT))
        messages = await self._store.get_messages(user_id, device_id, after, upto, limit + 1)
        if messages:
            key = (user_id, device_id)
            handed_out = messages[min(len(messages), limit) - 1].stream_id
            self._delivered[key] = max(self._delivered.get(key, 0), handed_out)
        if len(messages) > limit:
            messages = messages[:limit]
            return ToDeviceBatch([message_event(m) for m in messages], messages[-1].stream_id, True)
        return ToDeviceBatch([message_event(m) for m in messages], upto, False)

    async def expire_old_txns(self) -> None:
        await self._store.delete_old_txns(self._clock.time_msec() - TXN_ID_LIFETIME_MS)
