"""FederationSender: our events out to the other servers in their rooms (spec: server-server
"Transactions", "PDUs").

A listener of the one persister: each event one of our users sent goes to every server with a
joined member in its room (and, for a member event, to the server of its target, so a kicked or
banned user's server hears it). Each destination has its own queue and at most one transaction in
flight, of up to 50 PDUs in the order they were persisted; a destination that fails is retried
after a wait that doubles (10 s up to an hour, with jitter) and at once when it next talks to us.
A dead server never delays the others: each queue moves on its own.

What each destination has acknowledged is recorded (destinations.last_successful_stream_ordering),
with, per room, the latest event of ours queued for it (destination_rooms). At start-up, a
destination that had not acknowledged everything gets our latest event in each such room (the
spec's catch-up: the peer fetches what lies between with get_missing_events), so a restart of
ours, or a peer down for longer than our memory holds, loses nothing."""

from __future__ import annotations

import logging
import random
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from twisted.internet import defer

from homeserver.clock import Clock
from homeserver.events.auth import domain_of
from homeserver.federation.api import FederationApi
from homeserver.metrics import (
    federation_pending_pdus,
    federation_transaction_duration,
    federation_transactions,
)
from homeserver.storage.destinations import DestinationsStore
from homeserver.storage.events import EventsStore, PersistedEvent

logger = logging.getLogger(__name__)

MAX_PDUS_PER_TXN = 50
MAX_EDUS_PER_TXN = 100
MAX_QUEUED_EDUS = 1000      # per destination; EDUs are ephemeral: the oldest go first
MAX_QUEUED = 5000           # per destination; beyond it the oldest are dropped (catch-up covers them)
RETRY_FIRST_S = 10.0
RETRY_MAX_S = 3600.0


@dataclass
class _Destination:
    pdus: deque = field(default_factory=deque)
    edus: deque = field(default_factory=deque)
    sending: bool = False
    retry_s: float = 0.0
    retry_call: Any = None


class FederationSender:
    def __init__(self, server_name: str, clock: Clock, events: EventsStore, federation: FederationApi,
                 federates_with: Any, store: DestinationsStore):
        self._server_name = server_name
        self._store = store
        self._clock = clock
        self._events = events
        self._federation = federation
        self._federates_with = federates_with
        self._destinations: dict[str, _Destination] = {}
        self._incoming: deque[PersistedEvent] = deque()  # in persistence order, routed one by one
        self._routing = False
        self._txn_counter = 0
        self._txn_prefix = str(clock.time_msec())

    # -- queueing -------------------------------------------------------------------------------

    def on_event_persisted(self, persisted: PersistedEvent) -> None:
        """The persister's listener: queue our users' events (others' came from their servers)."""
        if domain_of(persisted.event.sender) != self._server_name:
            return
        self._incoming.append(persisted)
        if not self._routing:
            self._routing = True
            defer.ensureDeferred(self._route_incoming())

    async def _route_incoming(self) -> None:
        try:
            while self._incoming:
                persisted = self._incoming.popleft()
                event = persisted.event
                try:
                    servers = await self.destinations_for(event.room_id)
                    if event.type == "m.room.member" and event.state_key:
                        servers.add(domain_of(event.state_key))
                    servers.discard(self._server_name)
                    chosen = sorted(s for s in servers if self._federates_with(s))
                    if chosen:
                        await self._store.set_destination_rooms(chosen, event.room_id, persisted.stream_ordering)
                except Exception:
                    logger.exception("Could not queue %s for the servers of %s", event.event_id, event.room_id)
                    continue
                for server in chosen:
                    self.send_pdu(server, event.pdu, persisted.stream_ordering)
        finally:
            self._routing = False

    async def destinations_for(self, room_id: str) -> set[str]:
        """The servers of the room's joined members (us included)."""
        return set(await self._events.get_joined_servers(room_id))

    async def catch_up(self, rooms_per_destination: int = 50) -> None:
        """At start-up: our latest event in each room a destination has not acknowledged."""
        try:
            pending = await self._store.get_catch_up(rooms_per_destination)
        except Exception:
            logger.exception("Could not read the federation catch-up")
            return
        for destination, rooms in sorted(pending.items()):
            if not self._federates_with(destination):
                continue
            for room_id, position in sorted(rooms, key=lambda r: r[1]):
                event_id = await self._events.get_event_at_position(room_id, position)
                event = await self._events.get_event(event_id) if event_id else None
                if event is not None and domain_of(event.sender) == self._server_name:
                    self.send_pdu(destination, event.pdu, position)
            logger.info("Catching %s up on %d rooms", destination, len(rooms))

    def send_pdu(self, destination: str, pdu: dict[str, Any], position: int = 0) -> None:
        dest = self._destinations.setdefault(destination, _Destination())
        dest.pdus.append((position, pdu))
        federation_pending_pdus.inc()
        if len(dest.pdus) > MAX_QUEUED:
            dest.pdus.popleft()
            federation_pending_pdus.dec()
            logger.warning("Federation queue to %s is full: dropped its oldest event", destination)
        self._start(destination)

    async def send_edu_to_room(self, room_id: str, edu_type: str, content: dict[str, Any]) -> None:
        """An EDU about one room (typing, receipts) to the other servers with joined members."""
        servers = await self.destinations_for(room_id)
        servers.discard(self._server_name)
        for server in sorted(servers):
            if self._federates_with(server):
                self.send_edu(server, edu_type, content)

    async def send_edu_to_user_rooms(self, user_id: str, edu_type: str, content: dict[str, Any]) -> None:
        """An EDU about one user (presence, device lists) to the servers sharing a room with them."""
        servers: set[str] = set()
        for room_id in await self._events.get_rooms_for_user(user_id):
            servers |= await self.destinations_for(room_id)
        servers.discard(self._server_name)
        for server in sorted(servers):
            if self._federates_with(server):
                self.send_edu(server, edu_type, content)

    def send_edu(self, destination: str, edu_type: str, content: dict[str, Any]) -> None:
        dest = self._destinations.setdefault(destination, _Destination())
        dest.edus.append({"edu_type": edu_type, "content": content})
        if len(dest.edus) > MAX_QUEUED_EDUS:
            dest.edus.popleft()
        self._start(destination)

    def pending(self, destination: str) -> int:
        dest = self._destinations.get(destination)
        return len(dest.pdus) if dest else 0

    def on_peer_contact(self, origin: str) -> None:
        """A server talked to us: if we were waiting to retry it, try now."""
        dest = self._destinations.get(origin)
        if dest is None or dest.retry_call is None:
            return
        if dest.retry_call.active():
            dest.retry_call.cancel()
        dest.retry_call = None
        dest.retry_s = 0.0
        self._start(origin)

    # -- sending --------------------------------------------------------------------------------

    def _start(self, destination: str) -> None:
        dest = self._destinations[destination]
        if dest.sending or dest.retry_call is not None or not (dest.pdus or dest.edus):
            return
        dest.sending = True
        defer.ensureDeferred(self._send_loop(destination))

    async def _send_loop(self, destination: str) -> None:
        dest = self._destinations[destination]
        try:
            while dest.pdus or dest.edus:
                batch = [dest.pdus[i] for i in range(min(MAX_PDUS_PER_TXN, len(dest.pdus)))]
                edus = [dest.edus[i] for i in range(min(MAX_EDUS_PER_TXN, len(dest.edus)))]
                if not await self._send_transaction(destination, [pdu for _, pdu in batch], edus):
                    self._schedule_retry(destination, dest)
                    return
                for _ in batch:
                    dest.pdus.popleft()
                for _ in edus:
                    dest.edus.popleft()
                federation_pending_pdus.dec(len(batch))
                dest.retry_s = 0.0
                acknowledged = max((position for position, _ in batch), default=0)
                if acknowledged > 0:
                    try:
                        await self._store.set_last_successful_stream_ordering(destination, acknowledged)
                    except Exception:
                        logger.exception("Could not record what %s acknowledged", destination)
        finally:
            dest.sending = False
            if not dest.pdus and not dest.edus and dest.retry_call is None:
                self._destinations.pop(destination, None)

    async def _send_transaction(self, destination: str, pdus: list[dict[str, Any]], edus: list[dict[str, Any]]
                                ) -> bool:
        self._txn_counter += 1
        txn_id = f"{self._txn_prefix}_{self._txn_counter}"
        body = {"origin": self._server_name, "origin_server_ts": self._clock.time_msec(), "pdus": pdus, "edus": edus}
        started = self._clock.time()
        try:
            answer = await self._federation.send_transaction(destination, txn_id, body)
        except Exception as e:
            logger.info("Transaction %s to %s failed: %s", txn_id, destination, e)
            federation_transactions.labels("failed").inc()
            return False
        federation_transaction_duration.observe(self._clock.time() - started)
        federation_transactions.labels("sent").inc()
        results = answer.get("pdus") if isinstance(answer, dict) else None
        if isinstance(results, dict):
            for event_id, result in results.items():
                if isinstance(result, dict) and "error" in result:
                    logger.info("%s refused %s: %s", destination, event_id, result["error"])
        return True

    def _schedule_retry(self, destination: str, dest: _Destination) -> None:
        dest.retry_s = min(RETRY_MAX_S, dest.retry_s * 2 if dest.retry_s else RETRY_FIRST_S)
        delay = dest.retry_s * random.uniform(0.8, 1.2)

        def retry() -> None:
            dest.retry_call = None
            self._start(destination)

        dest.retry_call = self._clock.call_later(delay, retry)
