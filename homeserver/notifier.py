"""Wakes waiting /sync requests when something they can see happens.

Waiters are indexed by user and by room, so a new event wakes only the syncs of users in that
room (plus, for a membership event, its target). No polling: a waiter sleeps on a Deferred until
woken or until its timeout fires on the server's clock.

Stream positions may commit out of order, and a stream's readable position (`current`) only
passes a write once every earlier write has committed too. A wake-up sent while an earlier write
is still in flight would find nothing new to read, and the sleeper would miss the write for good;
so such a wake-up is held until every stream has caught up with what was allocated when it was sent.

A user has at most `max_waits_per_user` waiters at once: when one more starts, the oldest is woken
as if its timeout had passed (its /sync answers with nothing new, as on any timeout), so a client
opening thousands of long-polls holds only that many, and a client that reconnects while its old
request hangs somewhere is not refused."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Protocol

from twisted.internet import defer

from homeserver import metrics
from homeserver.clock import Clock

DEFAULT_MAX_WAITS_PER_USER = 50

if TYPE_CHECKING:
    from homeserver.storage.events import PersistedEvent


class Stream(Protocol):
    current: int
    max_allocated: int

    def add_listener(self, listener: Callable[[], None]) -> None: ...


class Notifier:
    def __init__(self, clock: Clock, max_waits_per_user: int = DEFAULT_MAX_WAITS_PER_USER):
        self._clock = clock
        self._max_waits_per_user = max(1, max_waits_per_user)
        # Insertion-ordered (dict keys), so that the oldest waiter of a user is the first.
        self._by_user: dict[str, dict[defer.Deferred, None]] = {}
        self._by_room: dict[str, set[defer.Deferred]] = {}
        self._streams: list[Stream] = []
        # Wake-ups waiting for streams to catch up: ([(stream, position)], room_id, users).
        self._held: list[tuple[list[tuple[Stream, int]], str, list[str]]] = []

    def track_streams(self, streams: Iterable[Stream]) -> None:
        """The persistent streams whose writes can commit out of order."""
        for stream in streams:
            self._streams.append(stream)
            stream.add_listener(self._release_held)

    @property
    def clock(self) -> Clock:
        return self._clock

    def on_event_persisted(self, persisted: PersistedEvent) -> None:
        """An EventPersister listener: wake the room, and a membership event's target too (an
        invitee is not waiting on the room yet)."""
        event = persisted.event
        self.on_new_event(event.room_id, [event.state_key] if event.type == "m.room.member" else [])

    def on_new_event(self, room_id: str, users: Iterable[str] = ()) -> None:
        """Wake everyone waiting on the room, and the given users wherever they wait."""
        behind = [(s, s.max_allocated) for s in self._streams if s.current < s.max_allocated]
        if behind:
            self._held.append((behind, room_id, list(users)))
        else:
            self._wake(room_id, users)

    def _release_held(self) -> None:
        held, self._held = self._held, []
        for behind, room_id, users in held:
            if all(stream.current >= position for stream, position in behind):
                self._wake(room_id, users)
            else:
                self._held.append((behind, room_id, users))

    def _wake(self, room_id: str, users: Iterable[str]) -> None:
        woken = set(self._by_room.get(room_id, ()))
        for user in users:
            woken.update(self._by_user.get(user, ()))
        for d in woken:
            if not d.called:
                d.callback(True)

    def on_user_data(self, user_id: str) -> None:
        """Something only this user sees changed (account data, to-device, ...)."""
        self.on_new_event("", [user_id])

    async def wait(self, user_id: str, room_ids: Iterable[str], timeout_ms: int) -> bool:
        """Sleep until woken (True) or the timeout passes (False)."""
        d: defer.Deferred = defer.Deferred()
        rooms = list(room_ids)
        self._make_room_for(user_id)
        self._by_user.setdefault(user_id, {})[d] = None
        for room in rooms:
            self._by_room.setdefault(room, set()).add(d)
        timer = self._clock.call_later(timeout_ms / 1000, lambda: d.called or d.callback(False))
        try:
            return await d
        finally:
            if timer.active():
                timer.cancel()
            self._discard(self._by_user, user_id, d)
            for room in rooms:
                self._discard(self._by_room, room, d)

    def _make_room_for(self, user_id: str) -> None:
        """Wake the user's oldest waiters (as timed out) until one more fits under the cap."""
        while True:
            mine = self._by_user.get(user_id)
            if not mine or len(mine) < self._max_waits_per_user:
                return
            oldest = next(iter(mine))
            del mine[oldest]
            if not mine:
                del self._by_user[user_id]
            if not oldest.called:
                metrics.long_polls_cut_short.inc()
                oldest.callback(False)  # its finally runs now: nothing else of ours is touched

    @staticmethod
    def _discard(index: dict, key: str, d: defer.Deferred) -> None:
        waiters = index.get(key)
        if waiters is not None:
            if isinstance(waiters, dict):
                waiters.pop(d, None)
            else:
                waiters.discard(d)
            if not waiters:
                del index[key]

    def waiter_count(self) -> int:
        return len({d for ds in self._by_user.values() for d in ds})
