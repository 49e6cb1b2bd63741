"""Integer IDs for rows, handed out in memory after reading the current maximum at start-up.
(One process writes; when workers arrive this becomes a database sequence.)"""

from __future__ import annotations

import itertools
from collections.abc import Callable

from homeserver.storage.database import Database


class IdGenerator:
    def __init__(self, table: str, column: str):
        self._table = table
        self._column = column
        self._counter: itertools.count | None = None

    async def load(self, db: Database) -> None:
        # Table and column names are constants of the code, never input.
        rows = await db.execute(f"max_{self._table}_{self._column}",
                                f"SELECT MAX({self._column}) FROM {self._table}")
        self._counter = itertools.count((rows[0][0] or 0) + 1)

    def next(self) -> int:
        assert self._counter is not None, "IdGenerator.load() was not awaited"
        return next(self._counter)


class StreamIdTracker:
    """Hands out increasing stream positions and tells which are safe to read up to.

    Positions are allocated before a transaction and may commit out of order; `current` is the
    highest position at and below which every allocated position has committed (or failed), so a
    reader that asks for "everything up to current" never skips an event still being written."""

    def __init__(self, generator: IdGenerator):
        self._generator = generator
        self._in_flight: set[int] = set()
        self._current = 0
        self._max_finished = 0
        self._max_allocated = 0
        self._listeners: list[Callable[[], None]] = []

    def add_listener(self, listener: Callable[[], None]) -> None:
        """`listener()` runs whenever `current` moves forward."""
        self._listeners.append(listener)

    def load(self, current: int) -> None:
        self._current = self._max_finished = current

    def allocate(self) -> int:
        position = self._generator.next()
        self._in_flight.add(position)
        self._max_allocated = max(self._max_allocated, position)
        return position

    def finish(self, position: int) -> None:
        """The transaction holding `position` committed or failed."""
        self._in_flight.discard(position)
        self._max_finished = max(self._max_finished, position)
        before = self._current
        if self._in_flight:
            self._current = max(self._current, min(self._in_flight) - 1)
        else:
            self._current = self._max_finished
        if self._current > before:
            for listener in self._listeners:
                listener()

    @property
    def current(self) -> int:
        return self._current

    @property
    def max_allocated(self) -> int:
        """The highest position handed out so far (committed or not)."""
        return max(self._max_allocated, self._current)
