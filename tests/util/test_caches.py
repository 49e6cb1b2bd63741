"""LruCache: fills from reads that started before a change are dropped (the cache never brings back
what a writer deleted), in the cache itself and through a real token revocation racing a read."""

from __future__ import annotations

from typing import Any

from twisted.internet import defer
from twisted.trial import unittest

from homeserver.config import Config
from homeserver.util.caches import LruCache, SharedReads, all_caches, configure_caches
from tests.rest.test_account import password_auth
from tests.server import HomeserverTestCase

WHOAMI = "/_matrix/client/v3/account/whoami"


class CacheSizeTest(unittest.TestCase):
    def setUp(self) -> None:
        self.addCleanup(configure_caches, 1.0, {})

    def test_weighed_cache_is_bounded_by_weight(self) -> None:
        cache: LruCache[str, str] = LruCache("weighed", 10, weigher=len)
        cache.set("a", "xxxx")
        cache.set("b", "xxxxx")
        cache.set("c", "xx")  # 11 > 10: the oldest goes
        self.assertEqual((cache.get("a"), cache.size, len(cache)), (None, 7, 2))
        cache.set("b", "x")  # replaced: its old weight is given back
        self.assertEqual(cache.size, 3)
        cache.set("huge", "x" * 11)  # heavier than the whole cache: not kept, nothing evicted for it
        self.assertEqual((cache.get("huge"), cache.size), (None, 3))
        cache.pop("c")
        cache.pop_where(lambda k, v: k == "b")
        self.assertEqual((cache.size, len(cache)), (0, 0))

    def test_factors_resize_caches_built_before_and_after(self) -> None:
        before: LruCache[int, int] = LruCache("sized", 100)
        for i in range(100):
            before.set(i, i)
        configure_caches(0.5, {"other": 3.0})
        self.assertEqual((before.max_size, len(before)), (50, 50))
        self.assertIsNone(before.get(0))  # the least recently used went
        self.assertEqual(before.get(99), 99)
        self.assertEqual(LruCache("other", 100).max_size, 300)
        configure_caches(1.0, {}, {"sized": 10})
        self.assertEqual((before.max_size, len(before)), (10, 10))

    def test_config_sizes_every_cache_of_a_server(self) -> None:
        config = Config(
            {
                "server_name": "example.com",
                "event_cache_size": "1K",
                "caches": {"global_factor": 0.25, "per_cache_factors": {"access_tokens": 2}},
            },
            "/tmp",
        )
        self.assertEqual((config.event_cache_size, config.cache_global_factor), (1024, 0.25))
        configure_caches(
            config.cache_global_factor, config.cache_factors, {"events": config.event_cache_size}
        )
        tokens = LruCache("access_tokens", 50_000)
        events = LruCache("events", 50_000)
        self.assertEqual((tokens.max_size, events.max_size), (100_000, 256))
        self.assertIn(tokens, all_caches())


class SharedReadsTest(unittest.TestCase):
    def test_identical_reads_share_one_fetch_until_a_change(self) -> None:
        reads = SharedReads()
        fetches: list[defer.Deferred] = []

        def fetch() -> defer.Deferred:
            fetches.append(defer.Deferred())
            return fetches[-1]

        first = defer.ensureDeferred(reads.read("k", fetch))
        second = defer.ensureDeferred(reads.read("k", fetch))
        cancelled = defer.ensureDeferred(reads.read("k", fetch))
        other_key = defer.ensureDeferred(reads.read("j", fetch))
        self.assertEqual(len(fetches), 2)
        cancelled.cancel()  # its client went away: the others still get the answer
        self.failureResultOf(cancelled, defer.CancelledError)
        reads.changed()  # a write committed: a read asked for now must not join the old one
        after_write = defer.ensureDeferred(reads.read("k", fetch))
        self.assertEqual(len(fetches), 3)
        fetches[0].callback("old")
        self.assertEqual((self.successResultOf(first), self.successResultOf(second)), ("old", "old"))
        self.assertNoResult(after_write)
        fetches[2].callback("new")
        self.assertEqual(self.successResultOf(after_write), "new")
        fetches[1].errback(ValueError("boom"))
        self.failureResultOf(other_key, ValueError)


class LruCacheTicketTest(unittest.TestCase):
    def test_fill_without_change(self) -> None:
        cache: LruCache[str, int] = LruCache("t", 10)
        with cache.reading() as read:
            self.assertTrue(read.fill("a", 1))
        self.assertEqual(cache.get("a"), 1)

    def test_fill_after_pop_of_same_key_is_dropped(self) -> None:
        cache: LruCache[str, int] = LruCache("t", 10)
        with cache.reading() as read:
            cache.pop("a")  # the writer commits while the read is under way
            self.assertFalse(read.fill("a", 1))
        self.assertIsNone(cache.get("a"))

    def test_change_of_another_key_does_not_block(self) -> None:
        cache: LruCache[str, int] = LruCache("t", 10)
        with cache.reading() as read:
            cache.pop("b")
            self.assertTrue(read.fill("a", 1))

    def test_set_during_read_wins(self) -> None:
        cache: LruCache[str, int] = LruCache("t", 10)
        with cache.reading() as read:
            cache.set("a", 2)
            self.assertFalse(read.fill("a", 1))
        self.assertEqual(cache.get("a"), 2)

    def test_clear_and_pop_where_block_every_key(self) -> None:
        for change in (lambda c: c.clear(), lambda c: c.pop_where(lambda k, v: False)):
            cache: LruCache[str, int] = LruCache("t", 10)
            with cache.reading() as read:
                change(cache)
                self.assertFalse(read.fill("x", 1))
            self.assertEqual(len(cache), 0)

    def test_ticket_taken_after_change_fills(self) -> None:
        cache: LruCache[str, int] = LruCache("t", 10)
        with cache.reading():
            cache.pop("a")
            with cache.reading() as later:
                self.assertTrue(later.fill("a", 3))
        self.assertEqual(cache.get("a"), 3)

    def test_overlapping_reads_each_judged_by_own_start(self) -> None:
        cache: LruCache[str, int] = LruCache("t", 10)
        first = cache.reading().__enter__()
        cache.pop("a")
        second = cache.reading().__enter__()
        self.assertFalse(first.fill("a", 1))
        first.__exit__()
        self.assertTrue(second.fill("a", 2))
        second.__exit__()
        self.assertEqual(cache.get("a"), 2)

    def test_bookkeeping_is_bounded(self) -> None:
        cache: LruCache[int, int] = LruCache("t", 4)
        with cache.reading() as read:
            for i in range(5000):
                cache.pop(i)
            self.assertLessEqual(len(cache._changed), 1024)
            self.assertFalse(read.fill(4999, 1))  # an overflow counts as a change of everything

    async def test_get_or_load_does_not_cache_a_load_that_raced_a_pop(self) -> None:
        cache: LruCache[str, int] = LruCache("t", 10)
        gate: defer.Deferred[int] = defer.Deferred()
        pending = defer.ensureDeferred(cache.get_or_load("a", lambda: gate))
        cache.pop("a")
        gate.callback(1)
        self.assertEqual(await pending, 1)  # the reader gets what it read ...
        self.assertIsNone(cache.get("a"))  # ... but the cache does not keep it
        self.assertEqual(await cache.get_or_load("a", lambda: defer.succeed(2)), 2)
        self.assertEqual(cache.get("a"), 2)
        self.assertIsNone(await cache.get_or_load("n", lambda: defer.succeed(None)))
        self.assertEqual(len(cache), 1)  # None is not cached


class TokenReadRacingRevocationTest(HomeserverTestCase):
    """A token read that starts before a revocation commits and ends after it (what PostgreSQL's
    concurrent transactions allow) must not put the revoked token back into the cache."""

    async def _race(self, victim: str, revoke: Any) -> None:
        self.hs.tokens_store._access_cache.clear()
        db = self.hs.database
        real_execute = db.execute
        held: list[tuple[defer.Deferred, list]] = []

        async def execute(desc: str, sql: str, *args: Any) -> list[tuple]:
            rows = await real_execute(desc, sql, *args)
            if desc == "get_access_token" and not held:
                gate: defer.Deferred = defer.Deferred()
                held.append((gate, rows))
                return await gate  # the read has seen the row; its answer is delayed
            return rows

        db.execute = execute  # type: ignore[method-assign]
        try:
            racing = defer.ensureDeferred(self.get(WHOAMI, token=victim))
            await self.pump_until(lambda: bool(held))
            await revoke()
            gate, rows = held[0]
            gate.callback(rows)
            await racing  # it started before the revocation: whatever it answers, it must not re-cache
        finally:
            db.execute = real_execute  # type: ignore[method-assign]
        self.assert_error(await self.get(WHOAMI, token=victim), 401, "M_UNKNOWN_TOKEN")

    async def test_logout(self) -> None:
        me = await self.register("alice", password="pw")

        async def revoke() -> None:
            self.assertEqual((await self.post("/_matrix/client/v3/logout", token=me["access_token"])).code, 200)

        await self._race(me["access_token"], revoke)

    async def test_logout_all(self) -> None:
        me = await self.register("alice", password="pw")
        other = await self.login("alice", "pw")

        async def revoke() -> None:
            r = await self.post("/_matrix/client/v3/logout/all", token=other["access_token"])
            self.assertEqual(r.code, 200)

        await self._race(me["access_token"], revoke)

    async def test_device_deletion(self) -> None:
        me = await self.register("alice", password="pw")
        other = await self.login("alice", "pw")
        path = f"/_matrix/client/v3/devices/{me['device_id']}"

        async def revoke() -> None:
            first = await self.request("DELETE", path, {}, token=other["access_token"])
            r = await self.request("DELETE", path, {"auth": password_auth(first.json["session"], "pw")},
                                   token=other["access_token"])
            self.assertEqual(r.code, 200, r.json)

        await self._race(me["access_token"], revoke)

    async def test_password_change(self) -> None:
        me = await self.register("alice", password="pw")
        other = await self.login("alice", "pw")
        path = "/_matrix/client/v3/account/password"

        async def revoke() -> None:
            first = await self.post(path, {"new_password": "new"}, token=other["access_token"])
            r = await self.post(path, {"new_password": "new", "auth": password_auth(first.json["session"], "pw")},
                                token=other["access_token"])
            self.assertEqual(r.code, 200, r.json)

        await self._race(me["access_token"], revoke)

    async def test_deactivation(self) -> None:
        me = await self.register("alice", password="pw")
        other = await self.login("alice", "pw")
        path = "/_matrix/client/v3/account/deactivate"

        async def revoke() -> None:
            first = await self.post(path, {}, token=other["access_token"])
            r = await self.post(path, {"auth": password_auth(first.json["session"], "pw")},
                                token=other["access_token"])
            self.assertEqual(r.code, 200, r.json)

        await self._race(me["access_token"], revoke)
