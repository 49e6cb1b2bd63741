"""The room's past from other servers (spec: server-server "Backfilling and retrieving missing
events"): when a user pages back in /messages to the start of what we hold while the room has
older history elsewhere (its backward extremities: prev events we do not hold as timeline events,
such as those of our join to a room of another server), the servers in the room are asked, in
turn, for the events behind them with /backfill.

Every event of an answer is checked (format, signatures, content hash: EventChecker.check_received)
and authorised against its own auth events (those we lack are fetched with /event_auth, bounded, and
kept as outliers); failing ones are dropped. The rest are persisted as historic events: positions
below every position given so far (/messages shows them, in depth order, before everything we held;
/sync never does), no change to the room's current state or forward extremities.

The state before each is resolved from its prev events when we hold them (with state), else it is
the state before the oldest event of the timeline we held already (the event after them): the state
of the room's past is only known from where a batch reaches back to events with known state, which
the creation event always is. History visibility is judged with that state, and the serving server
applied its own rules before answering."""

from __future__ import annotations

import logging
from typing import Any

from twisted.internet import defer

from homeserver.events.model import Event
from homeserver.events.room_versions import RoomVersion
from homeserver.federation.api import FederationApi
from homeserver.handlers.event_checker import EventChecker, EventCheckError
from homeserver.handlers.persister import EventPersister
from homeserver.handlers.remote_state import auth_against_own
from homeserver.state.resolution import resolve_state
from homeserver.storage.events import BackfilledEvent, EventsStore
from homeserver.storage.state_groups import StateGroupsStore, StateMap

logger = logging.getLogger(__name__)

BATCH = 50            # events asked of a server at a time
MAX_EXTREMITIES = 20  # backward extremities named in one request
MAX_SERVERS = 5       # servers tried for one backfill
MAX_AUTH_FETCHES = 5  # /event_auth requests for the auth events a batch lacks


class BackfillHandler:
    def __init__(self, server_name: str, events: EventsStore, state_groups: StateGroupsStore,
                 checker: EventChecker, persister: EventPersister, federation: FederationApi):
        self._server_name = server_name
        self._events = events
        self._state_groups = state_groups
        self._checker = checker
        self._persister = persister
        self._federation = federation
        # room -> the callers waiting for the backfill under way there (one at a time per room:
        # the same extremities are never asked for twice at once).
        self._in_flight: dict[str, list[defer.Deferred]] = {}

    async def backfill(self, room_id: str) -> bool:
        """Fetch and persist the room's history behind its backward extremities; True if events
        were added to its timeline. Never raises for a failing server (what we hold stands)."""
        waiters = self._in_flight.get(room_id)
        if waiters is not None:
            waiting: defer.Deferred = defer.Deferred()
            waiters.append(waiting)
            return await waiting
        waiters = self._in_flight[room_id] = []
        added = False
        try:
            added = await self._backfill(room_id)
        except Exception:
            logger.exception("Backfill of %s failed", room_id)
        finally:
            del self._in_flight[room_id]
            for waiting in waiters:
                waiting.callback(added)
        return added

    async def _backfill(self, room_id: str) -> bool:
        extremities = await self._events.get_backward_extremities(room_id, MAX_EXTREMITIES)
        room_version = await self._events.get_room_version(room_id)
        if not extremities or room_version is None:
            return False
        for server in (await self._servers(room_id))[:MAX_SERVERS]:
            try:
                answer = await self._federation.backfill(server, room_id, extremities, BATCH)
            except Exception as e:  # unreachable, backing off, refusing: the next one
                logger.info("Backfill of %s from %s failed: %s", room_id, server, e)
                continue
            pdus = answer.get("pdus") if isinstance(answer, dict) else None
            if not isinstance(pdus, list):
                logger.info("Backfill of %s from %s: no list of PDUs in the answer", room_id, server)
                continue
            events = await self._checked(server, room_id, room_version, pdus[:BATCH])
            if not events:
                continue
            async with self._persister.room_lock.queue(room_id):
                persisted = await self._persist(room_id, room_version, events)
            logger.info("Backfilled %d events of %s from %s", persisted, room_id, server)
            if persisted:
                return True
        return False

    async def _servers(self, room_id: str) -> list[str]:
        """The other servers with joined members in the room, those with the most first."""
        counts = await self._events.get_joined_servers(room_id)
        counts.pop(self._server_name, None)
        return sorted(counts, key=lambda s: (-counts[s], s))

    async def _checked(self, server: str, room_id: str, room_version: RoomVersion, pdus: list[Any]) -> list[Event]:
        """The events of an answer that pass the checks and auth against their own auth events,
        oldest first."""
        received: dict[str, Event] = {}
        for pdu in pdus:
            if not isinstance(pdu, dict):
                continue
            try:
                event = await self._checker.check_received(pdu, room_version)
            except EventCheckError as e:
                logger.info("Dropped a backfilled event from %s: %s", server, e)
                continue
            if event.room_id == room_id:  # (v12 create events name no room: theirs is derived)
                received[event.event_id] = event
        if not received:
            return []
        holdings = await self._events.get_event_holdings(list(received))
        wanted = {eid: e for eid, e in received.items() if holdings.get(eid) in (None, "outlier")}
        known = await self._auth_events(server, room_id, room_version, wanted)
        passed: list[Event] = []
        for event in sorted(wanted.values(), key=lambda e: (e.depth, e.event_id)):
            reason = auth_against_own(event, known)
            if reason is not None:
                logger.info("Dropped backfilled %s from %s: %s", event.event_id, server, reason)
                known.pop(event.event_id, None)
                continue
            passed.append(event)
        return passed

    async def _auth_events(self, server: str, room_id: str, room_version: RoomVersion,
                           batch: dict[str, Event]) -> dict[str, Event]:
        """The batch and every auth event its events name that we hold or could fetch (with
        /event_auth from `server`, checked and stored as outliers)."""
        needed = {a for e in batch.values() for a in e.auth_event_ids} - set(batch)
        if room_version.room_id_from_create_event:
            needed.add("$" + room_id[1:])
        known: dict[str, Event] = {**(await self._events.get_events(sorted(needed))), **batch}
        missing = [e for e in sorted(batch.values(), key=lambda e: (-e.depth, e.event_id))
                   if any(a not in known for a in e.auth_event_ids)]
        fetched: dict[str, Event] = {}
        for event in missing[:MAX_AUTH_FETCHES]:
            if all(a in known for a in event.auth_event_ids):
                continue
            try:
                answer = await self._federation.get_event_auth(server, room_id, event.event_id)
            except Exception as e:
                logger.info("event_auth of %s from %s failed: %s", event.event_id, server, e)
                continue
            chain = answer.get("auth_chain") if isinstance(answer, dict) else None
            for pdu in chain if isinstance(chain, list) else []:
                if not isinstance(pdu, dict):
                    continue
                try:
                    auth_event = await self._checker.check_received(pdu, room_version)
                except EventCheckError as e:
                    logger.info("Dropped an auth event from %s: %s", server, e)
                    continue
                if auth_event.room_id == room_id and auth_event.event_id not in known:
                    fetched[auth_event.event_id] = auth_event
                    known[auth_event.event_id] = auth_event
        if fetched:
            passed: dict[str, Event] = {}
            for auth_event in sorted(fetched.values(), key=lambda e: (e.depth, e.event_id)):
                if auth_against_own(auth_event, known) is None:
                    passed[auth_event.event_id] = auth_event
                else:
                    known.pop(auth_event.event_id)
            if passed:
                create = known.get(next((eid for eid, e in known.items() if e.type == "m.room.create"), ""))
                async with self._persister.room_lock.queue(room_id):
                    await self._events.persist_outliers(room_id, room_version, create.sender if create else "",
                                                        list(passed.values()), {}, 0)
        return known

    async def _persist(self, room_id: str, room_version: RoomVersion, events: list[Event]) -> int:
        """Persist checked events (oldest first) as the room's past; the number that joined the
        timeline. The caller holds the room's lock."""
        holdings = await self._events.get_event_holdings([e.event_id for e in events])
        events = [e for e in events if holdings.get(e.event_id) in (None, "outlier")]
        if not events:
            return 0
        in_batch = {e.event_id: e for e in events}
        outside = sorted({p for e in events for p in e.prev_event_ids} - set(in_batch))
        groups = await self._state_groups.get_event_state_groups(outside)
        after: dict[str, StateMap] = {}
        exact_after: dict[str, bool] = {}
        fallback: tuple[int | None, StateMap] | None = None
        batch: list[BackfilledEvent] = []
        for event in events:
            sources: list[tuple[str | None, int | None, StateMap]] = []  # (batch event, group, state after)
            for p in event.prev_event_ids:
                if p in after:
                    sources.append((p, None, after[p]))
                elif p in groups:
                    group = groups[p][1]
                    sources.append((None, group, await self._state_groups.get_state(group)))
            if not event.prev_event_ids:  # the creation event
                entry = BackfilledEvent(event, {})
            elif not sources:
                if fallback is None:
                    fallback = await self._fallback_state(room_id)
                entry = BackfilledEvent(event, fallback[1], state_group_before=fallback[0], state_exact=False)
            else:
                exact = all(exact_after.get(s[0], True) for s in sources if s[0] is not None)
                if len(sources) == 1 or all(s[2] == sources[0][2] for s in sources):
                    entry = BackfilledEvent(event, sources[0][2], state_group_before=sources[0][1],
                                            before_from=sources[0][0], state_exact=exact)
                else:
                    resolved = await resolve_state(room_version, [s[2] for s in sources],
                                                   self._fetcher(in_batch), self._auth_chain_fetcher(in_batch))
                    entry = BackfilledEvent(event, dict(resolved), state_exact=exact)
            exact_after[event.event_id] = entry.state_exact
            after[event.event_id] = ({**entry.state_before, event.state_tuple: event.event_id}
                                     if event.is_state() else entry.state_before)
            batch.append(entry)
        return len(await self._events.persist_backfilled(room_id, batch))

    async def _fallback_state(self, room_id: str) -> tuple[int | None, StateMap]:
        """The state before the oldest timeline event we hold (the one after the backfilled
        events), for events whose prev events we do not hold."""
        oldest = await self._events.get_oldest_visible_event(room_id)
        groups = await self._state_groups.get_event_state_groups([oldest]) if oldest else {}
        if oldest not in groups:
            return None, {}
        group = groups[oldest][0]
        return group, await self._state_groups.get_state(group)

    def _fetcher(self, in_batch: dict[str, Event]) -> Any:
        async def fetch(event_ids: list[str]) -> dict[str, Event]:
            found = {eid: in_batch[eid] for eid in event_ids if eid in in_batch}
            found.update(await self._events.get_events([eid for eid in event_ids if eid not in in_batch]))
            return found

        return fetch

    def _auth_chain_fetcher(self, in_batch: dict[str, Event]) -> Any:
        async def chain_of(event_ids: list[str]) -> set[str]:
            chain: set[str] = set()
            frontier = list(event_ids)
            stored: list[str] = []
            while frontier:
                next_frontier = []
                for eid in frontier:
                    if eid in in_batch:
                        for a in in_batch[eid].auth_event_ids:
                            if a not in chain:
                                chain.add(a)
                                next_frontier.append(a)
                    else:
                        stored.append(eid)
                frontier = next_frontier
            if stored:
                chain |= await self._events.get_auth_chain_ids(stored)
            return chain

        return chain_of
