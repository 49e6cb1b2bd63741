"""Run async work one at a time per key (e.g. per room), keys in parallel."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from twisted.internet import defer


class Linearizer:
    def __init__(self) -> None:
        self._locks: dict[str, tuple[defer.DeferredLock, int]] = {}

    @asynccontextmanager
    async def queue(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (None, 0))
        if lock is None:
            lock = defer.DeferredLock()
        self._locks[key] = (lock, users + 1)
        await lock.acquire()
        try:
            yield
        finally:
            lock.release()
            lock_now, users_now = self._locks[key]
            if users_now <= 1:
                del self._locks[key]  # nobody else waits: forget the key
            else:
                self._locks[key] = (lock_now, users_now - 1)
