"""Server notices (the admin API's /send_server_notice, the spec's server notices module): a
system user sends messages to a user in that user's one notices room, which it creates on first
use, tags `m.server_notice` for the user and invites them to (or joins them, with `auto_join`).
The user can neither reject the invite nor leave (403 M_CANNOT_LEAVE_SERVER_NOTICE_ROOM), so the
room stays the only one."""

from __future__ import annotations

from typing import Any

from twisted.internet import defer

from homeserver.api.errors import Codes, MatrixError, not_found
from homeserver.api.identifiers import UserID
from homeserver.clock import Clock
from homeserver.handlers.events import EventCreationHandler
from homeserver.handlers.profile import TagsHandler
from homeserver.handlers.rooms import RoomCreationHandler, RoomMemberHandler
from homeserver.storage.events import EventsStore
from homeserver.storage.server_notices import ServerNoticesStore
from homeserver.storage.users import UsersStore

SERVER_NOTICE_TAG = "m.server_notice"
CANNOT_LEAVE = "M_CANNOT_LEAVE_SERVER_NOTICE_ROOM"


class ServerNoticesHandler:
    def __init__(self, settings: dict[str, Any] | None, server_name: str, clock: Clock, users: UsersStore,
                 store: ServerNoticesStore, events: EventsStore, creation: RoomCreationHandler,
                 members: RoomMemberHandler, creator: EventCreationHandler, tags: TagsHandler):
        self._settings = settings
        self._server_name = server_name
        self._clock = clock
        self._users = users
        self._store = store
        self._events = events
        self._creation = creation
        self._members = members
        self._creator = creator
        self._tags = tags
        self._locks: dict[str, defer.DeferredLock] = {}

    @property
    def system_user(self) -> str | None:
        if self._settings is None:
            return None
        return f"@{self._settings['system_mxid_localpart']}:{self._server_name}"

    async def check_may_leave(self, user_id: str, room_id: str) -> None:
        """A user leaving (or declining the invite to) their notices room is refused."""
        if self._settings is not None and await self._store.is_notice_room_of(user_id, room_id):
            raise MatrixError(403, CANNOT_LEAVE, "You cannot leave the server notices room")

    async def send_notice(self, requester: str, user_id: str, event_type: str, content: dict[str, Any],
                          state_key: str | None, txn_id: str | None) -> str:
        """Send the event to the user's notices room as the system user; returns its ID. The same
        admin's same `txn_id` sends it once."""
        system = self.system_user
        if system is None:
            raise MatrixError(400, Codes.UNKNOWN, "Server notices are not enabled on this server")
        if UserID.parse(user_id).domain != self._server_name:
            raise MatrixError(400, Codes.INVALID_PARAM, "Server notices can only be sent to local users")
        user = await self._users.get_user(user_id)
        if user is None:
            raise not_found("User not found")
        if user.deactivated or user.is_guest or user_id == system:
            raise MatrixError(400, Codes.INVALID_PARAM, "Server notices cannot be sent to this user")
        room_id = await self._notice_room(system, user_id)
        event = await self._creator.send(system, room_id, event_type, content, state_key,
                                         txn_id=(system, f"admin:{requester}", txn_id) if txn_id else None)
        return event.event_id

    async def _notice_room(self, system: str, user_id: str) -> str:
        lock = self._locks.setdefault(user_id, defer.DeferredLock())
        await lock.acquire()
        try:
            room_id = await self._store.get_room(user_id)
            if room_id is not None:
                membership = await self._events.get_membership(room_id, user_id)
                if membership is not None and membership[0] in ("join", "invite"):
                    return room_id
            # None yet, or the user is no longer in it (an admin removed them, the room was deleted).
            room_id = await self._create_room(system, user_id)
            await self._store.set_room(user_id, room_id, self._clock.time_msec())
            return room_id
        finally:
            lock.release()
            if not lock.waiting:
                self._locks.pop(user_id, None)

    async def _create_room(self, system: str, user_id: str) -> str:
        settings = self._settings or {}
        if await self._users.get_user(system) is None:
            await self._users.create_user(system, None, self._clock.time_msec(),
                                          displayname=settings.get("system_mxid_display_name")
                                          or settings["system_mxid_localpart"])
            if settings.get("system_mxid_avatar_url"):
                await self._users.set_profile_value(system, "avatar_url", settings["system_mxid_avatar_url"])
        body: dict[str, Any] = {"preset": "private_chat", "name": settings.get("room_name") or "Server Notices",
                                "power_level_content_override": {"users_default": -10}}
        if settings.get("room_topic"):
            body["topic"] = settings["room_topic"]
        if settings.get("room_avatar_url"):
            body["initial_state"] = [{"type": "m.room.avatar", "state_key": "",
                                      "content": {"url": settings["room_avatar_url"]}}]
        room_id = await self._creation.create_room(system, body, ratelimit=False)
        await self._members.update_membership(system, room_id, user_id, "invite")
        await self._tags.set_tag(user_id, user_id, room_id, SERVER_NOTICE_TAG, {})
        if settings.get("auto_join"):
            await self._members.update_membership(user_id, room_id, user_id, "join")
        return room_id
