"""GET /initialSync and GET /rooms/{roomId}/initialSync (deprecated since r0, still in the spec):
a snapshot of the user's rooms (or of one room, which also lets a user peek into a world-readable
room), built from the same reads as /rooms/{roomId}/state and /messages. Its `end` token is where
GET /events carries on from."""

from __future__ import annotations

from typing import Any

from homeserver.handlers.directory import DirectoryHandler
from homeserver.handlers.presence import PresenceHandler
from homeserver.handlers.room_reads import RoomReadHandler, stream_token
from homeserver.storage.account_data import AccountDataStore
from homeserver.storage.events import EventsStore

DEFAULT_MESSAGES_LIMIT = 10
REPORTED_MEMBERSHIPS = ("invite", "join", "leave", "ban")  # the spec's enum (no knock)


class InitialSyncHandler:
    def __init__(self, events: EventsStore, reads: RoomReadHandler, directory: DirectoryHandler,
                 account_data: AccountDataStore, presence: PresenceHandler):
        self._events = events
        self._reads = reads
        self._directory = directory
        self._account_data = account_data
        self._presence = presence

    async def initial_sync(self, user_id: str, limit: int, archived: bool) -> dict[str, Any]:
        """Every room the user is joined to or invited to (and, with `archived`, has left or was
        banned from and has not forgotten), with at most `limit` messages each."""
        now = self._events.stream.current
        account_data = await self._account_data.get_changes(user_id, None, self._account_data.stream.current)
        ignored = await self._account_data.get_ignored_users(user_id)
        rooms = []
        for room_id, (membership, event_id) in sorted((await self._events.get_current_memberships(user_id)).items()):
            if membership == "invite":
                invite = await self._events.get_event(event_id)
                if invite is not None and invite.sender not in ignored:
                    rooms.append({"room_id": room_id, "membership": "invite",
                                  "invite": (await self._reads.serialize([invite]))[0]})
            elif membership == "join" or (archived and membership in ("leave", "ban") and not await
                                          self._reads.is_forgotten(user_id, room_id, (membership, event_id))):
                upto = now if membership == "join" else await self._position(event_id)
                room = await self._room_info(user_id, room_id, upto, limit, account_data.get(room_id, {}))
                rooms.append({"membership": membership, **room})
        return {
            "end": stream_token(now),
            "rooms": rooms,
            "presence": await self._presence.presence_events(user_id, None),
            "account_data": _events_of(account_data.get("", {})),
        }

    async def room_initial_sync(self, user_id: str, room_id: str, limit: int = DEFAULT_MESSAGES_LIMIT) -> dict[str, Any]:
        """One room as the user may see it: joined, left (up to when they left), or any
        world-readable room (peeking). 403 otherwise."""
        membership = await self._events.get_membership(room_id, user_id)
        if await self._reads.is_forgotten(user_id, room_id, membership):
            membership = None
        upto = self._events.stream.current
        if membership is not None and membership[0] in ("leave", "ban"):
            upto = await self._position(membership[1])
        account_data = await self._account_data.get_changes(user_id, None, self._account_data.stream.current)
        room = await self._room_info(user_id, room_id, upto, limit, account_data.get(room_id, {}))
        if membership is not None and membership[0] in REPORTED_MEMBERSHIPS:
            room["membership"] = membership[0]
        return room

    async def _position(self, event_id: str) -> int:
        return (await self._events.get_stream_orderings([event_id]))[event_id]

    async def _room_info(self, user_id: str, room_id: str, upto: int, limit: int,
                         account_data: dict[str, dict[str, Any]]) -> dict[str, Any]:
        state = await self._reads.get_state(user_id, room_id)  # 403 if the user may not see the room
        end = stream_token(upto)
        messages: dict[str, Any] = {"chunk": [], "start": end, "end": end}
        if limit > 0:
            page = await self._reads.get_messages(user_id, room_id, end, None, True, limit, {})
            messages = {"chunk": list(reversed(page["chunk"])), "end": end}
            if "end" in page:  # there is earlier history: /messages?dir=b&from=start pages back into it
                messages["start"] = page["end"]
        return {
            "room_id": room_id,
            "messages": messages,
            "state": state,
            "visibility": await self._directory.get_visibility(room_id),
            "account_data": _events_of(account_data),
        }


def _events_of(account_data: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"type": t, "content": c} for t, c in sorted(account_data.items())]
