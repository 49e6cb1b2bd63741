"""State groups: a room's state at any event, stored as snapshots plus short chains of deltas.

A state is a mapping (type, state_key) -> event_id. Groups never change once written, so their
states are cached freely. Storing a new state costs only its difference from the previous
group; every MAX_DELTA_DEPTH deltas a full snapshot bounds the rows read to rebuild a state."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeserver.storage.database import IN_CHUNK, Database, Transaction
from homeserver.storage.ids import IdGenerator
from homeserver.util.caches import LruCache

StateKey = tuple[str, str]
StateMap = Mapping[StateKey, str]

MAX_DELTA_DEPTH = 50

class StateGroupsStore:
    def __init__(self, db: Database):
        self._db = db
        self._ids = IdGenerator("state_groups", "id")
        # group -> (its state, delta depth); states are shared, never mutated. Weighed by state
        # entries: a room of 2,000 members joining one by one makes 2,000 groups of up to 2,000
        # entries each, which a count of groups would not bound.
        self._cache: LruCache[int, tuple[dict[StateKey, str], int]] = LruCache(
            "state_groups", 500_000, weigher=lambda v: len(v[0]))
        # event_id -> (group before, group after): written once, never changed, read by every sync.
        self._event_groups: LruCache[str, tuple[int, int]] = LruCache("event_state_groups", 100_000)
        # (group, group) -> what the second has that the first has not: every sync woken by the same
        # event in a big room asks for the same change, which would cost a walk of the whole state each.
        self._deltas: LruCache[tuple[int | None, int | None], dict[StateKey, str]] = LruCache(
            "state_deltas", 100_000, weigher=len)

    async def load(self) -> None:
        await self._ids.load(self._db)

    def forget_purged(self, event_ids: list[str]) -> None:
        """A room's groups were deleted (admin API purge): forget its events' groups and every
        cached group (their IDs are never reused, so this is only memory)."""
        for event_id in event_ids:
            self._event_groups.pop(event_id)
        self._cache.clear()

    # -- writing --------------------------------------------------------------------------------

    async def create_state_group(self, room_id: str, state: StateMap, prev_group: int | None = None) -> int:
        return await self._db.run("create_state_group", self.create_state_group_txn, room_id, state, prev_group)

    def create_state_group_txn(
        self, txn: Transaction, room_id: str, state: StateMap, prev_group: int | None = None
    ) -> int:
        """Store `state` as a new group: a delta against `prev_group` when given and its chain is
        short enough, else a snapshot. Reference it in the same transaction (see
        delete_unreferenced_state_groups)."""
        group_id = self._ids.next()
        state = dict(state)
        depth = 0
        rows: list[tuple[Any, ...]]
        if prev_group is not None:
            prev_state, prev_depth = self._get_state_txn(txn, prev_group)
            if prev_depth < MAX_DELTA_DEPTH:
                depth = prev_depth + 1
                rows = [(group_id, t, sk, eid) for (t, sk), eid in state.items() if prev_state.get((t, sk)) != eid]
                rows += [(group_id, t, sk, None) for (t, sk) in prev_state.keys() - state.keys()]
        if depth == 0:
            prev_group = None
            rows = [(group_id, t, sk, eid) for (t, sk), eid in state.items()]
        txn.execute("INSERT INTO state_groups (id, room_id, prev_group, delta_depth) VALUES (?, ?, ?, ?)",
                    (group_id, room_id, prev_group, depth))
        if rows:
            txn.executemany(
                "INSERT INTO state_group_entries (state_group, type, state_key, event_id) VALUES (?, ?, ?, ?)",
                rows,
            )
        txn.call_after_commit(lambda: self._cache.set(group_id, (state, depth)))
        return group_id

    def set_event_state_groups_txn(self, txn: Transaction, event_id: str, before: int, after: int) -> None:
        txn.execute(
            "INSERT INTO event_to_state_groups (event_id, state_group_before, state_group_after) VALUES (?, ?, ?)",
            (event_id, before, after),
        )
        txn.call_after_commit(lambda: self._event_groups.set(event_id, (before, after)))

    # -- reading --------------------------------------------------------------------------------

    async def get_state(self, group: int) -> dict[StateKey, str]:
        """The state of a group. The dict is shared with the cache: do not modify it."""
        cached = self._cache.get(group)
        if cached is not None:
            return cached[0]
        state, _ = await self._db.run("get_state_group", self._get_state_txn, group)
        return state

    async def get_state_delta(self, before: int | None, after: int | None) -> dict[StateKey, str]:
        """The entries of group `after`'s state that differ from group `before`'s (None: no state).
        Shared with the cache: do not modify it."""
        if before == after:
            return {}
        key = (before, after)
        cached = self._deltas.get(key)
        if cached is not None:
            return cached
        old = await self.get_state(before) if before is not None else {}
        new = await self.get_state(after) if after is not None else {}
        delta = {k: v for k, v in new.items() if old.get(k) != v}
        self._deltas.set(key, delta)  # groups never change: nothing can make this stale
        return delta

    def _get_state_txn(self, txn: Transaction, group: int) -> tuple[dict[StateKey, str], int]:
        # Runs in a database thread: only peek at the cache; it is filled after commit.
        cached = self._cache.peek(group)
        if cached is not None:
            return cached
        # The chain from this group back to its snapshot, newest first; stop at a cached group.
        chain: list[tuple[int, int]] = []  # (group, depth)
        base: tuple[dict[StateKey, str], int] | None = None
        current: int | None = group
        while current is not None:
            hit = self._cache.peek(current) if current != group else None
            if hit is not None:
                base = hit
                break
            row = txn.execute("SELECT prev_group, delta_depth FROM state_groups WHERE id = ?", (current,)).fetchone()
            if row is None:
                raise KeyError(f"Unknown state group {current}")
            chain.append((current, row[1]))
            current = row[0]
        state: dict[StateKey, str] = dict(base[0]) if base else {}
        entries = self._entries_txn(txn, [g for g, _ in chain])
        for g, depth in reversed(chain):  # oldest first: snapshot (or cached base), then deltas
            for key, event_id in entries.get(g, ()):
                if event_id is None:
                    state.pop(key, None)
                else:
                    state[key] = event_id
            result = (dict(state), depth)
            txn.call_after_commit(lambda g=g, result=result: self._cache.set(g, result))
        return state, chain[0][1] if chain else base[1]  # type: ignore[index]

    def _entries_txn(self, txn: Transaction, groups: list[int]) -> dict[int, list[tuple[StateKey, str | None]]]:
        out: dict[int, list[tuple[StateKey, str | None]]] = {}
        rows = txn.select_in(
            "SELECT state_group, type, state_key, event_id FROM state_group_entries WHERE state_group {in}", groups)
        for g, t, sk, eid in rows:
            out.setdefault(g, []).append(((t, sk), eid))
        return out

    async def get_event_state_groups(self, event_ids: list[str]) -> dict[str, tuple[int, int]]:
        """event_id -> (group of the state before it, group of the state after it)."""
        out: dict[str, tuple[int, int]] = {}
        missing = []
        for event_id in event_ids:
            cached = self._event_groups.get(event_id)
            if cached is None:
                missing.append(event_id)
            else:
                out[event_id] = cached

        def txn_fn(txn: Transaction) -> dict[str, tuple[int, int]]:
            rows = txn.select_in(
                "SELECT event_id, state_group_before, state_group_after FROM event_to_state_groups "
                "WHERE event_id {in}", missing)
            return {eid: (before, after) for eid, before, after in rows}

        if missing:
            found = await self._db.run("get_event_state_groups", txn_fn)
            for event_id, groups in found.items():
                self._event_groups.set(event_id, groups)
            out.update(found)
        return out

    # -- clean-up -------------------------------------------------------------------------------

    async def delete_unreferenced_state_groups(self, room_id: str) -> int:
        """Delete the room's groups that no event refers to and that no referenced group is built
        on. Callers must not run this while a group of the room is being created and referenced
        in separate transactions (the room's event persister serialises both)."""

        def txn_fn(txn: Transaction) -> list[int]:
            groups = dict(txn.execute("SELECT id, prev_group FROM state_groups WHERE room_id = ?",
                                      (room_id,)).fetchall())
            keep: set[int] = set()
            for (g,) in txn.execute(
                "SELECT DISTINCT e.state_group_before FROM event_to_state_groups e "
                "JOIN state_groups g ON g.id = e.state_group_before WHERE g.room_id = ? "
                "UNION SELECT DISTINCT e.state_group_after FROM event_to_state_groups e "
                "JOIN state_groups g ON g.id = e.state_group_after WHERE g.room_id = ?",
                (room_id, room_id),
            ).fetchall():
                while g is not None and g not in keep:  # a referenced group and its delta chain
                    keep.add(g)
                    g = groups.get(g)
            doomed = [g for g in groups if g not in keep]
            for i in range(0, len(doomed), IN_CHUNK):
                chunk = doomed[i:i + IN_CHUNK]
                marks = ",".join("?" * len(chunk))
                txn.execute(f"DELETE FROM state_group_entries WHERE state_group IN ({marks})", chunk)
            # Children before parents: a group's prev_group must exist while the group does.
            for g in sorted(doomed, reverse=True):
                txn.execute("DELETE FROM state_groups WHERE id = ?", (g,))
            return doomed

        doomed = await self._db.run("delete_unreferenced_state_groups", txn_fn)
        for g in doomed:
            self._cache.pop(g)
        return len(doomed)
