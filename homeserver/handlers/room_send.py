"""What a client's `PUT /rooms/{roomId}/send/...` and `PUT /rooms/{roomId}/state/...` do, in one
place: the requests themselves, and delayed events (MSC4140) when their time comes."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from homeserver.events.model import Event
from homeserver.handlers.directory import DirectoryHandler
from homeserver.handlers.events import EventCreationHandler
from homeserver.handlers.relations import RelationsHandler
from homeserver.storage.users import UsersStore


@dataclass(frozen=True)
class ShadowBannedEvent:
    """What a shadow-banned user's send gets (admin API): an event ID that names nothing, so their
    client sees success while nobody sees the event (as Synapse does)."""

    event_id: str


def fake_event_id() -> str:
    return "$" + secrets.token_urlsafe(32)


class RoomSendHandler:
    def __init__(self, creator: EventCreationHandler, relations: RelationsHandler, directory: DirectoryHandler,
                 users: UsersStore):
        self._creator = creator
        self._relations = relations
        self._directory = directory
        self._users = users

    async def _shadow_banned(self, user_id: str) -> bool:
        return (await self._users.get_account_status(user_id)).shadow_banned

    async def send_message(self, user_id: str, room_id: str, event_type: str, content: dict[str, Any],
                           txn_id: tuple[str, str, str] | None = None,
                           internal: dict[str, Any] | None = None) -> Event | ShadowBannedEvent:
        """A message event; the same (user, device, txn) returns the event already sent."""
        if await self._shadow_banned(user_id):
            return ShadowBannedEvent(fake_event_id())
        return await self._creator.send(
            user_id, room_id, event_type, content, txn_id=txn_id, internal=internal,
            check=lambda: self._relations.check_new_event(user_id, room_id, event_type, content))

    async def set_state(self, user_id: str, room_id: str, event_type: str, state_key: str, content: dict[str, Any],
                        reuse_same_state: bool = True,
                        internal: dict[str, Any] | None = None) -> Event | ShadowBannedEvent:
        """A state event. `reuse_same_state`: the sender's own identical current state event is
        returned instead of a new one (PUT /state, as clients expect)."""
        if await self._shadow_banned(user_id):
            return ShadowBannedEvent(fake_event_id())
        if event_type == "m.room.canonical_alias" and not state_key:
            await self._directory.check_canonical_alias(room_id, content)
        return await self._creator.send(user_id, room_id, event_type, content, state_key,
                                        reuse_same_state=reuse_same_state, internal=internal)
