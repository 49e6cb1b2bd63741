"""A bounded least-recently-used cache that counts its hits and misses, and never lets a read
that started before a change put the old value back.

The race it closes: a read misses the cache and goes to the database; meanwhile a write commits
and invalidates the key (which is not even in the cache yet); then the read comes back with what
it saw before the write and fills the cache with it. For an access token that was just revoked,
that would let it work again until evicted. So every fill of mutable data goes through a ticket
taken *before* the read (`reading()`, or `get_or_load`): the fill is dropped if the key (or the
whole cache) changed since the ticket was taken. Writers use `set`, `pop`, `pop_where` and
`clear`, which all count as changes.

Sizes: each cache is built with a base size (entries; for a cache with a `weigher`, the sum of
its entries' weights, e.g. state entries for the state groups cache), scaled by the configured
factor (`caches.per_cache_factors[name]`, else `caches.global_factor`: Synapse's shape). The
factors are set once at start-up by `configure_caches` (caches built before are resized). Hits,
misses and sizes are plain counters read by a Prometheus collector when it is scraped (a locked
Prometheus counter per lookup cost every /sync dozens of lock round-trips)."""

from __future__ import annotations

import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Iterator
from typing import Any, Generic, TypeVar

from prometheus_client.core import REGISTRY, CounterMetricFamily, GaugeMetricFamily
from twisted.internet import defer
from twisted.python.failure import Failure

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


_global_factor = 1.0
_per_cache_factors: dict[str, float] = {}
_base_sizes: dict[str, int] = {}  # configured base sizes (`event_cache_size`), over those built in
_caches: weakref.WeakSet[LruCache] = weakref.WeakSet()


def configure_caches(global_factor: float, per_cache_factors: dict[str, float],
                     base_sizes: dict[str, int] | None = None) -> None:
    """Set the size factors (config `caches`) and base sizes replacing those built in (config
    `event_cache_size`); every cache, also those already built, follows."""
    global _global_factor, _per_cache_factors, _base_sizes
    _global_factor = global_factor
    _per_cache_factors = dict(per_cache_factors)
    _base_sizes = dict(base_sizes or {})
    for cache in list(_caches):
        cache.resize()


def scaled_size(name: str, base_size: int) -> int:
    base = _base_sizes.get(name, base_size)
    return max(1, int(base * _per_cache_factors.get(name, _global_factor)))


def all_caches() -> list[LruCache]:
    return list(_caches)


class LruCache(Generic[K, V]):
    def __init__(self, name: str, max_size: int, weigher: Callable[[V], int] | None = None):
        self.name = name
        self._data: OrderedDict[K, V] = OrderedDict()
        self.base_size = max_size
        self._max_size = scaled_size(name, max_size)
        # Without a weigher every entry weighs 1 and `_weight` is the entry count.
        self._weigher = weigher
        self._weights: dict[K, int] = {}
        self._weight = 0
        self.hits = 0
        self.misses = 0
        # Change tracking for fills: a version per change, the version at which each key last
        # changed (kept only while reads are in flight), and the version of the last change to
        # every key at once.
        self._version = 0
        self._changed: dict[K, int] = {}
        self._all_changed = 0
        self._reads = 0
        _caches.add(self)

    def get(self, key: K, default: V | None = None) -> V | None:
        value = self._data.get(key, _MISSING)
        if value is _MISSING:
            self.misses += 1
            return default
        self.hits += 1
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
        if self._weigher is None:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self._max_size:
                self._data.popitem(last=False)
            return
        weight = max(1, self._weigher(value))
        self._remove(key)
        if weight > self._max_size:
            return  # bigger than the whole cache: not kept at all
        self._data[key] = value
        self._weights[key] = weight
        self._weight += weight
        self._evict()

    def _evict(self) -> None:
        if self._weigher is None:
            while len(self._data) > self._max_size:
                self._data.popitem(last=False)
            return
        while self._weight > self._max_size and self._data:
            key, _ = self._data.popitem(last=False)
            self._weight -= self._weights.pop(key)

    def _remove(self, key: K) -> None:
        if self._data.pop(key, _MISSING) is not _MISSING and self._weigher is not None:
            self._weight -= self._weights.pop(key)

    def pop(self, key: K) -> None:
        self._note_change(key)
        self._remove(key)

    def pop_where(self, predicate: Callable[[K, V], bool]) -> None:
        # The reads under way may be of keys that match: none of them may fill.
        self._note_change_of_all()
        for key in [k for k, v in self._data.items() if predicate(k, v)]:
            self._remove(key)

    def clear(self) -> None:
        self._note_change_of_all()
        self._data.clear()
        self._weights.clear()
        self._weight = 0

    def resize(self) -> None:
        """Follow the configured factors (see configure_caches)."""
        self._max_size = scaled_size(self.name, self.base_size)
        self._evict()

    @property
    def max_size(self) -> int:
        return self._max_size

    @property
    def size(self) -> int:
        """Entries, or the sum of their weights for a weighed cache."""
        return self._weight if self._weigher is not None else len(self._data)

    def __len__(self) -> int:
        return len(self._data)


async def uncancellable(work: Awaitable[V]) -> V:
    """Await `work` so that cancelling the caller stops only the waiting: `work` (a write, say)
    runs to its end regardless."""
    d = defer.ensureDeferred(work)  # type: ignore[arg-type]
    shield: defer.Deferred = defer.Deferred()
    d.chainDeferred(shield)
    return await shield  # type: ignore[no-any-return]


class SharedReads:
    """Identical reads asked for while one is under way share it: the many /syncs one event wakes
    ask the database once, not once each. A writer calls `changed()` after its commit: the reads
    then under way are detached, so a read asked for afterwards starts afresh and sees the write.
    A caller cancelled (its client gone) stops waiting; the read goes on for the others. Callers
    must not change what a read returns (it is shared)."""

    def __init__(self) -> None:
        self._flights: dict[Hashable, list[defer.Deferred]] = {}

    async def read(self, key: Hashable, fetch: Callable[[], Awaitable[V]]) -> V:
        waiting: defer.Deferred = defer.Deferred()
        waiters = self._flights.get(key)
        if waiters is not None:
            waiters.append(waiting)
            return await waiting  # type: ignore[no-any-return]
        waiters = self._flights[key] = [waiting]
        defer.ensureDeferred(self._run(key, waiters, fetch))
        return await waiting  # type: ignore[no-any-return]

    async def _run(self, key: Hashable, waiters: list[defer.Deferred], fetch: Callable[[], Awaitable[Any]]) -> None:
        try:
            value = await fetch()
        except Exception:
            outcome: Any = Failure()
            ok = False
        else:
            outcome, ok = value, True
        if self._flights.get(key) is waiters:
            del self._flights[key]
        for waiting in waiters:
            if not waiting.called:  # not a cancelled caller's
                waiting.callback(outcome) if ok else waiting.errback(outcome)

    def changed(self) -> None:
        self._flights.clear()


class _CacheCollector:
    """Prometheus: hits, misses, size and capacity of every cache, summed by cache name."""

    def collect(self) -> Iterator[Any]:
        hits = CounterMetricFamily("homeserver_cache_hits", "Cache hits", labels=["cache"])
        misses = CounterMetricFamily("homeserver_cache_misses", "Cache misses", labels=["cache"])
        size = GaugeMetricFamily("homeserver_cache_size", "Entries (or weight) held by a cache", labels=["cache"])
        capacity = GaugeMetricFamily("homeserver_cache_max_size", "What a cache may hold", labels=["cache"])
        totals: dict[str, list[int]] = {}
        for cache in list(_caches):
            t = totals.setdefault(cache.name, [0, 0, 0, 0])
            t[0] += cache.hits
            t[1] += cache.misses
            t[2] += cache.size
            t[3] += cache.max_size
        for name, (h, m, n, cap) in sorted(totals.items()):
            hits.add_metric([name], h)
            misses.add_metric([name], m)
            size.add_metric([name], n)
            capacity.add_metric([name], cap)
        yield from (hits, misses, size, capacity)


REGISTRY.register(_CacheCollector())
