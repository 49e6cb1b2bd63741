"""Rooms and events: the graph (edges, auth, forward extremities), the global event stream,
current state and memberships. Persisting an event is one transaction."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from twisted.internet import defer
from twisted.python.failure import Failure

from homeserver.events.auth import domain_of
from homeserver.events.hashing import encode_canonical_json
from homeserver.events.model import Event
from homeserver.events.room_versions import KNOWN_ROOM_VERSIONS, RoomVersion
from homeserver.storage.database import Database, Transaction
from homeserver.storage.ids import IdGenerator, StreamIdTracker
from homeserver.storage.relations import RelationsStore
from homeserver.storage.state_groups import StateGroupsStore, StateMap
from homeserver.util.caches import LruCache, SharedReads

# Events shown to clients: not rejected, soft-failed or outliers (schema 022).
VISIBLE = "rejection_reason IS NULL AND outlier = 0 AND soft_failed = 0"


@dataclass(frozen=True)
class CurrentStateDelta:
    """How persisting an event changes its room's current state: `after` is the whole new current
    state (shared: never modified), `changed`/`removed` what differs from before, and the current
    membership rows that follow (user -> (event_id, membership)) or go."""

    after: StateMap
    changed: dict[tuple[str, str], str] = field(default_factory=dict)
    removed: list[tuple[str, str]] = field(default_factory=list)
    memberships: dict[str, tuple[str, str]] = field(default_factory=dict)
    removed_members: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class PersistedEvent:
    event: Event
    stream_ordering: int


@dataclass(frozen=True)
class BackfilledEvent:
    """A checked event of the room's past and the state before it: the group after
    `before_from` (an event persisted earlier in the same batch) when given, else
    `state_group_before` when a group holds it exactly, else a new group of `state_before`."""

    event: Event
    state_before: StateMap
    state_group_before: int | None = None
    before_from: str | None = None
    # False when the state before it is only the later state standing in for it (its prev events
    # are not held): no `replaces_state` (prev_content) is taken from it.
    state_exact: bool = True


class MemberLists(NamedTuple):
    """A room's members' user IDs by membership, each sorted."""

    joined: tuple[str, ...]
    invited: tuple[str, ...]
    departed: tuple[str, ...]  # left or banned


class EventsStore:
    def __init__(self, db: Database, state_groups: StateGroupsStore, relations: RelationsStore):
        self._db = db
        self._state_groups = state_groups
        self._relations = relations
        self.stream = StreamIdTracker(IdGenerator("events", "stream_ordering"))
        self._event_cache: LruCache[str, Event] = LruCache("events", 50_000)
        self._room_versions: dict[str, RoomVersion] = {}
        # event_id -> the redaction event's ID, or "" if not redacted.
        self._redacted_cache: LruCache[str, str] = LruCache("redacted", 50_000)
        # The same new events' redactions asked for by every sync one event wakes: one read for all.
        self._redaction_reads = SharedReads()
        # room -> current state (type, state_key) -> event_id; filled on first read, kept on write.
        self._current_state: LruCache[str, dict[tuple[str, str], str]] = LruCache("current_state", 2_000)
        # event_id -> stream position: never changes once written; every sync asks for some.
        self._positions: LruCache[str, int] = LruCache("event_positions", 100_000)
        # Memberships, read by every /sync (woken syncs of a big room ask all at once). A membership
        # write drops what it changes; a read which raced with it (and may have seen the old rows)
        # does not put them back (see LruCache).
        self._room_members: LruCache[str, list[tuple[str, str, str]]] = LruCache("room_members", 5_000)
        self._user_memberships: LruCache[str, dict[str, tuple[str, str]]] = LruCache("user_memberships", 20_000)
        # room -> (the members list it was made from, MemberLists): see get_member_lists.
        self._member_lists: LruCache[str, tuple[list, MemberLists]] = LruCache("room_member_lists", 5_000)
        # The position of the latest membership event (set after its commit, before its position
        # is finished): a range of positions past it holds no membership change at all, which
        # every sync woken by a plain message asks about (its own rooms, device lists).
        self.last_membership_position = 0
        # room -> position of its latest event (every woken sync asks, for each joined room). Each
        # persist moves a cached room's entry on after its commit; one into a room not cached counts
        # as a change of it, so that a read racing with it (it may miss the event) is not cached.
        self._latest_positions: LruCache[str, int] = LruCache("latest_positions", 20_000)
        # (room_id, types) -> (the room's latest position then, its bump stamp): sliding sync.
        self._bump_stamps: LruCache[tuple[str, tuple[str, ...]], tuple[int | None, int | None]] = LruCache(
            "bump_stamps", 20_000)
        # room -> its forward extremities (sorted), set by each persist after its commit.
        self._extremities: LruCache[str, list[str]] = LruCache("forward_extremities", 5_000)
        # Reads of ranges of committed positions (at or below `stream.current` when asked): events
        # are never deleted nor change position, so their answers never change. The syncs woken by
        # one message mostly ask the same ones.
        self._committed_ranges: LruCache[tuple, list[tuple[str, int]]] = LruCache("committed_ranges", 20_000)
        self._event_at_position: LruCache[tuple[str, int], str] = LruCache("event_at_position", 20_000)
        # Settled reads under way: the syncs one message wakes all ask at once, before the first
        # answer is cached; the rest wait for that one instead of each querying.
        self._settled_in_flight: dict[tuple, list[defer.Deferred]] = {}
        # Indexes kept in the persisting transaction itself (search, user directory): fn(txn, event, position).
        self.persist_hooks: list[Callable[[Transaction, Event, int], None]] = []
        # The last position given to a hidden event (negative, counting down).
        self._hidden_position = 0

    async def load(self) -> None:
        await self.stream._generator.load(self._db)
        rows = await self._db.execute("max_stream", "SELECT MAX(stream_ordering) FROM events")
        self.stream.load(rows[0][0] or 0)
        rows = await self._db.execute("min_stream", "SELECT MIN(stream_ordering) FROM events")
        self._hidden_position = min(rows[0][0] or 0, 0)
        rows = await self._db.execute("max_membership", "SELECT MAX(stream_ordering) FROM room_memberships")
        self.last_membership_position = rows[0][0] or 0

    # -- rooms ----------------------------------------------------------------------------------

    def store_room_txn(self, txn: Transaction, room_id: str, room_version: RoomVersion, creator: str,
                       now_ms: int) -> None:
        txn.execute("INSERT INTO rooms (room_id, room_version, creator, created_ts) VALUES (?, ?, ?, ?)",
                    (room_id, room_version.identifier, creator, now_ms))

    async def get_room_version(self, room_id: str) -> RoomVersion | None:
        version = self._room_versions.get(room_id)
        if version is None:
            rows = await self._db.execute("get_room_version", "SELECT room_version FROM rooms WHERE room_id = ?",
                                          room_id)
            if not rows:
                return None
            version = self._room_versions[room_id] = KNOWN_ROOM_VERSIONS[rows[0][0]]
        return version

    def forget_purged_room(self, room_id: str, event_ids: list[str], user_ids: list[str]) -> None:
        """Drop what the caches hold of a room whose rows were all deleted (admin API purge),
        with its events and the memberships of `user_ids`."""
        self._room_versions.pop(room_id, None)
        for cache in (self._current_state, self._room_members, self._latest_positions, self._extremities):
            cache.pop(room_id)
        for user_id in user_ids:
            self._user_memberships.pop(user_id)
        for event_id in event_ids:
            self._event_cache.pop(event_id)
            self._positions.pop(event_id)
            self._redacted_cache.pop(event_id)
        self._committed_ranges.clear()
        self._event_at_position.clear()

    def forget_forward_extremities(self, room_id: str) -> None:
        """The room's forward extremities changed outside a persist (admin API)."""
        self._extremities.pop(room_id)

    # -- persisting -----------------------------------------------------------------------------

    async def persist_event(
        self, event: Event, state_group_before: int | None, state_before: StateMap, state_after: StateMap,
        current_state: CurrentStateDelta, is_new_room: bool = False, creator: str | None = None, now_ms: int = 0,
        txn_id: tuple[str, str, str] | None = None, rejected: str | None = None, soft_failed: bool = False,
    ) -> PersistedEvent:
        """Store a checked event: its row, edges, the room's forward extremities, the state after
        it (a new state group only for state events), the change to the room's current state
        (decided by the caller: see EventPersister), and the transaction ID it was sent with.
        The caller holds the room's lock.

        A `rejected` (the reason) or `soft_failed` event is kept for the graph only (schema 022):
        a negative position, no extremity, no current state, no memberships, relations or indexes;
        the state after a rejected event is the state before it."""
        hidden = rejected is not None or soft_failed
        position = self._next_hidden_position() if hidden else self.stream.allocate()
        room_id = event.room_id
        replaces = None
        if event.is_state():
            replaces = state_before.get(event.state_tuple)
            if replaces is not None:
                event.unsigned["replaces_state"] = replaces

        def txn_fn(txn: Transaction) -> list[str]:
            if is_new_room:
                self.store_room_txn(txn, room_id, event.room_version, creator or event.sender, now_ms)
            txn.execute(
                "INSERT INTO events (event_id, stream_ordering, room_id, type, state_key, sender, depth, "
                "origin_server_ts, json, replaces_state, rejection_reason, soft_failed) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (event.event_id, position, room_id, event.type, event.state_key, event.sender, event.depth,
                 event.origin_server_ts, encode_canonical_json(event.pdu).decode("utf-8"), replaces, rejected,
                 int(soft_failed)),
            )
            prevs = event.prev_event_ids
            txn.executemany("INSERT INTO event_edges (event_id, prev_event_id) VALUES (?, ?)",
                            [(event.event_id, p) for p in prevs])
            txn.executemany("INSERT INTO event_auth (event_id, auth_id) VALUES (?, ?)",
                            [(event.event_id, a) for a in event.auth_event_ids])
            if hidden:
                self._persist_hidden_txn(txn, event, state_group_before, state_before, state_after, rejected)
                return []
            extremities = self._update_extremities_txn(txn, event)
            self._update_backward_extremities_txn(txn, room_id, [event])

            group_before = state_group_before
            if group_before is None:  # a state no group holds yet (the empty state, a resolved fork)
                group_before = self._state_groups.create_state_group_txn(txn, room_id, state_before)
            group_after = group_before
            if event.is_state():
                group_after = self._state_groups.create_state_group_txn(txn, room_id, state_after, group_before)
            self._state_groups.set_event_state_groups_txn(txn, event.event_id, group_before, group_after)

            if event.is_state() and event.type == "m.room.member":
                txn.execute("INSERT INTO room_memberships (event_id, room_id, user_id, sender, membership, "
                            "stream_ordering) VALUES (?, ?, ?, ?, ?, ?)",
                            (event.event_id, room_id, event.state_key, event.sender,
                             event.content.get("membership"), position))
            self._apply_current_state_txn(txn, room_id, current_state)
            self._relations.add_relation_txn(txn, event, position)
            if event.type == "m.room.redaction" and isinstance(event.redacts, str):
                txn.execute("INSERT INTO redactions (event_id, redacts) VALUES (?, ?)",
                            (event.event_id, event.redacts))
                self._relations.remove_relation_txn(txn, event.redacts)
                txn.call_after_commit(lambda: self._redaction_written(event.redacts))
            for hook in self.persist_hooks:
                hook(txn, event, position)
            if txn_id is not None:
                txn.execute("INSERT INTO event_txn_ids (user_id, device_id, txn_id, event_id, created_ts) "
                            "VALUES (?, ?, ?, ?, ?)", (*txn_id, event.event_id, now_ms))
            if event.internal.get("delay_id") is not None:  # a delayed event (MSC4140) going out
                txn.execute("INSERT INTO event_delay_ids (event_id, delay_id) VALUES (?, ?)",
                            (event.event_id, event.internal["delay_id"]))

            def after_commit() -> None:
                self._event_cache.set(event.event_id, event)
                self._positions.set(event.event_id, position)
                self._extremities.set(room_id, extremities)
                if current_state.memberships or current_state.removed_members:
                    self.last_membership_position = max(self.last_membership_position, position)
                    self._room_members.pop(room_id)
                    for user_id in [*current_state.memberships, *current_state.removed_members]:
                        self._user_memberships.pop(user_id)
                if current_state.changed or current_state.removed:
                    self._current_state.set(room_id, current_state.after)
                latest = self._latest_positions.peek(room_id)
                if latest is None:
                    self._latest_positions.pop(room_id)
                else:
                    self._latest_positions.set(room_id, max(latest, position))
                if is_new_room:
                    self._room_versions[room_id] = event.room_version

            txn.call_after_commit(after_commit)
            return extremities

        try:
            await self._db.run("persist_event", txn_fn)
        finally:
            if not hidden:
                self.stream.finish(position)
        return PersistedEvent(event, position)

    async def persist_outliers(self, room_id: str, room_version: RoomVersion, creator: str, events: list[Event],
                               rejected: dict[str, str], now_ms: int) -> None:
        """Events known only for a room's auth chains and state (the answer to a join), in one
        transaction: the room's row if it is new, then each event not yet held, hidden as an
        outlier (rejected ones with their reason), and its auth edges."""
        positions = {event.event_id: self._next_hidden_position() for event in events}

        def txn_fn(txn: Transaction) -> None:
            if txn.execute("SELECT 1 FROM rooms WHERE room_id = ?", (room_id,)).fetchone() is None:
                self.store_room_txn(txn, room_id, room_version, creator, now_ms)
            held = {r[0] for r in txn.select_in("SELECT event_id FROM events WHERE event_id {in}", list(positions))}
            for event in events:
                if event.event_id in held:
                    continue
                held.add(event.event_id)
                txn.execute(
                    "INSERT INTO events (event_id, stream_ordering, room_id, type, state_key, sender, depth, "
                    "origin_server_ts, json, rejection_reason, outlier) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)",
                    (event.event_id, positions[event.event_id], event.room_id, event.type, event.state_key,
                     event.sender, event.depth, event.origin_server_ts,
                     encode_canonical_json(event.pdu).decode("utf-8"), rejected.get(event.event_id)))
                txn.executemany("INSERT INTO event_auth (event_id, auth_id) VALUES (?, ?)",
                                [(event.event_id, a) for a in event.auth_event_ids])

            def after_commit() -> None:
                self._room_versions[room_id] = room_version
                for event in events:
                    if event.event_id not in rejected:
                        self._event_cache.set(event.event_id, event)

            txn.call_after_commit(after_commit)

        await self._db.run("persist_outliers", txn_fn)

    async def persist_out_of_band_membership(self, event: Event, stripped_state: list[dict[str, Any]] | None,
                                             now_ms: int) -> PersistedEvent:
        """A member event of one of our users in a room we do not hold (an invite from another
        server, the leave that rejects it): an outlier with a real stream position, the user's
        membership rows, and the stripped state to show with it."""
        position = self.stream.allocate()
        room_id = event.room_id
        user_id = event.state_key
        membership = event.content.get("membership")

        def txn_fn(txn: Transaction) -> None:
            if txn.execute("SELECT 1 FROM rooms WHERE room_id = ?", (room_id,)).fetchone() is None:
                self.store_room_txn(txn, room_id, event.room_version, event.sender, now_ms)
            if txn.execute("SELECT 1 FROM events WHERE event_id = ?", (event.event_id,)).fetchone() is None:
                txn.execute(
                    "INSERT INTO events (event_id, stream_ordering, room_id, type, state_key, sender, depth, "
                    "origin_server_ts, json, outlier) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1)",
                    (event.event_id, position, room_id, event.type, user_id, event.sender, event.depth,
                     event.origin_server_ts, encode_canonical_json(event.pdu).decode("utf-8")))
            txn.execute("INSERT INTO room_memberships (event_id, room_id, user_id, sender, membership, "
                        "stream_ordering) VALUES (?, ?, ?, ?, ?, ?)",
                        (event.event_id, room_id, user_id, event.sender, membership, position))
            txn.execute("DELETE FROM current_memberships WHERE room_id = ? AND user_id = ?", (room_id, user_id))
            txn.execute("INSERT INTO current_memberships (room_id, user_id, event_id, membership) VALUES (?, ?, ?, ?)",
                        (room_id, user_id, event.event_id, membership))
            if stripped_state is not None:
                txn.execute("INSERT INTO out_of_band_stripped_state (event_id, stripped_state) VALUES (?, ?)",
                            (event.event_id, json.dumps(stripped_state)))

            def after_commit() -> None:
                self._room_versions[room_id] = event.room_version
                self._event_cache.set(event.event_id, event)
                self._positions.set(event.event_id, position)
                self.last_membership_position = max(self.last_membership_position, position)
                self._room_members.pop(room_id)
                self._user_memberships.pop(user_id)

            txn.call_after_commit(after_commit)

        try:
            await self._db.run("persist_out_of_band_membership", txn_fn)
        finally:
            self.stream.finish(position)
        return PersistedEvent(event, position)

    async def get_out_of_band_stripped_state(self, event_id: str) -> list[dict[str, Any]] | None:
        rows = await self._db.execute("get_out_of_band_stripped_state",
                                      "SELECT stripped_state FROM out_of_band_stripped_state WHERE event_id = ?",
                                      event_id)
        return json.loads(rows[0][0]) if rows else None

    def _next_hidden_position(self) -> int:
        self._hidden_position -= 1
        return self._hidden_position

    def _persist_hidden_txn(self, txn: Transaction, event: Event, state_group_before: int | None,
                            state_before: StateMap, state_after: StateMap, rejected: str | None) -> None:
        """The state groups of a rejected or soft-failed event (a later event may name it among its
        prev_events, and its state before is needed then)."""
        group_before = state_group_before
        if group_before is None:
            group_before = self._state_groups.create_state_group_txn(txn, event.room_id, state_before)
        group_after = group_before
        if event.is_state() and rejected is None:
            group_after = self._state_groups.create_state_group_txn(txn, event.room_id, state_after, group_before)
        self._state_groups.set_event_state_groups_txn(txn, event.event_id, group_before, group_after)
        if rejected is None:  # a rejected event is never returned by get_events: never cached
            txn.call_after_commit(lambda: self._event_cache.set(event.event_id, event))

    def _update_extremities_txn(self, txn: Transaction, event: Event) -> list[str]:
        """The event replaces its prev events as forward extremities, and becomes one unless an
        event we already hold points at it (it arrived late). Returns the room's extremities."""
        room_id = event.room_id
        for p in event.prev_event_ids:
            txn.execute("DELETE FROM event_forward_extremities WHERE room_id = ? AND event_id = ?", (room_id, p))
        if txn.execute(f"SELECT 1 FROM event_edges d JOIN events e ON e.event_id = d.event_id "
                       f"WHERE d.prev_event_id = ? AND {VISIBLE} LIMIT 1", (event.event_id,)).fetchone() is None:
            txn.execute("INSERT INTO event_forward_extremities (room_id, event_id) VALUES (?, ?)",
                        (room_id, event.event_id))
        rows = txn.execute("SELECT event_id FROM event_forward_extremities WHERE room_id = ?", (room_id,)).fetchall()
        return sorted(r[0] for r in rows)

    def _apply_current_state_txn(self, txn: Transaction, room_id: str, delta: CurrentStateDelta) -> None:
        for (t, sk), event_id in delta.changed.items():
            txn.execute("DELETE FROM current_state_events WHERE room_id = ? AND type = ? AND state_key = ?",
                        (room_id, t, sk))
            txn.execute("INSERT INTO current_state_events (room_id, type, state_key, event_id) VALUES (?, ?, ?, ?)",
                        (room_id, t, sk, event_id))
        for t, sk in delta.removed:
            txn.execute("DELETE FROM current_state_events WHERE room_id = ? AND type = ? AND state_key = ?",
                        (room_id, t, sk))
        for user_id, (event_id, membership) in delta.memberships.items():
            txn.execute("DELETE FROM current_memberships WHERE room_id = ? AND user_id = ?", (room_id, user_id))
            txn.execute("INSERT INTO current_memberships (room_id, user_id, event_id, membership) "
                        "VALUES (?, ?, ?, ?)", (room_id, user_id, event_id, membership))
        for user_id in delta.removed_members:
            txn.execute("DELETE FROM current_memberships WHERE room_id = ? AND user_id = ?", (room_id, user_id))

    # -- reading --------------------------------------------------------------------------------

    async def get_events(self, event_ids: list[str]) -> dict[str, Event]:
        found: dict[str, Event] = {}
        missing = []
        for eid in event_ids:
            ev = self._event_cache.get(eid)
            if ev is None:
                missing.append(eid)
            else:
                found[eid] = ev
        if missing:
            rows = await self._db.run("get_events", self._fetch_event_rows_txn, missing)
            for event_id, room_version, pdu_json, replaces, delay_id in rows:
                from homeserver.events.hashing import event_from_pdu  # avoids a cycle at import time

                ev = event_from_pdu(json.loads(pdu_json), KNOWN_ROOM_VERSIONS[room_version])
                if replaces is not None:
                    ev.unsigned["replaces_state"] = replaces
                if delay_id is not None:
                    ev.internal["delay_id"] = delay_id
                self._event_cache.set(event_id, ev)
                found[event_id] = ev
        return found

    def _fetch_event_rows_txn(self, txn: Transaction, event_ids: list[str]) -> list[tuple[Any, ...]]:
        return txn.select_in(
            "SELECT e.event_id, r.room_version, e.json, e.replaces_state, d.delay_id FROM events e "
            "JOIN rooms r ON r.room_id = e.room_id LEFT JOIN event_delay_ids d ON d.event_id = e.event_id "
            "WHERE e.event_id {in} AND e.rejection_reason IS NULL",
            event_ids)

    def _redaction_written(self, redacts: str) -> None:
        self._redacted_cache.pop(redacts)
        self._redaction_reads.changed()

    async def get_redactions(self, event_ids: list[str]) -> dict[str, str]:
        """event_id -> ID of a redaction of it, for those of `event_ids` that are redacted."""
        out: dict[str, str] = {}
        missing = []
        for eid in event_ids:
            cached = self._redacted_cache.get(eid)
            if cached is None:
                missing.append(eid)
            elif cached:
                out[eid] = cached

        def txn_fn(txn: Transaction) -> list[tuple[str, str]]:
            return txn.select_in("SELECT redacts, event_id FROM redactions WHERE redacts {in}", missing)

        if missing:
            with self._redacted_cache.reading() as read:
                found = dict(await self._redaction_reads.read(
                    tuple(missing), lambda: self._db.run("get_redactions", txn_fn)))
                for eid in missing:
                    read.fill(eid, found.get(eid, ""))
            out.update(found)
        return out

    async def get_event(self, event_id: str) -> Event | None:
        return (await self.get_events([event_id])).get(event_id)

    async def get_forward_extremity_ids(self, room_id: str) -> list[str]:
        """The room's forward extremities (sorted; shared with the cache: do not modify)."""
        async def load() -> list[str]:
            rows = await self._db.execute(
                "get_forward_extremities", "SELECT event_id FROM event_forward_extremities WHERE room_id = ?",
                room_id)
            return sorted(r[0] for r in rows)

        return await self._extremities.get_or_load(room_id, load)

    async def get_forward_extremities(self, room_id: str) -> list[tuple[str, int]]:
        """(event_id, depth) of the room's forward extremities."""
        ids = await self.get_forward_extremity_ids(room_id)
        events = await self.get_events(ids)
        return [(eid, events[eid].depth) for eid in ids if eid in events]

    async def get_current_state_ids(self, room_id: str) -> dict[tuple[str, str], str]:
        """The room's current state. Shared with the cache: do not modify."""
        async def load() -> dict[tuple[str, str], str]:
            rows = await self._db.execute(
                "get_current_state_ids",
                "SELECT type, state_key, event_id FROM current_state_events WHERE room_id = ?", room_id)
            return {(t, sk): eid for t, sk, eid in rows}

        return await self._current_state.get_or_load(room_id, load)

    async def get_membership(self, room_id: str, user_id: str) -> tuple[str, str] | None:
        """(membership, event_id) of the user's current membership in the room."""
        return (await self._memberships_of(user_id)).get(room_id)

    async def get_rooms_for_user(self, user_id: str, membership: str = "join") -> list[str]:
        return sorted(r for r, (m, _) in (await self._memberships_of(user_id)).items() if m == membership)

    async def get_txn_event_id(self, user_id: str, device_id: str, txn_id: str) -> str | None:
        rows = await self._db.execute(
            "get_txn_event_id",
            "SELECT event_id FROM event_txn_ids WHERE user_id = ? AND device_id = ? AND txn_id = ?",
            user_id, device_id, txn_id,
        )
        return rows[0][0] if rows else None

    async def get_stream_ordering(self, event_id: str) -> tuple[int, int] | None:
        """(stream_ordering, depth) of an event."""
        rows = await self._db.execute(
            "get_stream_ordering", "SELECT stream_ordering, depth FROM events WHERE event_id = ?", event_id)
        return (rows[0][0], rows[0][1]) if rows else None

    async def paginate_room_events(self, room_id: str, from_stream: int, backwards: bool, limit: int,
                                   to_stream: int | None = None) -> list[tuple[str, int]]:
        """(event_id, stream_ordering) of the room's events from `from_stream` in stream order,
        nearest first. A position is just after its event: backwards takes stream <= from (down
        to > to), forwards stream > from (up to <= to)."""
        op, order = ("<=", "DESC") if backwards else (">", "ASC")
        sql = f"SELECT event_id, stream_ordering FROM events WHERE room_id = ? AND stream_ordering {op} ?"
        args: list[Any] = [room_id, from_stream]
        if to_stream is not None:
            sql += f" AND stream_ordering {'>' if backwards else '<='} ?"
            args.append(to_stream)
        sql += f" AND {VISIBLE} ORDER BY stream_ordering {order} LIMIT ?"
        args.append(limit)

        async def fetch() -> list[tuple[str, int]]:
            return [(r[0], r[1]) for r in await self._db.execute("paginate_room_events", sql, *args)]

        end = from_stream if backwards else to_stream
        if end is None or end > self.stream.current:
            return await fetch()
        key = (room_id, from_stream, backwards, limit, to_stream)
        return list(await self._settled_read(self._committed_ranges, key, fetch))

    async def _settled_read(self, cache: LruCache, key: tuple, fetch: Callable[[], Awaitable[Any]]) -> Any:
        """A read of committed positions only (its answer changes only when backfill adds the
        room's past below them: see _forget_settled_reads): cached, and shared with the same read
        already under way. Callers must not change what it returns. Keys start with the room.

        The read runs on its own: a caller cancelled (its client gone) stops waiting for it, the
        others sharing it still get its answer."""
        cached = cache.get(key)
        if cached is not None:
            return cached
        flight_key = (id(cache), *key)
        waiting: defer.Deferred = defer.Deferred()
        waiters = self._settled_in_flight.get(flight_key)
        if waiters is not None:
            waiters.append(waiting)
            return await waiting
        waiters = self._settled_in_flight[flight_key] = [waiting]
        defer.ensureDeferred(self._settle(cache, key, flight_key, waiters, fetch))
        return await waiting

    async def _settle(self, cache: LruCache, key: tuple, flight_key: tuple, waiters: list[defer.Deferred],
                      fetch: Callable[[], Awaitable[Any]]) -> None:
        try:
            with cache.reading() as read:
                value = await fetch()
                read.fill(key, value)
        except Exception:
            failure = Failure()
            if self._settled_in_flight.get(flight_key) is waiters:
                del self._settled_in_flight[flight_key]
            for waiting in waiters:
                if not waiting.called:
                    waiting.errback(failure)
            return
        if self._settled_in_flight.get(flight_key) is waiters:
            del self._settled_in_flight[flight_key]
        for waiting in waiters:
            if not waiting.called:  # a cancelled caller's
                waiting.callback(value)

    async def get_auth_chain_ids(self, event_ids: list[str]) -> set[str]:
        """Every event reachable through auth_events from `event_ids` (not including them)."""

        def txn_fn(txn: Transaction) -> set[str]:
            chain: set[str] = set()
            frontier = list(event_ids)
            while frontier:
                found = [r[0] for r in txn.select_in("SELECT auth_id FROM event_auth WHERE event_id {in}", frontier)]
                frontier = [a for a in set(found) if a not in chain]
                chain.update(frontier)
            return chain

        return await self._db.run("get_auth_chain_ids", txn_fn)

    async def get_stream_orderings(self, event_ids: list[str]) -> dict[str, int]:
        out: dict[str, int] = {}
        missing = []
        for event_id in event_ids:
            position = self._positions.get(event_id)
            if position is None:
                missing.append(event_id)
            else:
                out[event_id] = position

        def txn_fn(txn: Transaction) -> dict[str, int]:
            return dict(txn.select_in("SELECT event_id, stream_ordering FROM events WHERE event_id {in}", missing))

        if missing:
            found = await self._db.run("get_stream_orderings", txn_fn)
            for event_id, position in found.items():
                self._positions.set(event_id, position)
            out.update(found)
        return out

    async def get_join_positions(self, room_id: str, user_id: str) -> list[int]:
        """Stream positions of every join of the user to the room."""
        rows = await self._db.execute(
            "get_join_positions",
            "SELECT stream_ordering FROM room_memberships WHERE room_id = ? AND user_id = ? AND membership = ?",
            room_id, user_id, "join",
        )
        return [r[0] for r in rows]

    async def get_seen_event_ids(self, event_ids: list[str]) -> set[str]:
        """Those of `event_ids` stored here in any form (rejected, soft-failed and outliers too)."""
        if not event_ids:
            return set()
        found = {eid for eid in event_ids if self._event_cache.get(eid) is not None}
        missing = [eid for eid in event_ids if eid not in found]
        if missing:
            found |= {r[0] for r in await self._db.run(
                "get_seen_event_ids", lambda txn: txn.select_in("SELECT event_id FROM events WHERE event_id {in}",
                                                                missing))}
        return found

    async def get_members(self, room_id: str) -> list[tuple[str, str, str]]:
        """(user_id, membership, event_id) of every current member event of the room."""
        return list(await self._cached_members(room_id))

    async def _cached_members(self, room_id: str) -> list[tuple[str, str, str]]:
        """The cached list itself: callers must not change it."""
        async def load() -> list[tuple[str, str, str]]:
            rows = await self._db.execute(
                "get_members", "SELECT user_id, membership, event_id FROM current_memberships WHERE room_id = ?",
                room_id)
            return [(r[0], r[1], r[2]) for r in rows]

        return await self._room_members.get_or_load(room_id, load)

    async def get_member_lists(self, room_id: str) -> MemberLists:
        """The room's members by membership, sorted: worked out once per change of its members
        (every sync of the room's members wants the counts and the heroes)."""
        members = await self._cached_members(room_id)
        cached = self._member_lists.get(room_id)
        # Keyed by the very list the members cache holds: a membership change replaces that list.
        if cached is not None and cached[0] is members:
            return cached[1]
        by: dict[str, list[str]] = {"join": [], "invite": [], "leave": [], "ban": []}
        for user_id, membership, _ in members:
            by.setdefault(membership, []).append(user_id)
        lists = MemberLists(tuple(sorted(by["join"])), tuple(sorted(by["invite"])),
                            tuple(sorted(by["leave"] + by["ban"])))
        self._member_lists.set(room_id, (members, lists))
        return lists

    async def get_joined_servers(self, room_id: str) -> Counter[str]:
        """Server name -> how many of its users are joined to the room (the servers in the room)."""
        return Counter(domain_of(user_id) for user_id, membership, _ in await self.get_members(room_id)
                       if membership == "join")

    # -- for /sync ------------------------------------------------------------------------------

    async def get_latest_positions(self, room_ids: list[str]) -> dict[str, int]:
        """room_id -> stream position of its latest event."""
        out: dict[str, int] = {}
        missing = []
        for room_id in room_ids:
            latest = self._latest_positions.get(room_id)
            if latest is None:
                missing.append(room_id)
            else:
                out[room_id] = latest

        def txn_fn(txn: Transaction) -> dict[str, int]:
            return dict(txn.select_in(
                "SELECT room_id, MAX(stream_ordering) FROM events WHERE room_id {in} GROUP BY room_id", missing))

        if missing:
            with self._latest_positions.reading() as read:
                found = await self._db.run("get_latest_positions", txn_fn)
                for room_id, latest in found.items():
                    read.fill(room_id, latest)
            out.update(found)
        return out

    async def get_bump_stamps(self, room_ids: list[str], types: tuple[str, ...]) -> dict[str, int]:
        """room_id -> stream position of its latest event of one of `types` (sliding sync's
        bump_stamp); backfilled events (positions below 1) do not count. Remembered per room
        with the room's latest position: asked again with no new event, no query."""
        latest = await self.get_latest_positions(room_ids)
        out: dict[str, int] = {}
        missing = []
        for room_id in room_ids:
            cached = self._bump_stamps.get((room_id, types))
            if cached is not None and cached[0] == latest.get(room_id):
                if cached[1] is not None:
                    out[room_id] = cached[1]
            else:
                missing.append(room_id)
        if not missing:
            return out

        def txn_fn(txn: Transaction) -> dict[str, int]:
            marks = ", ".join("?" for _ in types)
            return dict(txn.select_in(
                f"SELECT room_id, MAX(stream_ordering) FROM events WHERE type IN ({marks}) "
                f"AND stream_ordering > 0 AND {VISIBLE} AND room_id {{in}} GROUP BY room_id",
                missing, before=types))

        found = await self._db.run("get_bump_stamps", txn_fn)
        for room_id in missing:
            self._bump_stamps.set((room_id, types), (latest.get(room_id), found.get(room_id)))
        out.update(found)
        return out

    async def get_event_at_position(self, room_id: str, position: int) -> str | None:
        """The room's last event at or before a stream position (its state is the room's state then)."""

        async def fetch() -> str:
            rows = await self._db.execute(
                "get_event_at_position",
                f"SELECT event_id FROM events WHERE room_id = ? AND stream_ordering <= ? AND {VISIBLE} "
                "ORDER BY stream_ordering DESC LIMIT 1",
                room_id, position,
            )
            return rows[0][0] if rows else ""  # "": no event at or before it

        if position > self.stream.current:
            return await fetch() or None
        return await self._settled_read(self._event_at_position, (room_id, position), fetch) or None

    async def get_membership_changes(self, user_id: str, after: int, upto: int) -> dict[str, tuple[str, str, int]]:
        """room_id -> (membership, event_id, position) of the user's latest membership change in
        each room within (after, upto]."""
        if not self.memberships_changed_between(after, upto):
            return {}
        rows = await self._db.execute(
            "get_membership_changes",
            "SELECT room_id, membership, event_id, stream_ordering FROM room_memberships "
            "WHERE user_id = ? AND stream_ordering > ? AND stream_ordering <= ? ORDER BY stream_ordering",
            user_id, after, upto,
        )
        return {r[0]: (r[1], r[2], r[3]) for r in rows}

    async def get_membership_transitions(self, user_id: str, after: int,
                                         upto: int) -> dict[str, tuple[str | None, list[str]]]:
        """room_id -> (the user's membership at `after`, None if they had none; their memberships
        within (after, upto], oldest first), for each room where it changed in that window."""
        if not self.memberships_changed_between(after, upto):
            return {}
        rows = await self._db.execute(
            "get_membership_transitions",
            "SELECT room_id, membership, stream_ordering FROM room_memberships "
            "WHERE user_id = ? AND stream_ordering <= ? AND room_id IN (SELECT room_id FROM room_memberships "
            "WHERE user_id = ? AND stream_ordering > ? AND stream_ordering <= ?) ORDER BY stream_ordering",
            user_id, upto, user_id, after, upto,
        )
        out: dict[str, tuple[str | None, list[str]]] = {}
        for room_id, membership, position in rows:
            before, during = out.setdefault(room_id, (None, []))
            if position > after:
                during.append(membership)
            else:
                out[room_id] = (membership, during)
        return out

    def memberships_changed_between(self, after: int, upto: int) -> bool:
        """Whether any membership (of anyone, in any room) may have changed in (after, upto]. Every
        position up to `stream.current` has committed, so its membership event (if any) is counted
        in `last_membership_position`; beyond that, no telling."""
        return upto > self.stream.current or self.last_membership_position > after

    async def get_current_memberships(self, user_id: str) -> dict[str, tuple[str, str]]:
        """room_id -> (membership, event_id) for every room the user has a membership in."""
        return dict(await self._memberships_of(user_id))

    async def _memberships_of(self, user_id: str) -> dict[str, tuple[str, str]]:
        """The cached map itself: callers must not change it."""
        async def load() -> dict[str, tuple[str, str]]:
            rows = await self._db.execute(
                "get_current_memberships",
                "SELECT room_id, membership, event_id FROM current_memberships WHERE user_id = ?", user_id)
            return {r[0]: (r[1], r[2]) for r in rows}

        return await self._user_memberships.get_or_load(user_id, load)

    async def get_txn_ids(self, user_id: str, device_id: str, event_ids: list[str]) -> dict[str, str]:
        """event_id -> transaction ID, for the events this device sent among `event_ids`."""
        if not event_ids:
            return {}

        def txn_fn(txn: Transaction) -> dict[str, str]:
            return dict(txn.select_in(
                "SELECT event_id, txn_id FROM event_txn_ids WHERE user_id = ? AND device_id = ? AND event_id {in}",
                event_ids, before=(user_id, device_id)))

        return await self._db.run("get_txn_ids", txn_fn)

    # -- the room's past (backfill) -------------------------------------------------------------

    @property
    def lowest_position(self) -> int:
        """At or below every event's position (backfilled events are the lowest visible ones)."""
        return self._hidden_position

    def _update_backward_extremities_txn(self, txn: Transaction, room_id: str, events: list[Event]) -> None:
        """`events` are now shown to clients: they are no longer backward extremities, and those of
        their prev events that we do not hold as such events (not at all, or as outliers) are."""
        ids = {e.event_id for e in events}
        txn.executemany("DELETE FROM event_backward_extremities WHERE room_id = ? AND event_id = ?",
                        [(room_id, eid) for eid in ids])
        prevs = sorted({p for e in events for p in e.prev_event_ids} - ids)
        if not prevs:
            return
        held = {r[0] for r in txn.select_in("SELECT event_id FROM events WHERE event_id {in} AND outlier = 0", prevs)}
        wanted = [p for p in prevs if p not in held]
        if not wanted:
            return
        known = {r[0] for r in txn.select_in(
            "SELECT event_id FROM event_backward_extremities WHERE room_id = ? AND event_id {in}", wanted,
            before=(room_id,))}
        txn.executemany("INSERT INTO event_backward_extremities (room_id, event_id) VALUES (?, ?)",
                        [(room_id, p) for p in wanted if p not in known])

    def _forget_settled_reads(self, room_id: str) -> None:
        """The room's past grew below positions read before: those reads are read again (and
        reads of it under way neither fill the caches nor are joined by new ones)."""
        for cache in (self._committed_ranges, self._event_at_position):
            cache.pop_where(lambda key, _value: key[0] == room_id)
            for flight_key in [k for k in self._settled_in_flight if k[0] == id(cache) and k[1] == room_id]:
                del self._settled_in_flight[flight_key]

    async def get_backward_extremities(self, room_id: str, limit: int) -> list[str]:
        """Up to `limit` of the room's backward extremities (sorted)."""
        rows = await self._db.execute(
            "get_backward_extremities",
            "SELECT event_id FROM event_backward_extremities WHERE room_id = ? ORDER BY event_id LIMIT ?",
            room_id, limit)
        return [r[0] for r in rows]

    async def get_event_holdings(self, event_ids: list[str]) -> dict[str, str]:
        """event_id -> how we hold it: "visible" (shown to clients), "outlier" (known for auth
        chains and state only) or "hidden" (rejected or soft-failed); absent if not held."""
        if not event_ids:
            return {}

        def txn_fn(txn: Transaction) -> dict[str, str]:
            rows = txn.select_in("SELECT event_id, outlier, rejection_reason, soft_failed FROM events "
                                 "WHERE event_id {in}", event_ids)
            return {eid: "hidden" if reason is not None or soft else "outlier" if outlier else "visible"
                    for eid, outlier, reason, soft in rows}

        return await self._db.run("get_event_holdings", txn_fn)

    async def get_oldest_visible_event(self, room_id: str) -> str | None:
        """The room's event at the lowest stream position among those shown to clients."""
        rows = await self._db.execute(
            "get_oldest_visible_event",
            f"SELECT event_id FROM events WHERE room_id = ? AND {VISIBLE} ORDER BY stream_ordering ASC LIMIT 1",
            room_id)
        return rows[0][0] if rows else None

    async def persist_backfilled(self, room_id: str, batch: list[BackfilledEvent]) -> list[PersistedEvent]:
        """Events of the room's past, checked, in one transaction: each gets a position below every
        position given so far (the newest of the batch, by depth, the highest), its edges, state
        groups, relations and redactions, and no longer is a backward extremity (its prev events
        not held become ones). The room's forward extremities, current state and memberships are
        untouched; nothing is told to /sync. An event held as an outlier becomes part of the
        timeline (keeping its row); one already held otherwise is skipped. `batch` comes oldest
        first (a `before_from` names an earlier entry). The caller holds the room's lock."""
        newest_first = sorted(batch, key=lambda b: (-b.event.depth, b.event.event_id))
        positions = {b.event.event_id: self._next_hidden_position() for b in newest_first}

        def txn_fn(txn: Transaction) -> list[PersistedEvent]:
            ids = [b.event.event_id for b in batch]
            held = {r[0]: (r[1], r[2], r[3]) for r in txn.select_in(
                "SELECT event_id, outlier, rejection_reason, soft_failed FROM events WHERE event_id {in}", ids)}
            groups_after: dict[str, int] = {}
            done: list[PersistedEvent] = []
            for b in batch:
                event = b.event
                position = positions[event.event_id]
                holding = held.get(event.event_id)
                if holding is not None and (not holding[0] or holding[1] is not None or holding[2]):
                    continue  # already in the timeline, or rejected / soft-failed: left as it is
                replaces = b.state_before.get(event.state_tuple) if event.is_state() and b.state_exact else None
                if replaces is not None:
                    event.unsigned["replaces_state"] = replaces
                if holding is None:
                    txn.execute(
                        "INSERT INTO events (event_id, stream_ordering, room_id, type, state_key, sender, depth, "
                        "origin_server_ts, json, replaces_state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (event.event_id, position, room_id, event.type, event.state_key, event.sender, event.depth,
                         event.origin_server_ts, encode_canonical_json(event.pdu).decode("utf-8"), replaces))
                    txn.executemany("INSERT INTO event_auth (event_id, auth_id) VALUES (?, ?)",
                                    [(event.event_id, a) for a in event.auth_event_ids])
                else:  # an outlier: its row and auth edges are there already
                    txn.execute("UPDATE events SET outlier = 0, stream_ordering = ?, replaces_state = ? "
                                "WHERE event_id = ?", (position, replaces, event.event_id))
                txn.executemany("INSERT INTO event_edges (event_id, prev_event_id) VALUES (?, ?)",
                                [(event.event_id, p) for p in event.prev_event_ids])
                if b.before_from is not None and b.before_from in groups_after:
                    group_before = groups_after[b.before_from]
                elif b.state_group_before is not None:
                    group_before = b.state_group_before
                else:
                    group_before = self._state_groups.create_state_group_txn(txn, room_id, b.state_before)
                group_after = group_before
                if event.is_state():
                    group_after = self._state_groups.create_state_group_txn(
                        txn, room_id, {**b.state_before, event.state_tuple: event.event_id}, group_before)
                groups_after[event.event_id] = group_after
                self._state_groups.set_event_state_groups_txn(txn, event.event_id, group_before, group_after)
                self._relations.add_relation_txn(txn, event, position)
                if event.type == "m.room.redaction" and isinstance(event.redacts, str):
                    txn.execute("INSERT INTO redactions (event_id, redacts) VALUES (?, ?)",
                                (event.event_id, event.redacts))
                    self._relations.remove_relation_txn(txn, event.redacts)
                    txn.call_after_commit(lambda redacts=event.redacts: self._redaction_written(redacts))
                done.append(PersistedEvent(event, position))
            self._update_backward_extremities_txn(txn, room_id, [p.event for p in done])

            def after_commit() -> None:
                for persisted in done:
                    self._event_cache.set(persisted.event.event_id, persisted.event)
                    self._positions.set(persisted.event.event_id, persisted.stream_ordering)
                if done:
                    self._forget_settled_reads(room_id)

            txn.call_after_commit(after_commit)
            return done

        return await self._db.run("persist_backfilled", txn_fn)
