"""Token-bucket rate limits keyed by user or IP address (`rc_*` options)."""

from __future__ import annotations

from typing import Any

from homeserver.api.errors import LimitExceeded
from homeserver.clock import Clock


class RateLimiter:
    """`burst_count` requests at once, refilled at `per_second`. Buckets that have filled up
    again are forgotten, so memory stays bounded by the number of recently active keys."""

    def __init__(self, clock: Clock, settings: dict[str, Any]):
        self._clock = clock
        self.per_second = float(settings["per_second"])
        self.burst_count = float(settings["burst_count"])
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, last refill time)
        self._last_prune = 0.0

    def _tokens(self, key: str, now: float) -> float:
        tokens, last = self._buckets.get(key, (self.burst_count, now))
        return min(self.burst_count, tokens + (now - last) * self.per_second)

    def check(self, key: str, update: bool = True) -> None:
        """Take one token for `key`, or raise 429 M_LIMIT_EXCEEDED with `retry_after_ms`."""
        now = self._clock.time()
        self._prune(now)
        tokens = self._tokens(key, now)
        if tokens < 1:
            wait = (1 - tokens) / self.per_second if self.per_second > 0 else 3600
            raise LimitExceeded(int(wait * 1000) + 1)
        if update:
            self._buckets[key] = (tokens - 1, now)

    def record(self, key: str) -> None:
        """Take a token without checking (e.g. count a failure after the fact)."""
        now = self._clock.time()
        self._buckets[key] = (self._tokens(key, now) - 1, now)

    def _prune(self, now: float) -> None:
        if now - self._last_prune < 60:
            return
        self._last_prune = now
        for key in [k for k in self._buckets if self._tokens(k, now) >= self.burst_count]:
            del self._buckets[key]
