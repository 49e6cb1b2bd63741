"""Per-destination backoff: after a server fails to answer, requests to it fail at once (no DNS,
no connection) until its retry time; each further failure doubles the wait, up to a cap; any
answer from it, or a request from it to us, resets it."""

from __future__ import annotations

from dataclasses import dataclass

from homeserver.clock import Clock

INITIAL_BACKOFF_MS = 10_000
MAX_BACKOFF_MS = 3600_000
MAX_TRACKED = 100_000


@dataclass
class BackoffState:
    failures: int
    interval_ms: int
    retry_at_ms: int


class Backoff:
    def __init__(self, clock: Clock, initial_ms: int = INITIAL_BACKOFF_MS, max_ms: int = MAX_BACKOFF_MS):
        self._clock = clock
        self._initial_ms = initial_ms
        self._max_ms = max_ms
        self._states: dict[str, BackoffState] = {}

    def retry_at(self, destination: str) -> int | None:
        """When the destination may be tried again, if that is later than now."""
        state = self._states.get(destination)
        if state is None or state.retry_at_ms <= self._clock.time_msec():
            return None
        return state.retry_at_ms

    def state(self, destination: str) -> BackoffState | None:
        return self._states.get(destination)

    def failed(self, destination: str) -> None:
        now = self._clock.time_msec()
        state = self._states.get(destination)
        if state is None:
            self._states[destination] = BackoffState(1, self._initial_ms, now + self._initial_ms)
            self._trim(now)
        elif state.retry_at_ms <= now:  # requests that failed together count once
            state.failures += 1
            state.interval_ms = min(state.interval_ms * 2, self._max_ms)
            state.retry_at_ms = now + state.interval_ms

    def succeeded(self, destination: str) -> None:
        self._states.pop(destination, None)

    def _trim(self, now: int) -> None:
        if len(self._states) > MAX_TRACKED:
            self._states = {d: s for d, s in self._states.items() if s.retry_at_ms > now}
