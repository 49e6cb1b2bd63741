"""Presence: online / unavailable / offline, kept in memory and shared with users who share a
room. Driven by PUT /presence and by syncing (`set_presence`); idle and vanished users time out
on the server's clock. With `presence.enabled: false` nothing is tracked, stored or sent.

The state is written behind to the database (PresenceStore) so that it survives a restart:
changes mark the user dirty and the periodic check (and stop()) writes the dirty ones in one
batch. Syncing alone only moves `last_active`, which is written at most once a minute per user:
a sync costs no write."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from homeserver.api.errors import forbidden, invalid_param, not_found
from homeserver.api.identifiers import UserID
from homeserver.clock import Clock
from homeserver.notifier import Notifier
from homeserver.ratelimit import RateLimiter
from homeserver.storage.events import EventsStore
from homeserver.storage.presence import PresenceStore, StoredPresence
from homeserver.storage.users import UsersStore

STATES = ("online", "unavailable", "offline")
IDLE_AFTER_MS = 5 * 60 * 1000  # online -> unavailable without activity
OFFLINE_AFTER_MS = 60 * 1000  # no sync for this long after the last one -> offline
CURRENTLY_ACTIVE_MS = 60 * 1000
CHECK_INTERVAL_S = 15
MAX_EDU_PRESENCE = 500  # presence updates taken from one EDU
LAST_ACTIVE_GRANULARITY_MS = 60 * 1000  # a newer last_active alone is written no more often than this


@dataclass
class UserPresence:
    presence: str = "offline"
    status_msg: str | None = None
    last_active_ms: int = 0
    last_sync_ms: int = 0
    serial: int = 0
    set_explicitly: bool = False  # PUT /presence: syncing does not override it
    syncs_in_flight: int = 0  # a long-polling user is not timed out
    stored_active_ms: int = 0  # last_active_ms as last written to the database


class PresenceHandler:
    def __init__(self, enabled: bool, server_name: str, clock: Clock, events: EventsStore, users: UsersStore,
                 notifier: Notifier, store: PresenceStore, edus: Any = None, limiter: RateLimiter | None = None):
        self.enabled = enabled
        # rc_presence.per_user: PUT /presence beyond it is refused (429); a sync's change is ignored.
        self._limiter = limiter
        self._edus = edus  # the federation sender: our users' changes to the servers sharing a room
        self._store = store
        self._dirty: set[str] = set()
        self._server_name = server_name
        self._clock = clock
        self._events = events
        self._users = users
        self._notifier = notifier
        self._states: dict[str, UserPresence] = {}
        self.serial = 0
        self._timer: Any = None

    async def load(self) -> None:
        """Restore the stream position and the users whose presence is worth keeping in memory
        (online, unavailable, or with a status message); others are read when asked for."""
        if not self.enabled:
            return
        self.serial = await self._store.get_max_stream_id()
        now = self._clock.time_msec()
        for stored in await self._store.get_remarkable():
            state = self._from_stored(stored)
            state.last_sync_ms = now  # whoever was online gets the usual grace before going offline
            self._states[stored.user_id] = state

    def start(self) -> None:
        if self.enabled:
            self._timer = self._clock.looping_call(CHECK_INTERVAL_S, self._check)

    def stop(self) -> None:
        if self._timer is not None and self._timer.running:
            self._timer.stop()

    async def flush(self) -> None:
        """Write the users whose presence changed since the last flush."""
        if not self._dirty:
            return
        users, self._dirty = self._dirty, set()
        now = self._clock.time_msec()
        rows = []
        for user_id in sorted(users):
            state = self._states[user_id]
            rows.append(StoredPresence(user_id, state.presence, state.status_msg, state.last_active_ms,
                                       self._currently_active(state, now), state.set_explicitly, state.serial))
        try:
            await self._store.put_many(rows)
        except Exception:
            self._dirty |= users  # try again at the next flush
            raise
        for row in rows:
            self._states[row.user_id].stored_active_ms = row.last_active_ts

    async def _check(self) -> None:
        await self._time_out()
        await self.flush()

    @staticmethod
    def _from_stored(stored: StoredPresence) -> UserPresence:
        return UserPresence(presence=stored.presence, status_msg=stored.status_msg,
                            last_active_ms=stored.last_active_ts, serial=stored.stream_id,
                            set_explicitly=stored.set_explicitly, stored_active_ms=stored.last_active_ts)

    async def _state_of(self, user_id: str) -> UserPresence | None:
        """The user's state: in memory, or as stored (then kept in memory)."""
        state = self._states.get(user_id)
        if state is not None or not self.enabled:
            return state
        stored = await self._store.get(user_id)
        if stored is None:
            return None
        return self._states.setdefault(user_id, self._from_stored(stored))  # unless set meanwhile

    # -- changes --------------------------------------------------------------------------------

    async def set_status(self, requester: str, user_id: str, presence: str, status_msg: str | None) -> None:
        if requester != user_id:
            raise forbidden("You cannot set another user's presence")
        if presence not in STATES:
            raise invalid_param(f"presence must be one of {', '.join(STATES)}")
        if not self.enabled:
            return
        if self._limiter is not None:
            self._limiter.check(user_id)
        state = await self._state_of(user_id) or self._states.setdefault(user_id, UserPresence())
        state.set_explicitly = presence != "online"
        state.status_msg = status_msg
        if presence == "online":
            state.last_active_ms = self._clock.time_msec()
        self._dirty.add(user_id)
        await self._update(user_id, state, presence, force=True)

    async def user_syncing(self, user_id: str, set_presence: str | None) -> None:
        """A sync started: the user is around (unless they asked to be offline or unavailable)."""
        if not self.enabled:
            return
        now = self._clock.time_msec()
        state = self._states.setdefault(user_id, UserPresence())
        state.last_sync_ms = now
        state.syncs_in_flight += 1
        wanted = set_presence or "online"
        if wanted == "offline":
            return  # syncing while appearing offline changes nothing
        if state.set_explicitly and wanted == "online" and state.presence != "offline":
            return  # an explicit unavailable stays until the user says otherwise
        if wanted == "online":
            state.last_active_ms = now
            if now - state.stored_active_ms >= LAST_ACTIVE_GRANULARITY_MS:
                self._dirty.add(user_id)
        if state.presence != wanted and self._limiter is not None and not self._limiter.allows(user_id):
            return  # too many changes: this one is dropped quietly, as Synapse does
        await self._update(user_id, state, wanted)

    def sync_finished(self, user_id: str) -> None:
        state = self._states.get(user_id)
        if state is not None and state.syncs_in_flight > 0:
            state.syncs_in_flight -= 1
            state.last_sync_ms = self._clock.time_msec()

    async def _update(self, user_id: str, state: UserPresence, presence: str, force: bool = False) -> None:
        if state.presence == presence and not force:
            return
        state.presence = presence
        self.serial += 1
        state.serial = self.serial
        local = UserID.parse(user_id).domain == self._server_name
        if local:  # other servers' users are kept in memory only
            self._dirty.add(user_id)
        rooms = await self._events.get_rooms_for_user(user_id)
        for room_id in rooms:
            self._notifier.on_new_event(room_id)
        self._notifier.on_user_data(user_id)
        if self._edus is not None and local:
            await self._edus.send_edu_to_user_rooms(
                user_id, "m.presence", {"push": [{"user_id": user_id, **self._content(user_id, state)}]})

    async def on_remote_presence(self, origin: str, content: dict[str, Any]) -> None:
        """An m.presence EDU: the presence of the sending server's users who share a room with
        ours (kept in memory, never timed out here: their server says when they go)."""
        push = content.get("push")
        if not self.enabled or not isinstance(push, list):
            return
        now = self._clock.time_msec()
        for update in push[:MAX_EDU_PRESENCE]:
            if not isinstance(update, dict):
                continue
            user_id, presence = update.get("user_id"), update.get("presence")
            if not isinstance(user_id, str) or presence not in STATES or user_id.partition(":")[2] != origin \
                    or not await self._events.get_rooms_for_user(user_id):
                continue
            state = self._states.setdefault(user_id, UserPresence())
            ago = update.get("last_active_ago")
            if isinstance(ago, int) and not isinstance(ago, bool) and 0 <= ago < 2**53:
                state.last_active_ms = now - ago
            status_msg = update.get("status_msg")
            state.status_msg = status_msg if isinstance(status_msg, str) else None
            await self._update(user_id, state, presence, force=True)

    async def _time_out(self) -> None:
        now = self._clock.time_msec()
        for user_id, state in list(self._states.items()):
            if not user_id.endswith(":" + self._server_name):
                continue  # another server's user: their server tells us
            if state.presence != "offline" and not state.syncs_in_flight \
                    and now - state.last_sync_ms > OFFLINE_AFTER_MS and not state.set_explicitly:
                await self._update(user_id, state, "offline")
            elif state.presence == "online" and now - state.last_active_ms > IDLE_AFTER_MS:
                await self._update(user_id, state, "unavailable")

    # -- reading --------------------------------------------------------------------------------

    def _content(self, user_id: str, state: UserPresence) -> dict[str, Any]:
        now = self._clock.time_msec()
        content: dict[str, Any] = {"presence": state.presence}
        if state.last_active_ms:
            content["last_active_ago"] = now - state.last_active_ms
            content["currently_active"] = self._currently_active(state, now)
        if state.status_msg is not None:
            content["status_msg"] = state.status_msg
        return content

    @staticmethod
    def _currently_active(state: UserPresence, now: int) -> bool:
        return state.presence == "online" and now - state.last_active_ms < CURRENTLY_ACTIVE_MS

    async def get_status(self, requester: str, user_id: str) -> dict[str, Any]:
        uid = UserID.parse(user_id)
        if uid.domain != self._server_name:
            if user_id not in self._states:
                raise not_found("No presence for this user")
        elif not await self._users.user_exists(user_id):
            raise not_found("No presence for this user")
        if requester != user_id and not await self._share_a_room(requester, user_id):
            raise forbidden("You are not allowed to see their presence")
        return self._content(user_id, await self._state_of(user_id) or UserPresence())

    async def _share_a_room(self, a: str, b: str) -> bool:
        return bool(set(await self._events.get_rooms_for_user(a)) & set(await self._events.get_rooms_for_user(b)))

    async def presence_events(self, user_id: str, since_serial: int | None,
                              met: set[str] | frozenset[str] = frozenset()) -> list[dict[str, Any]]:
        """m.presence events of the user and everyone sharing a room with them, changed after
        `since_serial` (all known ones on a first sync, or after a restart reset the serial);
        those of the users in `met` (newly sharing a room with the user) whatever their age,
        since the client has never been told."""
        if not self.enabled or not self._states:
            return []
        if since_serial is not None and since_serial > self.serial:
            since_serial = None
        if since_serial == self.serial and not met:
            return []  # no presence changed since (a sync woken by a message): skip the members walk
        visible = {user_id}
        for room_id in await self._events.get_rooms_for_user(user_id):
            visible.update(u for u, m, _ in await self._events.get_members(room_id) if m == "join")
        out = []
        for other in sorted(visible):
            state = self._states.get(other)
            if state is not None and (since_serial is None or state.serial > since_serial or other in met):
                out.append({"type": "m.presence", "sender": other, "content": self._content(other, state)})
        return out
