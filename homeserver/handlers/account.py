"""Account management: password change and deactivation."""

from __future__ import annotations

import logging
from typing import Any

from homeserver.api.errors import MatrixError, forbidden
from homeserver.clock import Clock
from homeserver.handlers.passwords import PasswordHandler
from homeserver.handlers.rooms import RoomMemberHandler
from homeserver.storage.account_data import AccountDataStore
from homeserver.storage.events import EventsStore
from homeserver.storage.key_backup import KeyBackupStore
from homeserver.storage.users import UsersStore

logger = logging.getLogger(__name__)


class AccountHandler:
    def __init__(self, clock: Clock, users: UsersStore, passwords: PasswordHandler, events: EventsStore,
                 members: RoomMemberHandler, key_backups: KeyBackupStore, account_data: AccountDataStore,
                 threepids: Any = None):
        self._threepids = threepids
        self._clock = clock
        self._account_data = account_data
        self._users = users
        self._passwords = passwords
        self._events = events
        self._members = members
        self._key_backups = key_backups

    async def change_password(
        self, user_id: str, current_device_id: str | None, new_password: str, logout_devices: bool
    ) -> None:
        """With `logout_devices`, every device but the current one is logged out."""
        if not self._passwords.enabled:
            raise forbidden("Password changes are disabled on this server")
        self._passwords.check_policy(new_password)
        new_hash = await self._passwords.hash(new_password)
        await self._users.set_password_hash(user_id, new_hash, current_device_id, logout_devices)

    async def deactivate(self, user_id: str, erase: bool = False) -> None:
        """The user leaves every room (and declines every invite and knock) while still able to
        send, then loses devices, tokens, password and server-side key backups for good. With
        `erase`, also their display name, avatar, profile fields and account data, and their
        events are served pruned to users who join their rooms later (spec: `erase`)."""
        memberships = await self._events.get_current_memberships(user_id)
        for room_id, (membership, _) in sorted(memberships.items()):
            if membership not in ("join", "invite", "knock"):
                continue
            try:
                await self._members.update_membership(user_id, room_id, user_id, "leave")
            except MatrixError as e:  # e.g. the room's rules forbid it; the account goes anyway
                logger.warning("Deactivating %s: could not leave %s: %s", user_id, room_id, e)
        await self._users.deactivate(user_id)
        if self._threepids is not None:  # the addresses are free for other accounts again
            await self._threepids.remove_all(user_id)
        await self._key_backups.delete_all_versions(user_id)
        if erase:
            # After the leaves: those are the last events the user sends, and are erased too.
            await self._users.mark_erased(user_id, self._events.stream.current, self._clock.time_msec())
            for key in ("displayname", "avatar_url"):
                await self._users.set_profile_value(user_id, key, None)
            await self._account_data.delete_all_of_user(user_id)
