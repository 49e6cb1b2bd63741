"""GET /mutual_rooms (spec v1.19): the rooms both users are joined to, in pages."""

from __future__ import annotations

from typing import Any

from homeserver.api.errors import MatrixError, invalid_param
from homeserver.api.identifiers import UserID
from homeserver.storage.events import EventsStore

PAGE_SIZE = 100


class MutualRoomsHandler:
    def __init__(self, events: EventsStore):
        self._events = events

    async def mutual_rooms(self, user_id: str, other_user_id: str, from_token: str | None) -> dict[str, Any]:
        """Room IDs in order; `from` is the `next_batch` of the page before: the room ID it stopped
        after (room IDs are already public to both users, and a page stays valid forever)."""
        try:
            UserID.parse(other_user_id)
        except MatrixError:
            raise invalid_param("The user ID provided was invalid") from None
        if other_user_id == user_id:
            raise invalid_param("Rooms shared with yourself are simply your rooms (GET /joined_rooms)")
        if from_token is not None and not from_token.startswith("!"):
            raise invalid_param("Invalid 'from' token")
        mine = set(await self._events.get_rooms_for_user(user_id))
        shared = sorted(mine.intersection(await self._events.get_rooms_for_user(other_user_id)))
        after = [r for r in shared if from_token is None or r > from_token]
        page = after[:PAGE_SIZE]
        result: dict[str, Any] = {"joined": page, "count": len(shared)}
        if len(after) > PAGE_SIZE:
            result["next_batch"] = page[-1]
        return result
