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
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from homeserver.api.errors import Codes, MatrixError
from homeserver.clock import Clock
from homeserver.events.model import Event
from homeserver.events.room_versions import RoomVersion
from homeserver.federation.api import FederationApi
from homeserver.federation.server_acl import ServerAclChecker
from homeserver.handlers.event_checker import EventChecker, EventCheckError
from homeserver.handlers.events import EventCreationHandler
from homeserver.handlers.persister import EventContext, EventPersister
from homeserver.handlers.remote_state import CREATE_KEY, check_state_answer
from homeserver.metrics import federation_received_pdus
from homeserver.state.resolution import resolve_state
from homeserver.storage.events import EventsStore
from homeserver.storage.state_groups import StateGroupsStore
from homeserver.util.caches import LruCache
from homeserver.util.linearizer import Linearizer

logger = logging.getLogger(__name__)

MAX_PDUS = 50   # spec: a transaction holds at most 50 PDUs and 100 EDUs
MAX_EDUS = 100
MAX_MISSING_EVENTS = 10   # asked of the sending server for one gap
MAX_STATE_FETCHES = 3     # missing prev events of one event whose state is fetched
REMEMBERED_ANSWERS = 1000


class PduRefused(Exception):
    """The PDU is not persisted; the message goes back in the transaction's answer."""


class FederationEventHandler:
    def __init__(self, server_name: str, clock: Clock, events: EventsStore, state_groups: StateGroupsStore,
                 builder: EventCreationHandler, checker: EventChecker, persister: EventPersister,
                 federation: FederationApi, acl: ServerAclChecker):
        self._server_name = server_name
        self._clock = clock
        self._state_groups = state_groups
        # prev event ID -> the state after it, fetched for a deep gap (several events may need it).
        self._states_after: LruCache[str, dict[tuple[str, str], str]] = LruCache("federation_states_after", 100)
        self._acl = acl
        self._events = events
        self._builder = builder
        self._checker = checker
        self._persister = persister
        self._federation = federation
        self._origins = Linearizer()
        # edu_type -> async fn(origin, content): the components that take EDUs (typing, receipts...).
        self.edu_handlers: dict[str, Callable[[str, dict[str, Any]], Awaitable[None]]] = {}
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
                for edu in edus:
                    await self._on_edu(origin, edu)
                answer = {"pdus": results}
                self._answers[key] = answer
                while len(self._answers) > REMEMBERED_ANSWERS:
                    self._answers.popitem(last=False)
        return answer

    async def _on_edu(self, origin: str, edu: Any) -> None:
        """Hand an EDU to the component that takes its type (`edu_handlers`, wired by the
        HomeServer); unknown types and malformed EDUs are dropped, a failing one is logged."""
        if not isinstance(edu, dict) or not isinstance(edu.get("content"), dict):
            return
        handler = self.edu_handlers.get(edu.get("edu_type"))
        if handler is None:
            return
        try:
            content = await self._acl_filtered(origin, edu["edu_type"], edu["content"])
            if content is not None:
                await handler(origin, content)
        except Exception:
            logger.exception("EDU %s from %s failed", edu.get("edu_type"), origin)

    async def _acl_filtered(self, origin: str, edu_type: str, content: dict[str, Any]) -> dict[str, Any] | None:
        """The EDU without what the rooms' server ACLs deny the origin (spec: server-server
        "Server Access Control Lists"): a typing notification in such a room is dropped, a
        receipt EDU loses those rooms."""
        if edu_type == "m.typing":
            room_id = content.get("room_id")
            allowed = isinstance(room_id, str) and await self._acl.is_allowed(origin, room_id)
            return content if allowed else None
        if edu_type == "m.receipt":
            return {room_id: receipts for room_id, receipts in content.items()
                    if await self._acl.is_allowed(origin, room_id)}
        return content

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
        except Exception:  # one PDU's failure must not fail the transaction (the peer would resend it forever)
            logger.exception("Processing %s from %s failed", event.event_id, origin)
            results[event.event_id] = {"error": "The event could not be processed"}

    async def _receive(self, origin: str, event: Event, room_version: RoomVersion, fill_gap: bool) -> None:
        """Check and persist one event (the caller holds the room's lock)."""
        room_id = event.room_id
        if await self._events.get_seen_event_ids([event.event_id]):
            return  # already here (perhaps from another server)
        if not await self._has_local_member(room_id):
            raise PduRefused("No user of this server is in the room")
        if not event.prev_event_ids:
            raise PduRefused("The event has no prev_events")
        if event.event_id in event.prev_event_ids or event.event_id in event.auth_event_ids:
            raise PduRefused("The event names itself among its prev_events or auth_events")
        missing = await self._without_state(event.prev_event_ids)
        if missing and fill_gap:
            await self._fill_gap(origin, event, room_version)
            missing = await self._without_state(event.prev_event_ids)
        if not missing:
            group_before, state_before = await self._builder.state_before(room_version, event.prev_event_ids)
        elif len(missing) <= MAX_STATE_FETCHES:
            # A gap deeper than get_missing_events reaches: the state at each missing prev event
            # from the sending server, checked, then resolved with ours.
            states = [await self._state_after_missing(origin, room_id, room_version, p) for p in sorted(missing)]
            known = [p for p in event.prev_event_ids if p not in missing]
            if known:
                states.append(dict((await self._builder.state_before(room_version, known))[1]))
            group_before = None
            state_before = states[0] if len(states) == 1 else dict(await resolve_state(
                room_version, states, self._events.get_events, self._events.get_auth_chain_ids))
        else:
            raise PduRefused(f"prev_events not known here: {', '.join(sorted(missing))}")
        if missing and await self._events.get_seen_event_ids([event.event_id]):
            raise PduRefused("The event came back in the state fetched for it")
        current = await self._events.get_current_state_ids(room_id)
        outcome = await self._checker.check_auth(event, state_before, current)
        await self._persister.persist(event, EventContext(group_before, state_before, rejected=outcome.rejected,
                                                          soft_failed=outcome.soft_failed))
        federation_received_pdus.labels("rejected" if outcome.rejected else
                                        "soft_failed" if outcome.soft_failed else "accepted").inc()
        if outcome.rejected is not None:
            raise PduRefused(outcome.rejected)

    async def _state_after_missing(self, origin: str, room_id: str, room_version: RoomVersion,
                                   prev_id: str) -> dict[tuple[str, str], str]:
        """The room's state after an event we lack, as `origin` gives it (/state before it, and
        the event itself), every event checked; what passes is stored as outliers."""
        remembered = self._states_after.get(prev_id)
        if remembered is not None:
            return remembered
        try:
            answer = await self._federation.get_state(origin, room_id, prev_id)
            fetched = await self._federation.get_event(origin, prev_id)
        except Exception as e:
            raise PduRefused(f"the state at {prev_id} could not be fetched from {origin}: {e}") from None
        if not isinstance(answer, dict) or not isinstance(answer.get("pdus"), list) \
                or not isinstance(answer.get("auth_chain"), list):
            raise PduRefused(f"{origin} answered /state without pdus and auth_chain")
        pdus = fetched.get("pdus") if isinstance(fetched, dict) else None
        checked = await check_state_answer(self._checker, self._events, origin, room_id, room_version,
                                           answer["pdus"], answer["auth_chain"] + (pdus[:1] if isinstance(pdus, list)
                                                                                    else []), "state answer")
        prev = checked.events.get(prev_id)
        if prev is None or prev_id in checked.rejected or CREATE_KEY not in checked.state:
            raise PduRefused(f"{origin} gave no acceptable state at {prev_id}")
        state = {key: e.event_id for key, e in checked.state.items()}
        if prev.is_state():
            state[prev.state_tuple] = prev.event_id
        create = checked.state[CREATE_KEY]
        await self._events.persist_outliers(room_id, room_version, create.sender, list(checked.events.values()),
                                            checked.rejected, self._clock.time_msec())
        self._states_after.set(prev_id, state)
        return state

    async def _has_local_member(self, room_id: str) -> bool:
        return self._server_name in await self._events.get_joined_servers(room_id)

    async def _without_state(self, event_ids: Iterable[str]) -> set[str]:
        """Those of the events whose state we do not hold (not here, or here only as outliers)."""
        ids = list(event_ids)
        return set(ids) - set(await self._state_groups.get_event_state_groups(ids))

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
