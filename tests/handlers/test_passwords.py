"""Password hashing runs on the CPU pool, at most MAX_CONCURRENT_HASHES at once (argon2 takes
memory as well as CPU); the others wait their turn and all finish."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from twisted.internet import defer
from twisted.trial import unittest

from homeserver.api.errors import LimitExceeded
from homeserver.handlers.passwords import MAX_CONCURRENT_HASHES, MAX_QUEUED_HASHES, PasswordHandler


class GatedPool:
    """A CpuPool whose jobs start only when the test opens their gate (then run in place)."""

    def __init__(self) -> None:
        self.gates: list[defer.Deferred] = []

    async def run(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        gate: defer.Deferred = defer.Deferred()
        self.gates.append(gate)
        await gate
        return fn(*args, **kwargs)


def config() -> Any:
    return SimpleNamespace(argon2_opslimit=1, argon2_memlimit=8192, password_policy={}, password_enabled=True)


class PasswordPoolTests(unittest.TestCase):
    def test_at_most_two_hashes_at_once(self) -> None:
        pool = GatedPool()
        handler = PasswordHandler(config(), pool)  # type: ignore[arg-type]
        hashes = [defer.ensureDeferred(handler.hash(f"pw{i}")) for i in range(5)]
        self.assertEqual(len(pool.gates), MAX_CONCURRENT_HASHES)
        self.assertEqual((handler.hasher.running, handler.hasher.waiting),
                         (MAX_CONCURRENT_HASHES, 5 - MAX_CONCURRENT_HASHES))
        opened = 0
        while opened < len(pool.gates):
            pool.gates[opened].callback(None)
            opened += 1
            self.assertLessEqual(handler.hasher.running, MAX_CONCURRENT_HASHES)
        self.assertEqual(opened, 5)
        results = [self.successResultOf(d) for d in hashes]
        self.assertTrue(all(r.startswith("$argon2id$") for r in results))
        verified = defer.ensureDeferred(handler.verify("pw3", results[3]))
        wrong = defer.ensureDeferred(handler.verify("pw3", results[0]))
        pool.gates[5].callback(None)
        pool.gates[6].callback(None)
        self.assertEqual((self.successResultOf(verified), self.successResultOf(wrong)), (True, False))
        self.assertEqual((handler.hasher.running, handler.hasher.waiting), (0, 0))

    def test_a_flood_beyond_the_queue_is_refused_not_queued(self) -> None:
        pool = GatedPool()
        handler = PasswordHandler(config(), pool)  # type: ignore[arg-type]
        queued = [defer.ensureDeferred(handler.verify("pw", "$argon2id$bad"))
                  for _ in range(MAX_CONCURRENT_HASHES + MAX_QUEUED_HASHES)]
        self.assertEqual(handler.hasher.waiting, MAX_QUEUED_HASHES)
        refused = defer.ensureDeferred(handler.hash("one too many"))
        self.assertEqual(self.failureResultOf(refused, LimitExceeded).value.retry_after_ms, 1000)
        opened = 0
        while opened < len(pool.gates):
            pool.gates[opened].callback(None)
            opened += 1
        self.assertEqual([self.successResultOf(d) for d in queued], [False] * len(queued))
        again = defer.ensureDeferred(handler.hash("pw"))  # room again: accepted
        pool.gates[-1].callback(None)
        self.assertTrue(self.successResultOf(again).startswith("$argon2id$"))
