"""Other servers we federate with: each destination's backoff state (written through by
federation/backoff.py), the sender's delivery positions, and the admin API's listings."""

from __future__ import annotations

from dataclasses import dataclass

from homeserver.storage.database import Database, Transaction

_COLUMNS = "destination, failure_ts, retry_last_ts, retry_interval, failures, last_successful_stream_ordering"
# Sort orders of the admin listing: fixed SQL for each accepted name (NULLs as 0, so that both
# engines order them alike), the destination breaking ties.
ORDERINGS = {
    "destination": "destination",
    "retry_last_ts": "retry_last_ts",
    "retry_interval": "retry_interval",
    "failure_ts": "COALESCE(failure_ts, 0)",
    "last_successful_stream_ordering": "COALESCE(last_successful_stream_ordering, 0)",
}


@dataclass(frozen=True)
class DestinationRow:
    destination: str
    failure_ts: int | None
    retry_last_ts: int
    retry_interval: int
    failures: int
    last_successful_stream_ordering: int | None


@dataclass(frozen=True)
class RetryState:
    """What the backoff writes: all zero (and failure_ts None) when the destination answers."""
    destination: str
    failure_ts: int | None
    retry_last_ts: int
    retry_interval: int
    failures: int


def _row(r: tuple) -> DestinationRow:
    return DestinationRow(r[0], r[1], r[2], r[3], r[4], r[5])


class DestinationsStore:
    def __init__(self, db: Database):
        self._db = db

    async def get_all(self) -> list[DestinationRow]:
        rows = await self._db.execute("get_all_destinations", f"SELECT {_COLUMNS} FROM destinations")
        return [_row(r) for r in rows]

    async def get_destination(self, destination: str) -> DestinationRow | None:
        rows = await self._db.execute("get_destination", f"SELECT {_COLUMNS} FROM destinations WHERE destination = ?",
                                      destination)
        return _row(rows[0]) if rows else None

    async def set_retry_states(self, states: list[RetryState]) -> None:
        """Insert or update the retry state of each destination (its other columns are kept)."""
        def txn_fn(txn: Transaction) -> None:
            txn.executemany(
                "INSERT INTO destinations (destination, failure_ts, retry_last_ts, retry_interval, failures) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (destination) DO UPDATE SET failure_ts = excluded.failure_ts, "
                "retry_last_ts = excluded.retry_last_ts, retry_interval = excluded.retry_interval, "
                "failures = excluded.failures",
                [(s.destination, s.failure_ts, s.retry_last_ts, s.retry_interval, s.failures) for s in states])

        await self._db.run("set_destination_retry_states", txn_fn)

    async def set_last_successful_stream_ordering(self, destination: str, stream_ordering: int) -> None:
        """For the sender: the destination has everything of ours up to this position."""
        await self._db.run("set_last_successful_stream_ordering", lambda txn: txn.execute(
            "INSERT INTO destinations (destination, last_successful_stream_ordering) VALUES (?, ?) "
            "ON CONFLICT (destination) DO UPDATE SET last_successful_stream_ordering = "
            "excluded.last_successful_stream_ordering", (destination, stream_ordering)))

    async def set_destination_rooms(self, destinations: list[str], room_id: str, stream_ordering: int) -> None:
        """For the sender: an event of ours at this position was queued for these destinations."""
        await self._db.run("set_destination_rooms", lambda txn: txn.executemany(
            "INSERT INTO destination_rooms (destination, room_id, stream_ordering) VALUES (?, ?, ?) "
            "ON CONFLICT (destination, room_id) DO UPDATE SET stream_ordering = excluded.stream_ordering",
            [(d, room_id, stream_ordering) for d in destinations]))

    async def list_destinations(self, offset: int, limit: int, order_by: str,
                                backwards: bool) -> tuple[list[DestinationRow], int]:
        """A page of destinations in the order named (a key of ORDERINGS), and how many there are."""
        direction = "DESC" if backwards else "ASC"
        order = f"{ORDERINGS[order_by]} {direction}, destination {direction}"

        def txn_fn(txn: Transaction) -> tuple[list[DestinationRow], int]:
            total = txn.execute("SELECT COUNT(*) FROM destinations").fetchone()[0]
            rows = txn.execute(f"SELECT {_COLUMNS} FROM destinations ORDER BY {order} LIMIT ? OFFSET ?",
                               (limit, offset)).fetchall()
            return [_row(r) for r in rows], total

        return await self._db.run("list_destinations", txn_fn)

    async def get_destination_rooms(self, destination: str, offset: int, limit: int,
                                    backwards: bool) -> tuple[list[tuple[str, int | None]], int]:
        """(room_id, stream_ordering or None) of the rooms the destination has a joined member in
        (the rooms we federate with it), by room ID, and how many there are. Reads the events
        tables' current memberships: there is no index by server, so this scans them (an admin
        request, not a hot path)."""
        suffix = ":" + destination
        direction = "DESC" if backwards else "ASC"
        rooms_sql = ("SELECT DISTINCT room_id FROM current_memberships WHERE membership = 'join' "
                     "AND length(user_id) > ? AND substr(user_id, length(user_id) - ? + 1) = ?")

        def txn_fn(txn: Transaction) -> tuple[list[tuple[str, int | None]], int]:
            args = (len(suffix), len(suffix), suffix)
            total = txn.execute(f"SELECT COUNT(*) FROM ({rooms_sql}) AS r", args).fetchone()[0]
            rows = txn.execute(
                f"SELECT r.room_id, d.stream_ordering FROM ({rooms_sql}) AS r LEFT JOIN destination_rooms d "
                f"ON d.destination = ? AND d.room_id = r.room_id ORDER BY r.room_id {direction} LIMIT ? OFFSET ?",
                (*args, destination, limit, offset)).fetchall()
            return [(r[0], r[1]) for r in rows], total

        return await self._db.run("get_destination_rooms", txn_fn)

    async def get_catch_up(self, limit_rooms: int) -> dict[str, list[tuple[str, int]]]:
        """For the sender at start-up: destination -> (room_id, stream_ordering) of the rooms
        where our latest event queued for it is past what it acknowledged (at most `limit_rooms`
        rooms per destination, the most recent)."""
        def txn_fn(txn: Transaction) -> dict[str, list[tuple[str, int]]]:
            rows = txn.execute(
                "SELECT r.destination, r.room_id, r.stream_ordering FROM destination_rooms r "
                "LEFT JOIN destinations d ON d.destination = r.destination "
                "WHERE r.stream_ordering > COALESCE(d.last_successful_stream_ordering, 0) "
                "ORDER BY r.destination, r.stream_ordering DESC").fetchall()
            out: dict[str, list[tuple[str, int]]] = {}
            for destination, room_id, position in rows:
                rooms = out.setdefault(destination, [])
                if len(rooms) < limit_rooms:
                    rooms.append((room_id, position))
            return out

        return await self._db.run("get_federation_catch_up", txn_fn)
