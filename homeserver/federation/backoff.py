"""Per-destination backoff: after a server fails to answer, requests to it fail at once (no DNS,
no connection) until its retry time; each further failure doubles the wait, up to a cap; any
answer from it, or a request from it to us, resets it.

The state lives in memory (the fast path: `retry_at` never waits on the database) and is written
through to the `destinations` table (storage/destinations.py) when it changes: a destination's
first contact, each failure that moves its retry time, and its recovery. Writes are coalesced
(the latest state of each changed destination, one batch at a time, in order), so a burst of
failures costs one write. `load()` brings back at start-up the destinations still backing off,
so a restart does not hammer a dead server, and the admin API lists what the table holds."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from twisted.internet import defer

from homeserver.clock import Clock
from homeserver.storage.destinations import DestinationsStore, RetryState

logger = logging.getLogger(__name__)

INITIAL_BACKOFF_MS = 10_000
MAX_BACKOFF_MS = 3600_000
MAX_TRACKED = 100_000


@dataclass
class BackoffState:
    failures: int
    interval_ms: int
    retry_at_ms: int
    first_failure_ms: int = 0


class Backoff:
    def __init__(self, clock: Clock, initial_ms: int = INITIAL_BACKOFF_MS, max_ms: int = MAX_BACKOFF_MS,
                 store: DestinationsStore | None = None):
        self._clock = clock
        self._initial_ms = initial_ms
        self._max_ms = max_ms
        self._states: dict[str, BackoffState] = {}
        self._store = store
        # What the table says (or will, once pending writes land) of each destination it holds:
        # True while it shows failures.
        self._persisted: dict[str, bool] = {}
        self._dirty: set[str] = set()
        self._flushing: defer.Deferred | None = None
        # Called with a destination when an operator resets it (the sender retries at once).
        self.reset_listeners: list[Callable[[str], object]] = []

    async def load(self) -> None:
        """Read the table: every destination known, and the backoff of those still failing."""
        if self._store is None:
            return
        now = self._clock.time_msec()
        for row in await self._store.get_all():
            failing = row.retry_interval > 0
            self._persisted[row.destination] = failing
            retry_at = row.retry_last_ts + row.retry_interval
            if failing and retry_at > now and row.destination not in self._states:
                self._states[row.destination] = BackoffState(max(row.failures, 1), row.retry_interval, retry_at,
                                                             row.failure_ts or row.retry_last_ts)

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
            self._states[destination] = BackoffState(1, self._initial_ms, now + self._initial_ms, now)
            self._trim(now)
        elif state.retry_at_ms <= now:  # requests that failed together count once
            state.failures += 1
            state.interval_ms = min(state.interval_ms * 2, self._max_ms)
            state.retry_at_ms = now + state.interval_ms
        else:
            return
        self._write(destination)

    def succeeded(self, destination: str) -> None:
        self._states.pop(destination, None)
        if self._persisted.get(destination, True):  # unknown to the table, or shown failing there
            self._write(destination)

    def reset(self, destination: str) -> None:
        """Forget the destination's failures (an operator's reset_connection): it is tried again
        at the next request."""
        self._states.pop(destination, None)
        self._write(destination)
        for listener in self.reset_listeners:
            try:
                listener(destination)
            except Exception:
                logger.exception("Backoff reset listener failed for %s", destination)

    async def flushed(self) -> None:
        """Wait until every change so far is in the table."""
        while self._flushing is not None:
            await self._flushing

    def _write(self, destination: str) -> None:
        if self._store is None:
            return
        self._dirty.add(destination)
        self._persisted[destination] = destination in self._states
        if self._flushing is None:
            flushing = defer.ensureDeferred(self._flush())
            if not flushing.called:  # (a database that answers in place has finished already)
                self._flushing = flushing
                flushing.addBoth(self._flush_done)

    def _flush_done(self, result: object) -> None:
        self._flushing = None

    async def _flush(self) -> None:
        assert self._store is not None
        while self._dirty:
            batch, self._dirty = sorted(self._dirty), set()
            states = []
            for destination in batch:
                s = self._states.get(destination)
                if s is None:
                    states.append(RetryState(destination, None, 0, 0, 0))
                else:
                    states.append(RetryState(destination, s.first_failure_ms, s.retry_at_ms - s.interval_ms,
                                             s.interval_ms, s.failures))
            try:
                await self._store.set_retry_states(states)
            except Exception:
                # The in-memory state still holds; the table catches up at the next change.
                logger.exception("Could not record the backoff state of %d destinations", len(states))
                for state in states:
                    self._persisted.pop(state.destination, None)

    def _trim(self, now: int) -> None:
        if len(self._states) > MAX_TRACKED:
            self._states = {d: s for d, s in self._states.items() if s.retry_at_ms > now}
