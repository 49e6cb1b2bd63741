"""Events other servers push to us: `PUT /_matrix/federation/v1/send/{txnId}` (spec: server-server
"Transactions", "PDUs", "Checks performed on receipt of a PDU", "Retrieving events").

Each PDU goes through the same path as our own events: the checker (format, signatures, content
hash), the state before it (resolved across its prev_events), auth against its auth events, that
state and the current state, then the one persister. A rejected or soft-failed event is kept for the
graph only (never room state, never shown to clients). A PDU whose prev_events we lack is preceded
by the missing events the sending server gives through get_missing_events (bounded); one we still
cannot place is refused with an error in the transaction's answer.

Transactions of one origin are handled one at a time, so a retried transaction ID gets the answer
already given; events of one room are persisted in order under the persister's room lock, rooms in
parallel."""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

from homeserver.api.errors import Codes, MatrixError
from homeserver.events.auth import domain_of
from homeserver.events.model import Event
from homeserver.events.room_versions import RoomVersion
from homeserver.federation.api import FederationApi
from homeserver.federation.server_acl import ServerAclChecker
from homeserver.handlers.event_checker import EventChecker, EventCheckError
from homeserver.handlers.events import EventCreationHandler
from homeserver.handlers.persister import EventContext, EventPersister
from homeserver.metrics import federation_received_pdus
from homeserver.storage.events import EventsStore
from homeserver.util.linearizer import Linearizer

logger = logging.getLogger(__name__)

MAX_PDUS = 50   # spec: a transaction holds at most 50 PDUs and 100 EDUs
MAX_EDUS = 100
MAX_MISSING_EVENTS = 10   # asked of the sending server for one gap
REMEMBERED_ANSWERS = 1000


class PduRefused(Exception):
    """The PDU is not persisted; the message goes back in the transaction's answer."""


class FederationEventHandler:
    def __init__(self, server_name: str, events: EventsStore, builder: EventCreationHandler,
                 checker: EventChecker, persister: EventPersister, federation: FederationApi,
                 acl: ServerAclChecker):
        self._server_name = server_name
        self._acl = acl
        self._events = events
        self._builder = builder
        self._checker = checker
        self._persister = persister
        self._federation = federation
        self._origins = Linearizer()
        self._answers: OrderedDict[tuple[str, str], dict[str, Any]] = OrderedDict()

    async def on_transaction(self, origin: str, txn_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """The answer to a transaction: `{"pdus": {event_id: {} or {"error": ...}}}`."""
        pdus = body.get("pdus")
        edus = body.get("edus", [])
        if not isinstance(pdus, list) or not isinstance(edus, list):
            raise MatrixError(400, Codes.BAD_JSON, "pdus and edus must be lists")
        if len(pdus) > MAX_PDUS or len(edus) > MAX_EDUS:
            raise MatrixError(400, Codes.BAD_JSON,
                              f"A transaction holds at most {MAX_PDUS} PDUs and {MAX_EDUS} EDUs")
        key = (origin, txn_id)
        async with self._origins.queue(origin):
            answer = self._answers.get(key)
            if answer is None:
                results: dict[str, dict[str, Any]] = {}
                for pdu in pdus:
                    await self._on_pdu(origin, pdu, results)
                answer = {"pdus": results}
                self._answers[key] = answer
                while len(self._answers) > REMEMBERED_ANSWERS:
                    self._answers.popitem(last=False)
        return answer

    async def _on_pdu(self, origin: str, pdu: Any, results: dict[str, dict[str, Any]]) -> None:
        room_id = pdu.get("room_id") if isinstance(pdu, dict) else None
        room_version = await self._events.get_room_version(room_id) if isinstance(room_id, str) else None
        if room_version is None:
            logger.info("Dropped a PDU from %s for a room we are not in (%r)", origin, room_id)
            return  # without a room version there is no event ID to answer under
        try:
            event = await self._checker.check_received(pdu, room_version)
        except EventCheckError as e:
            logger.info("Dropped a PDU from %s in %s: %s", origin, room_id, e)
            federation_received_pdus.labels("dropped").inc()
            return
        if not await self._acl.is_allowed(origin, room_id):
            logger.info("Refused %s from %s: denied by the room's server ACL", event.event_id, origin)
            results[event.event_id] = {"error": "The room's server ACL denies the sending server"}
            return
        try:
            async with self._persister.room_lock.queue(room_id):
                await self._receive(origin, event, room_version, fill_gap=True)
            results[event.event_id] = {}
        except PduRefused as e:
            logger.info("Refused %s from %s: %s", event.event_id, origin, e)
            results[event.event_id] = {"error": str(e)}

    async def _receive(self, origin: str, event: Event, room_version: RoomVersion, fill_gap: bool) -> None:
        """Check and persist one event (the caller holds the room's lock)."""
        room_id = event.room_id
        if await self._events.get_seen_event_ids([event.event_id]):
            return  # already here (perhaps from another server)
        if not await self._has_local_member(room_id):
            raise PduRefused("No user of this server is in the room")
        missing = await self._missing(event.prev_event_ids)
        if missing and fill_gap:
            await self._fill_gap(origin, event, room_version)
            missing = await self._missing(event.prev_event_ids)
        if missing or not event.prev_event_ids:
            raise PduRefused(f"prev_events not known here: {', '.join(sorted(missing)) or 'none given'}")
        group_before, state_before = await self._builder.state_before(room_version, event.prev_event_ids)
        current = await self._events.get_current_state_ids(room_id)
        outcome = await self._checker.check_auth(event, state_before, current)
        await self._persister.persist(event, EventContext(group_before, state_before, rejected=outcome.rejected,
                                                          soft_failed=outcome.soft_failed))
        federation_received_pdus.labels("rejected" if outcome.rejected else
                                        "soft_failed" if outcome.soft_failed else "accepted").inc()
        if outcome.rejected is not None:
            raise PduRefused(outcome.rejected)

    async def _has_local_member(self, room_id: str) -> bool:
        return any(membership == "join" and domain_of(user_id) == self._server_name
                   for user_id, membership, _ in await self._events.get_members(room_id))

    async def _missing(self, event_ids: Iterable[str]) -> set[str]:
        ids = list(event_ids)
        return set(ids) - await self._events.get_seen_event_ids(ids)

    async def _fill_gap(self, origin: str, event: Event, room_version: RoomVersion) -> None:
        """Ask the sending server for the events between our forward extremities and `event`,
        then take those that belong to the room, oldest first."""
        room_id = event.room_id
        extremities = await self._events.get_forward_extremities(room_id)
        try:
            answer = await self._federation.get_missing_events(
                origin, room_id, [e for e, _ in extremities], [event.event_id], MAX_MISSING_EVENTS,
                min((d for _, d in extremities), default=0))
        except Exception as e:  # an unreachable or failing server: the gap stays
            logger.info("get_missing_events from %s for %s failed: %s", origin, event.event_id, e)
            return
        pdus = answer.get("events") if isinstance(answer, dict) else None
        if not isinstance(pdus, list):
            return
        received: list[Event] = []
        for pdu in pdus[:MAX_MISSING_EVENTS]:
            if not isinstance(pdu, dict) or pdu.get("room_id") != room_id:
                continue
            try:
                received.append(await self._checker.check_received(pdu, room_version))
            except EventCheckError as e:
                logger.info("Dropped a missing event from %s: %s", origin, e)
        for missing_event in sorted(received, key=lambda e: (e.depth, e.event_id)):
            try:
                await self._receive(origin, missing_event, room_version, fill_gap=False)
            except PduRefused as e:
                logger.info("Refused missing event %s from %s: %s", missing_event.event_id, origin, e)
