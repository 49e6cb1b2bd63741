"""A bounded least-recently-used cache that counts its hits and misses, and never lets a read
that started before a change put the old value back.

The race it closes: a read misses the cache and goes to the database; meanwhile a write commits
and invalidates the key (which is not even in the cache yet); then the read comes back with what
it saw before the write and fills the cache with it. For an access token that was just revoked,
that would let it work again until evicted. So every fill of mutable data goes through a ticket
taken *before* the read (`reading()`, or `get_or_load`): the fill is dropped if the key (or the
whole cache) changed since the ticket was taken. Writers use `set`, `pop`, `pop_where` and
`clear`, which all count as changes."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Generic, TypeVar

from homeserver import metrics

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
_MISSING: Any = object()


class CacheRead(Generic[K, V]):
    """A ticket for one read from the database into a cache: `with cache.reading() as read:`
    around the read, then `read.fill(key, value)`."""

    __slots__ = ("_cache", "version")

    def __init__(self, cache: LruCache[K, V]):
        self._cache = cache
        self.version = cache._version

    def fill(self, key: K, value: V) -> bool:
        """Cache what the read found, unless the key changed since the ticket was taken."""
        return self._cache._fill(key, value, self.version)

    def __enter__(self) -> CacheRead[K, V]:
        self._cache._reads += 1
        return self

    def __exit__(self, *exc: object) -> None:
        self._cache._end_read()


class LruCache(Generic[K, V]):
    def __init__(self, name: str, max_size: int):
        self._data: OrderedDict[K, V] = OrderedDict()
        self._max_size = max_size
        self._hits = metrics.cache_hits.labels(name)
        self._misses = metrics.cache_misses.labels(name)
        # Change tracking for fills: a version per change, the version at which each key last
        # changed (kept only while reads are in flight), and the version of the last change to
        # every key at once.
        self._version = 0
        self._changed: dict[K, int] = {}
        self._all_changed = 0
        self._reads = 0

    def get(self, key: K, default: V | None = None) -> V | None:
        value = self._data.get(key, _MISSING)
        if value is _MISSING:
            self._misses.inc()
            return default
        self._hits.inc()
        self._data.move_to_end(key)
        return value  # type: ignore[no-any-return]

    def peek(self, key: K) -> V | None:
        """Look without touching recency or counters: safe from a database thread (a single
        dict read), where get() could race with the reactor thread's changes."""
        return self._data.get(key)

    # -- reads that fill the cache ----------------------------------------------------------------

    def reading(self) -> CacheRead[K, V]:
        """A ticket to take before reading what will fill the cache (see the module's doc)."""
        return CacheRead(self)

    async def get_or_load(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        """The cached value, or `load()`'s (cached unless the key changed meanwhile). A value of
        None is returned but not cached."""
        value = self.get(key, _MISSING)
        if value is not _MISSING:
            return value  # type: ignore[return-value]
        with self.reading() as read:
            value = await load()
            if value is not None:
                read.fill(key, value)
        return value

    def _fill(self, key: K, value: V, version: int) -> bool:
        if version < self._all_changed or version < self._changed.get(key, -1):
            return False
        self._store(key, value)
        return True

    def _end_read(self) -> None:
        self._reads -= 1
        if self._reads == 0:
            self._changed.clear()

    # -- writes --------------------------------------------------------------------------------

    def _note_change(self, key: K) -> None:
        self._version += 1
        if self._reads:
            self._changed[key] = self._version
            if len(self._changed) > max(1024, self._max_size):
                # Bounded bookkeeping under constant reads: count it as a change of everything.
                self._note_change_of_all()

    def _note_change_of_all(self) -> None:
        self._version += 1
        self._all_changed = self._version
        self._changed.clear()

    def set(self, key: K, value: V) -> None:
        """A writer's value (after its commit): authoritative, and a change for reads under way."""
        self._note_change(key)
        self._store(key, value)

    def _store(self, key: K, value: V) -> None:
        self._data[key] = value
        self._data.move_to_end(key)
        while len(self._data) > self._max_size:
            self._data.popitem(last=False)

    def pop(self, key: K) -> None:
        self._note_change(key)
        self._data.pop(key, None)

    def pop_where(self, predicate: Callable[[K, V], bool]) -> None:
        # The reads under way may be of keys that match: none of them may fill.
        self._note_change_of_all()
        for key in [k for k, v in self._data.items() if predicate(k, v)]:
            del self._data[key]

    def clear(self) -> None:
        self._note_change_of_all()
        self._data.clear()

    def __len__(self) -> int:
        return len(self._data)
