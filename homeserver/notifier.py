"""Wakes waiting /sync requests when something they can see happens.

Waiters are indexed by user and by room, so a new event wakes only the syncs of users in that
room (plus, for a membership event, its target). No polling: a waiter sleeps on a Deferred until
woken or until its timeout fires on the server's clock."""

from __future__ import annotations

from collections.abc import Iterable

from twisted.internet import defer

from homeserver.clock import Clock


class Notifier:
    def __init__(self, clock: Clock):
        self._clock = clock
        self._by_user: dict[str, set[defer.Deferred]] = {}
        self._by_room: dict[str, set[defer.Deferred]] = {}

    @property
    def clock(self) -> Clock:
        return self._clock

    def on_new_event(self, room_id: str, users: Iterable[str] = ()) -> None:
        """Wake everyone waiting on the room, and the given users wherever they wait."""
        woken = set(self._by_room.get(room_id, ()))
        for user in users:
            woken |= self._by_user.get(user, set())
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
        self._by_user.setdefault(user_id, set()).add(d)
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

    @staticmethod
    def _discard(index: dict[str, set[defer.Deferred]], key: str, d: defer.Deferred) -> None:
        waiters = index.get(key)
        if waiters is not None:
            waiters.discard(d)
            if not waiters:
                del index[key]

    def waiter_count(self) -> int:
        return len({d for ds in self._by_user.values() for d in ds})
