"""Integer IDs for rows, handed out in memory after reading the current maximum at start-up.
(One process writes; when workers arrive this becomes a database sequence.)"""

from __future__ import annotations

import itertools

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
