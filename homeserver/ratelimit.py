"""Token-bucket rate limits keyed by user or IP address (`rc_*` options)."""

from __future__ import annotations

from dataclasses import dataclass
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

    def check(self, key: str, update: bool = True, n: int = 1) -> None:
        """Take `n` tokens for `key`, or raise 429 M_LIMIT_EXCEEDED with `retry_after_ms`."""
        now = self._clock.time()
        self._prune(now)
        tokens = self._tokens(key, now)
        if tokens < n:
            wait = (n - tokens) / self.per_second if self.per_second > 0 else 3600
            raise LimitExceeded(int(wait * 1000) + 1)
        if update:
            self._buckets[key] = (tokens - n, now)

    def allows(self, key: str) -> bool:
        """Take one token for `key` if there is one; False (and nothing taken) if not. For limits
        whose excess is dropped quietly rather than refused."""
        try:
            self.check(key)
        except LimitExceeded:
            return False
        return True

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


def check_all(*checks: tuple[RateLimiter, str, int]) -> None:
    """Several limits on one action: (limiter, key, n) each. Tokens are taken only when every
    limit allows the action, so a refusal by one costs nothing from the others."""
    for limiter, key, n in checks:
        limiter.check(key, update=False, n=n)
    for limiter, key, n in checks:
        limiter.check(key, n=n)


@dataclass
class MembershipLimiters:
    """Synapse's rc_joins, rc_joins_per_room, rc_invites and rc_room_creation."""

    join_local: RateLimiter
    join_remote: RateLimiter
    join_per_room: RateLimiter
    invite_per_room: RateLimiter
    invite_per_user: RateLimiter
    invite_per_issuer: RateLimiter
    room_creation: RateLimiter
