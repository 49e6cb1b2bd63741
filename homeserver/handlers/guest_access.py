"""Guests leave rooms that stop admitting them (spec: guest access, "Server behaviour": when
m.room.guest_access is changed so that it is no longer `can_join`, the server MUST set its guest
users' membership to `leave`)."""

from __future__ import annotations

import logging

from twisted.internet import defer
from twisted.python.failure import Failure

from homeserver.api.errors import MatrixError
from homeserver.handlers.rooms import RoomMemberHandler
from homeserver.storage.events import EventsStore, PersistedEvent
from homeserver.storage.users import UsersStore

logger = logging.getLogger(__name__)


class GuestAccessHandler:
    def __init__(self, server_name: str, events: EventsStore, users: UsersStore, members: RoomMemberHandler):
        self._suffix = ":" + server_name
        self._events = events
        self._users = users
        self._members = members
        self._in_flight: set[defer.Deferred] = set()

    def on_event_persisted(self, persisted: PersistedEvent) -> None:
        """An EventPersister listener: a guest_access change that closes the room to guests
        starts the removal of its local guests (in the background: the room's lock is held now)."""
        event = persisted.event
        if event.type != "m.room.guest_access" or event.state_key != "" \
                or event.content.get("guest_access") == "can_join":
            return
        d = defer.ensureDeferred(self.remove_guests(event.room_id))
        self._in_flight.add(d)

        def done(result: object) -> None:
            self._in_flight.discard(d)
            if isinstance(result, Failure):
                logger.error("Removing the guests of %s failed", event.room_id, exc_info=result.value)

        d.addBoth(done)

    async def remove_guests(self, room_id: str) -> list[str]:
        """Make the room's joined local guests leave, unless the room admits guests (again) by
        now. Returns the guests who left."""
        if await self._members.guests_may_join(room_id):
            return []
        joined = [u for u, m, _ in await self._events.get_members(room_id) if m == "join" and u.endswith(self._suffix)]
        removed = []
        for guest in sorted(await self._users.get_guests(joined)):
            try:
                await self._members.update_membership(guest, room_id, guest, "leave")
                removed.append(guest)
            except MatrixError as e:
                logger.info("Could not remove guest %s from %s: %s", guest, room_id, e.msg)
        return removed

    async def drain(self) -> None:
        """Wait for the removals under way (at shutdown, and in tests)."""
        while self._in_flight:
            await defer.DeferredList(list(self._in_flight), consumeErrors=True)
