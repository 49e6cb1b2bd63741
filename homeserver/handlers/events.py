"""Creating local events: one path for every event a user sends.

build (prev_events = the room's forward extremities, auth_events from the state before it)
-> hash and sign -> validate -> auth rules against the state before it -> EventPersister (one
transaction, then the fan-out). The persister's per-room lock keeps each room's graph consistent."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from signedjson.key import SigningKey

from homeserver.api.errors import Codes, MatrixError, not_found
from homeserver.clock import Clock
from homeserver.events.auth import auth_types_for_event
from homeserver.events.hashing import compute_reference_hash, encode_base64, room_id_for_create_event
from homeserver.events.model import Event
from homeserver.events.room_versions import EventFormat, RoomVersion
from homeserver.events.signing import sign_event
from homeserver.events.validation import EventTooLargeError, check_size_bound
from homeserver.handlers.event_checker import EventChecker
from homeserver.handlers.persister import EventContext, EventPersister
from homeserver.state.resolution import resolve_state
from homeserver.storage.events import EventsStore, PersistedEvent
from homeserver.storage.state_groups import StateGroupsStore
from homeserver.util.secrets import new_token

logger = logging.getLogger(__name__)

# A local room's graph is a line, but forks (e.g. a failed persist) must not grow without bound.
MAX_PREV_EVENTS = 10


class EventCreationHandler:
    def __init__(self, server_name: str, signing_key: SigningKey, clock: Clock, events: EventsStore,
                 state_groups: StateGroupsStore, checker: EventChecker, persister: EventPersister):
        self._server_name = server_name
        self._signing_key = signing_key
        self._clock = clock
        self._events = events
        self._state_groups = state_groups
        self._checker = checker
        self._persister = persister
        self._room_ids_being_created: set[str] = set()  # v12 IDs taken by creations not yet persisted

    async def send(
        self, sender: str, room_id: str, event_type: str, content: dict[str, Any], state_key: str | None = None,
        txn_id: tuple[str, str, str] | None = None, extra: dict[str, Any] | None = None,
        check: Callable[[], Awaitable[None]] | None = None, reuse_same_state: bool = False,
        countersign: Countersign | None = None, internal: dict[str, Any] | None = None,
    ) -> Event:
        """Build, check and persist one event in an existing room; the same (user, device, txn)
        returns the event already sent. `extra`: more top-level keys (e.g. pre-v11 `redacts`).
        `check`: a business rule to enforce under the room's lock (e.g. no duplicate reaction).
        `reuse_same_state`: a state event the sender, still joined, already set with exactly this
        content is returned instead of sending another (PUT /state, as clients expect).
        `countersign`: another server's signature to add once ours is on and the event passes
        its checks (an invite of that server's user), before it is persisted.
        `internal`: server-side notes the event is persisted with (Event.internal, e.g. the
        delay ID of a delayed event)."""
        _refuse_if_too_large(content)  # before queueing for the room
        async with self._persister.room_lock.queue(room_id):
            if txn_id is not None:
                existing = await self._events.get_txn_event_id(*txn_id)
                if existing is not None:
                    event = await self._events.get_event(existing)
                    if event is not None:
                        return event
            if reuse_same_state and state_key is not None:
                current = await self._current_state_event(room_id, event_type, state_key)
                if current is not None and current.sender == sender and current.content == content:
                    membership = await self._events.get_membership(room_id, sender)
                    if membership is not None and membership[0] == "join":
                        return current
            if check is not None:
                await check()
            persisted = await self.send_locked(sender, room_id, event_type, content, state_key, txn_id, extra,
                                               countersign, internal)
            return persisted.event

    async def _current_state_event(self, room_id: str, event_type: str, state_key: str) -> Event | None:
        event_id = (await self._events.get_current_state_ids(room_id)).get((event_type, state_key))
        return await self._events.get_event(event_id) if event_id is not None else None

    async def send_locked(
        self, sender: str, room_id: str, event_type: str, content: dict[str, Any], state_key: str | None = None,
        txn_id: tuple[str, str, str] | None = None, extra: dict[str, Any] | None = None,
        countersign: Countersign | None = None, internal: dict[str, Any] | None = None,
    ) -> PersistedEvent:
        """As send(), for a caller already holding the room's lock (room creation)."""
        room_version, pdu, group_before, state_before = await self.build(
            sender, room_id, event_type, content, state_key, extra)
        return await self._sign_check_persist(room_version, pdu, group_before, state_before, txn_id,
                                              countersign=countersign, internal=internal)

    async def build(
        self, sender: str, room_id: str, event_type: str, content: dict[str, Any], state_key: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> tuple[RoomVersion, dict[str, Any], int | None, dict]:
        """The room's next event, unsigned: prev_events (the forward extremities), depth, and
        auth_events chosen from the state before it. Returns (room version, PDU, state group
        before, state before). Also the template another server signs to join (make_join)."""
        _refuse_if_too_large(content)
        room_version = await self._events.get_room_version(room_id)
        if room_version is None:
            raise not_found("Unknown room")
        extremities = sorted(await self._events.get_forward_extremities(room_id), key=lambda e: -e[1])
        extremities = extremities[:MAX_PREV_EVENTS]
        group_before, state_before = await self.state_before(room_version, [e for e, _ in extremities])
        pdu: dict[str, Any] = {
            "room_id": room_id,
            "type": event_type,
            "sender": sender,
            "content": content,
            "prev_events": [e for e, _ in extremities],
            "depth": min(max(d for _, d in extremities) + 1, 2**53 - 1),
            "origin_server_ts": self._clock.time_msec(),
            **(extra or {}),
        }
        if state_key is not None:
            pdu["state_key"] = state_key
        wanted = auth_types_for_event(event_type, sender, state_key, content, room_version)
        pdu["auth_events"] = await self._references(
            room_version, sorted(state_before[k] for k in wanted if k in state_before))
        pdu["prev_events"] = await self._references(room_version, pdu["prev_events"])
        return room_version, pdu, group_before, state_before

    async def _references(self, room_version: RoomVersion, event_ids: list[str]) -> list[Any]:
        """prev_events/auth_events as the room version writes them: plain IDs, or in the V1 event
        format (rooms 1-2) [event ID, {"sha256": reference hash}] pairs."""
        if room_version.event_format is not EventFormat.V1:
            return list(event_ids)
        fetched = await self._events.get_events(list(event_ids))
        missing = [e for e in event_ids if e not in fetched]
        if missing:
            raise MatrixError(500, Codes.UNKNOWN, "Referenced events are missing")
        return [[e, {"sha256": encode_base64(compute_reference_hash(fetched[e].pdu, room_version))}]
                for e in event_ids]

    async def create_room_event(self, room_version: RoomVersion, sender: str, content: dict[str, Any],
                                room_id: str | None) -> PersistedEvent:
        """The m.room.create event of a new room (v12: its hash becomes the room ID)."""
        pdu: dict[str, Any] = {
            "type": "m.room.create", "state_key": "", "sender": sender, "content": content,
            "prev_events": [], "auth_events": [], "depth": 1, "origin_server_ts": self._clock.time_msec(),
        }
        if room_id is not None:
            pdu["room_id"] = room_id
        elif room_version.room_id_from_create_event:
            _refuse_if_too_large(pdu)
            # v12: the same user creating two identical rooms in the same millisecond would get
            # the same room ID (the create event's hash): move the timestamp on until it is new
            # (in the database, and among concurrent creations still on their way there).
            while True:
                new_id = room_id_for_create_event(
                    sign_event(dict(pdu), self._server_name, self._signing_key, room_version), room_version)
                if new_id not in self._room_ids_being_created \
                        and await self._events.get_room_version(new_id) is None \
                        and new_id not in self._room_ids_being_created:  # checked again after the await
                    break
                pdu["origin_server_ts"] += 1
            self._room_ids_being_created.add(new_id)
            try:
                return await self._sign_check_persist(room_version, pdu, None, {}, None, new_room=True)
            finally:
                self._room_ids_being_created.discard(new_id)
        return await self._sign_check_persist(room_version, pdu, None, {}, None, new_room=True)

    async def state_before(self, room_version: RoomVersion, prev_ids: list[str]) -> tuple[int | None, dict]:
        """The state before an event with these (known) prev_events: (its group when one holds
        it exactly, else None; the state map), resolved across them when there are several."""
        groups = await self._state_groups.get_event_state_groups(prev_ids)
        if len(prev_ids) == 1:
            group = groups[prev_ids[0]][1]
            return group, await self._state_groups.get_state(group)
        states = [await self._state_groups.get_state(groups[e][1]) for e in prev_ids]
        resolved = await resolve_state(room_version, states, self._events.get_events,
                                       self._events.get_auth_chain_ids)
        return None, dict(resolved)

    async def _sign_check_persist(
        self, room_version: RoomVersion, pdu: dict[str, Any], group_before: int | None,
        state_before: dict, txn_id: tuple[str, str, str] | None, new_room: bool = False,
        countersign: Countersign | None = None, internal: dict[str, Any] | None = None,
    ) -> PersistedEvent:
        """Name (rooms 1-2), hash and sign a built event, then the checks every event passes
        (EventChecker), then the persister."""
        if room_version.event_format is EventFormat.V1:
            # Rooms 1-2: the sending server names the event; its domain must be ours.
            pdu["event_id"] = f"${new_token('')[:24]}:{self._server_name}"
        _refuse_if_too_large(pdu)
        pdu = sign_event(pdu, self._server_name, self._signing_key, room_version)
        event = await self._checker.check_local(pdu, room_version, state_before)
        if countersign is not None:
            pdu = await countersign(room_version, pdu, state_before)
            event = await self._checker.check_local(pdu, room_version, state_before)
        if internal:
            event.internal.update(internal)
        return await self._persister.persist(event, EventContext(group_before, state_before, new_room, txn_id))


# (room version, our signed event, the state before it) -> the event with the other signature.
Countersign = Callable[[RoomVersion, dict[str, Any], dict], Awaitable[dict[str, Any]]]


def _refuse_if_too_large(pdu: dict[str, Any]) -> None:
    """413 M_TOO_LARGE for an event that cannot fit in 64 KiB, before it is hashed, signed or
    canonicalised (each of which costs time in its size), and before the state it needs is read."""
    try:
        check_size_bound(pdu)
    except EventTooLargeError as e:
        raise MatrixError(413, Codes.TOO_LARGE, str(e)) from None
