"""Device lists: who must re-fetch whose device keys. Every change to a user's devices or keys
gets a position in the device-list stream and wakes the syncs of everyone sharing a room with
them; a sync (or /keys/changes) then reports, between two tokens, the users whose keys changed
(`changed`) among those it shares a room with, those it newly shares a room with (`changed` too),
and those it no longer shares any room with (`left`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from twisted.internet import defer

from homeserver.notifier import Notifier
from homeserver.storage.device_lists import DeviceListsStore
from homeserver.storage.events import EventsStore

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class MembershipMoves:
    """Membership changes between two event positions that matter to one user's device lists and
    presence: the user's own latest membership per room where it changed, and (room, user) of
    others whose membership changed in the user's rooms. Read once per sync, used by both."""
    own: dict[str, str] = field(default_factory=dict)
    others: list[tuple[str, str]] = field(default_factory=list)
    after: int = 0
    upto: int = 0

    @property
    def empty(self) -> bool:
        return self.after >= self.upto


class DeviceListsHandler:
    def __init__(self, store: DeviceListsStore, notifier: Notifier, events: EventsStore, server_name: str = "",
                 edus: Any = None):
        self._server_name = server_name
        self._edus = edus  # the federation sender: our users' changes to the servers sharing a room
        self._store = store
        self._events = events
        self._notifier = notifier

    @property
    def position(self) -> int:
        return self._store.stream.current

    async def user_keys_changed(self, user_id: str) -> None:
        """The user's devices, device keys or cross-signing keys changed: everyone who shares a
        room with them (and they themselves) must hear of it."""
        await self._store.add_change(user_id)
        for other in await self._store.get_users_sharing_a_room(user_id) | {user_id}:
            self._notifier.on_user_data(other)
        if self._edus is not None and user_id.partition(":")[2] == self._server_name:
            await self._tell_other_servers(user_id)

    async def _tell_other_servers(self, user_id: str) -> None:
        """An m.device_list_update to every server sharing a room with the user. It names a
        previous update the receiver never saw, so the receiver fetches the whole list again
        (GET /user/devices): one message covers any change (devices, keys, cross-signing)."""
        position = self._store.stream.current
        await self._edus.send_edu_to_user_rooms(user_id, "m.device_list_update", {
            "user_id": user_id, "device_id": "", "stream_id": position, "prev_id": [f"{position}-unseen"],
            "deleted": False})

    async def signature_added_by(self, signer: str, target: str) -> None:
        """`signer` signed `target`'s master key: only the signer may see that signature."""
        await self._store.add_change(target, only_for=signer)
        self._notifier.on_user_data(signer)

    def on_device_committed(self, user_id: str, deleted: bool) -> defer.Deferred:
        """A device was created, renamed or deleted (logins, logouts, renames and deletions go
        through the devices store in many modules' transactions; it calls this after commit, and
        the transaction's caller waits for the change to be recorded)."""
        return defer.ensureDeferred(self._device_changed(user_id))

    async def _device_changed(self, user_id: str) -> None:
        try:
            await self.user_keys_changed(user_id)
        except Exception:
            logger.exception("Could not record a device-list change for %s", user_id)

    async def membership_moves(self, user_id: str, events_after: int, events_upto: int) -> MembershipMoves:
        """The membership changes between two event positions (none read when the events in
        between hold no membership change: a sync woken by a message, mostly)."""
        if events_after >= events_upto or not self._events.memberships_changed_between(events_after, events_upto):
            return MembershipMoves()
        own, others = await self._store.get_membership_changes(user_id, events_after, events_upto)
        return MembershipMoves(own, others, events_after, events_upto)

    async def users_met(self, user_id: str, moves: MembershipMoves) -> set[str]:
        """Users who came to share a room with the user within `moves` (they joined one of the
        user's rooms, or the user joined theirs)."""
        if moves.empty:
            return set()
        met = {other for _, other in moves.others}
        met |= await self._store.get_joined_members([room for room, m in moves.own.items() if m == "join"])
        met.discard(user_id)
        return met & await self._store.get_users_sharing_a_room(user_id)

    async def changes(self, user_id: str, moves: MembershipMoves, lists_after: int, lists_upto: int
                      ) -> tuple[list[str], list[str]]:
        """(changed, left) for membership `moves` and between two device-list positions."""
        if lists_after >= lists_upto and moves.empty:
            return [], []  # nothing happened in between (a long-poll's recheck, mostly)
        sharing = await self._store.get_users_sharing_a_room(user_id)
        changed: set[str] = set()
        left: set[str] = set()
        if lists_after < lists_upto:
            for changed_user, only_for in await self._store.get_changes(lists_after, lists_upto):
                if only_for is None and (changed_user in sharing or changed_user == user_id):
                    changed.add(changed_user)
                elif only_for == user_id:
                    changed.add(changed_user)
        if not moves.empty:
            joined_rooms = [room for room, membership in moves.own.items() if membership == "join"]
            left_rooms = [room for room, membership in moves.own.items() if membership != "join"]
            candidates = {other for _, other in moves.others}
            candidates |= await self._store.get_joined_members(joined_rooms + left_rooms)
            candidates.discard(user_id)
            # Sharing a room now (whether newly or still): the client may not know their keys.
            changed |= candidates & sharing
            left |= candidates - sharing
        return sorted(changed), sorted(left - changed)
