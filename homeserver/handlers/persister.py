"""EventPersister: the one place events are persisted, local or (later) remote.

It owns the per-room lock (events of one room are persisted in order; rooms in parallel) and,
after each commit, the ONE fan-out: every component that reacts to new events (the notifier, push
rule evaluation, the federation sender) is a listener here, called on the reactor thread in the
order they were added. Indexes that must commit with the event (search, user directory) are
hooks of the store's transaction instead (EventsStore.persist_hooks)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from homeserver.events.model import Event
from homeserver.storage.events import EventsStore, PersistedEvent, StateMap
from homeserver.util.linearizer import Linearizer

logger = logging.getLogger(__name__)


@dataclass
class EventContext:
    """What the persister needs beside the event: the state before it (as a state group when one
    holds it exactly, else None and the map), whether it creates its room, and the client
    transaction ID it was sent with."""

    state_group_before: int | None
    state_before: StateMap
    new_room: bool = False
    txn_id: tuple[str, str, str] | None = None


Listener = Callable[[PersistedEvent], Any]


class EventPersister:
    def __init__(self, events: EventsStore, clock_msec: Callable[[], int]):
        self._events = events
        self._now_ms = clock_msec
        self.room_lock = Linearizer()
        self._listeners: list[Listener] = []

    def add_listener(self, listener: Listener) -> None:
        """`listener(persisted)` after every commit; it must not block, and its errors are logged
        (one listener's failure never keeps the others from hearing)."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        self._listeners.remove(listener)

    async def persist(self, event: Event, context: EventContext) -> PersistedEvent:
        """Persist a checked event (the caller holds `room_lock` for its room), then fan out."""
        persisted = await self._events.persist_event(
            event, context.state_group_before, context.state_before, is_new_room=context.new_room,
            now_ms=self._now_ms(), txn_id=context.txn_id,
        )
        for listener in self._listeners:
            try:
                listener(persisted)
            except Exception:
                logger.exception("Listener %r failed on %s", listener, event.event_id)
        return persisted
