"""A bounded least-recently-used cache that counts its hits and misses."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from homeserver import metrics

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
_MISSING = object()


class LruCache(Generic[K, V]):
    def __init__(self, name: str, max_size: int):
        self._data: OrderedDict[K, V] = OrderedDict()
        self._max_size = max_size
        self._hits = metrics.cache_hits.labels(name)
        self._misses = metrics.cache_misses.labels(name)

    def get(self, key: K, default: V | None = None) -> V | None:
        value = self._data.get(key, _MISSING)
        if value is _MISSING:
            self._misses.inc()
            return default
        self._hits.inc()
        self._data.move_to_end(key)
        return value  # type: ignore[return-value]

    def peek(self, key: K) -> V | None:
        """Look without touching recency or counters: safe from a database thread (a single
        dict read), where get() could race with the reactor thread's changes."""
        return self._data.get(key)

    def set(self, key: K, value: V) -> None:
        self._data[key] = value
        self._data.move_to_end(key)
        while len(self._data) > self._max_size:
            self._data.popitem(last=False)

    def pop(self, key: K) -> None:
        self._data.pop(key, None)

    def pop_where(self, predicate: Callable[[K, V], bool]) -> None:
        for key in [k for k, v in self._data.items() if predicate(k, v)]:
            del self._data[key]

    def clear(self) -> None:
        self._data.clear()

    def __len__(self) -> int:
        return len(self._data)
