"""The admin API's view of the servers we federate with (Synapse's
`/_synapse/admin/v1/federation/destinations`): their retry state, the rooms we share with them,
and resetting a destination's backoff."""

from __future__ import annotations

from typing import Any

from homeserver.api.errors import Codes, MatrixError, not_found
from homeserver.federation.backoff import Backoff
from homeserver.storage.destinations import DestinationRow, DestinationsStore


def destination_json(row: DestinationRow) -> dict[str, Any]:
    return {"destination": row.destination, "retry_last_ts": row.retry_last_ts, "retry_interval": row.retry_interval,
            "failure_ts": row.failure_ts, "last_successful_stream_ordering": row.last_successful_stream_ordering}


class DestinationsAdminHandler:
    def __init__(self, store: DestinationsStore, backoff: Backoff):
        self._store = store
        self._backoff = backoff

    async def list_destinations(self, offset: int, limit: int, order_by: str, backwards: bool) -> dict[str, Any]:
        await self._backoff.flushed()  # what the table shows is what the backoff knows
        rows, total = await self._store.list_destinations(offset, limit, order_by, backwards)
        result: dict[str, Any] = {"destinations": [destination_json(r) for r in rows], "total": total}
        if offset + len(rows) < total and rows:
            result["next_token"] = str(offset + len(rows))
        return result

    async def get_destination(self, destination: str) -> dict[str, Any]:
        return destination_json(await self._row(destination))

    async def get_rooms(self, destination: str, offset: int, limit: int, backwards: bool) -> dict[str, Any]:
        await self._row(destination)
        rooms, total = await self._store.get_destination_rooms(destination, offset, limit, backwards)
        result: dict[str, Any] = {"rooms": [{"room_id": room_id, "stream_ordering": position}
                                            for room_id, position in rooms], "total": total}
        if offset + len(rooms) < total and rooms:
            result["next_token"] = str(offset + len(rooms))
        return result

    async def reset_connection(self, destination: str) -> None:
        """Forget the destination's failures, so that the next request (and the sender) tries it
        at once. 400 when it is not failing."""
        row = await self._row(destination)
        if row.retry_last_ts == 0 and self._backoff.state(destination) is None:
            raise MatrixError(400, Codes.UNKNOWN, "The retry timing does not need to be reset for this destination.")
        self._backoff.reset(destination)
        await self._backoff.flushed()

    async def _row(self, destination: str) -> DestinationRow:
        await self._backoff.flushed()
        row = await self._store.get_destination(destination)
        if row is None:
            raise not_found("Unknown destination")
        return row
