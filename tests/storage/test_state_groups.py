"""State groups: snapshots plus bounded delta chains; rows grow with changes, not with state size."""

import os
import tempfile

from twisted.internet import reactor
from twisted.trial import unittest

from homeserver.storage import state_groups
from homeserver.storage.database import Database
from homeserver.storage.engines import create_engine
from homeserver.storage.prepare import prepare_database
from homeserver.storage.state_groups import MAX_DELTA_DEPTH, StateGroupsStore
from tests.server import postgres_args, reset_postgres_schema, use_postgres

ROOM = "!room:test"


class StateGroupsTest(unittest.TestCase):
    async def asyncSetUp(self) -> None:
        if use_postgres():
            reset_postgres_schema()
            engine = create_engine("psycopg2", postgres_args())
        else:
            engine = create_engine("sqlite3", {"database": os.path.join(tempfile.mkdtemp(), "t.db")})
        self.db = Database(engine, reactor)
        self.db.start()
        self.addCleanup(self.db.stop)
        await prepare_database(self.db)
        self.store = StateGroupsStore(self.db)
        await self.store.load()

    def setUp(self):
        from twisted.internet import defer

        return defer.ensureDeferred(self.asyncSetUp())

    async def count(self, table: str) -> int:
        return (await self.db.execute("count", f"SELECT COUNT(*) FROM {table}"))[0][0]

    async def persist(self, event_id: str, state: dict, prev_group: int | None) -> int:
        def txn_fn(txn):
            group = self.store.create_state_group_txn(txn, ROOM, state, prev_group)
            self.store.set_event_state_groups_txn(txn, event_id, prev_group or group, group)
            return group

        return await self.db.run("persist", txn_fn)

    async def test_deltas_and_reads(self) -> None:
        s1 = {("m.room.create", ""): "$create", ("m.room.member", "@a:test"): "$join_a"}
        g1 = await self.persist("$e1", s1, None)
        s2 = {**s1, ("m.room.topic", ""): "$topic"}
        g2 = await self.persist("$e2", s2, g1)
        s3 = dict(s2)
        del s3[("m.room.topic", "")]
        s3[("m.room.member", "@a:test")] = "$leave_a"
        g3 = await self.persist("$e3", s3, g2)
        # Read back without the cache: every row comes from the database.
        self.store._cache.clear()
        self.assertEqual(await self.store.get_state(g1), s1)
        self.assertEqual(await self.store.get_state(g3), s3)
        self.assertEqual(await self.store.get_state(g2), s2)
        rows = await self.db.execute("rows", "SELECT state_group, COUNT(*) FROM state_group_entries "
                                             "GROUP BY state_group ORDER BY state_group")
        self.assertEqual(rows, [(g1, 2), (g2, 1), (g3, 2)])
        self.assertEqual(await self.store.get_event_state_groups(["$e2", "$e3", "$nope"]),
                         {"$e2": (g1, g2), "$e3": (g2, g3)})

    async def test_thousand_state_changes_are_not_thousand_copies(self) -> None:
        state = {("m.room.create", ""): "$create"}
        group = await self.persist("$create", state, None)
        for i in range(1000):
            state = dict(state)
            state[("m.room.member", f"@user{i}:test")] = f"$join{i}"
            group = await self.persist(f"$join{i}", state, group)
        self.store._cache.clear()
        self.assertEqual(await self.store.get_state(group), state)
        entries = await self.count("state_group_entries")
        full_copies = sum(range(2, 1002))  # what a copy of the whole state per event would store
        # One row per change, plus a snapshot every MAX_DELTA_DEPTH changes.
        snapshots = sum(n for n in range(1, 1002) if (n - 1) % (MAX_DELTA_DEPTH + 1) == 0)
        self.assertEqual(await self.count("state_groups"), 1001)
        self.assertLess(entries, 1001 + snapshots + 1)
        self.assertLess(entries * 20, full_copies)

    async def test_chain_depth_is_bounded(self) -> None:
        group = await self.persist("$e0", {("t", ""): "$0"}, None)
        for i in range(1, MAX_DELTA_DEPTH * 3):
            group = await self.persist(f"$e{i}", {("t", ""): f"${i}"}, group)
        depths = [r[0] for r in await self.db.execute("d", "SELECT delta_depth FROM state_groups")]
        self.assertEqual(max(depths), MAX_DELTA_DEPTH)
        self.assertEqual(depths.count(0), 3)

    async def test_delete_unreferenced_groups(self) -> None:
        s1 = {("m.room.create", ""): "$create"}
        g1 = await self.persist("$e1", s1, None)
        g2 = await self.persist("$e2", {**s1, ("a", ""): "$a"}, g1)
        # A group nothing refers to (a discarded fork), and one built on it.
        orphan = await self.store.create_state_group(ROOM, {**s1, ("b", ""): "$b"}, g2)
        orphan_child = await self.store.create_state_group(ROOM, {**s1, ("c", ""): "$c"}, orphan)
        other_room = await self.store.create_state_group("!other:test", s1)
        deleted = await self.store.delete_unreferenced_state_groups(ROOM)
        self.assertEqual(deleted, 2)
        remaining = {r[0] for r in await self.db.execute("g", "SELECT id FROM state_groups")}
        self.assertEqual(remaining, {g1, g2, other_room})
        self.assertNotIn(orphan_child, remaining)
        self.store._cache.clear()
        self.assertEqual(await self.store.get_state(g2), {**s1, ("a", ""): "$a"})

    def test_constants(self) -> None:
        self.assertGreater(state_groups.MAX_DELTA_DEPTH, 1)
