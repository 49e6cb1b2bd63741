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
from homeserver.state.resolution import resolve_state
from homeserver.storage.events import CurrentStateDelta, EventsStore, PersistedEvent
from homeserver.storage.state_groups import StateGroupsStore, StateKey, StateMap
from homeserver.util.linearizer import Linearizer

logger = logging.getLogger(__name__)


@dataclass
class EventContext:
    """What the persister needs beside the event: the state before it (as a state group when one
    holds it exactly, else None and the map), whether it creates its room, the client
    transaction ID it was sent with, and for a received event whether it was rejected (why) or
    soft-failed: such an event is kept for the room's graph only (no current state, no fan-out)."""

    state_group_before: int | None
    state_before: StateMap
    new_room: bool = False
    txn_id: tuple[str, str, str] | None = None
    rejected: str | None = None
    soft_failed: bool = False

    @property
    def hidden(self) -> bool:
        return self.rejected is not None or self.soft_failed


Listener = Callable[[PersistedEvent], Any]


class EventPersister:
    def __init__(self, events: EventsStore, state_groups: StateGroupsStore, clock_msec: Callable[[], int]):
        self._events = events
        self._state_groups = state_groups
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
        state_after = context.state_before
        if event.is_state():  # only a state event pays for a copy of the room's state
            state_after = {**context.state_before, event.state_tuple: event.event_id}
        if context.hidden:
            persisted = await self._events.persist_event(
                event, context.state_group_before, context.state_before, state_after, CurrentStateDelta({}),
                now_ms=self._now_ms(), rejected=context.rejected, soft_failed=context.soft_failed)
            logger.info("Kept %s in %s out of the room: %s", event.event_id, event.room_id,
                        context.rejected or "soft-failed")
            return persisted
        current = await self._current_state_after(event, context.state_before, state_after, context.new_room)
        persisted = await self._events.persist_event(
            event, context.state_group_before, context.state_before, state_after, current,
            is_new_room=context.new_room, now_ms=self._now_ms(), txn_id=context.txn_id,
        )
        self._fan_out(persisted)
        return persisted

    def _fan_out(self, persisted: PersistedEvent) -> None:
        for listener in self._listeners:
            try:
                listener(persisted)
            except Exception:
                logger.exception("Listener %r failed on %s", listener, persisted.event.event_id)

    async def persist_out_of_band_membership(self, event: Event, stripped_state: list[dict[str, Any]] | None
                                             ) -> PersistedEvent:
        """A member event of one of our users in a room we do not hold (an invite from another
        server, the leave that rejects it): stored apart from any room state, then the fan-out."""
        persisted = await self._events.persist_out_of_band_membership(event, stripped_state, self._now_ms())
        self._fan_out(persisted)
        return persisted

    async def _current_state_after(self, event: Event, state_before: StateMap, state_after: StateMap,
                                   new_room: bool) -> CurrentStateDelta:
        """The room's current state once `event` is in: the state after it when it becomes the
        only forward extremity (every local send, and a remote event that continues the line),
        else the resolution of the states after every extremity (the graph forks)."""
        room_id = event.room_id
        old_extremities = [] if new_room else await self._events.get_forward_extremity_ids(room_id)
        others = sorted(set(old_extremities) - set(event.prev_event_ids))
        before = {} if new_room else await self._events.get_current_state_ids(room_id)
        if not others:
            # The event is the only extremity: current state is the state after it. When the state
            # before it is the current state (dict comparison, no Python loop), only its own key changes.
            if state_before == before:
                if not event.is_state() or before.get(event.state_tuple) == event.event_id:
                    return CurrentStateDelta(before)
                return await self._delta_of(event, state_after, {event.state_tuple: event.event_id}, [])
            return await self._delta(event, before, state_after)
        groups = await self._state_groups.get_event_state_groups(others)
        states = [await self._state_groups.get_state(groups[e][1]) for e in others if e in groups]

        # The event is not stored yet: resolution sees it (and its auth chain) through these.
        async def get_events(ids: list[str]) -> dict[str, Event]:
            found = await self._events.get_events([i for i in ids if i != event.event_id])
            if event.event_id in ids:
                found[event.event_id] = event
            return found

        async def get_auth_chain_ids(ids: list[str]) -> set[str]:
            if event.event_id not in ids:
                return await self._events.get_auth_chain_ids(ids)
            rest = [i for i in ids if i != event.event_id] + list(event.auth_event_ids)
            return await self._events.get_auth_chain_ids(rest) | set(event.auth_event_ids)

        resolved = await resolve_state(event.room_version, [dict(state_after), *states], get_events,
                                       get_auth_chain_ids)
        return await self._delta(event, before, dict(resolved))

    async def _delta(self, event: Event, before: StateMap, after: StateMap) -> CurrentStateDelta:
        changed = {k: v for k, v in after.items() if before.get(k) != v}
        removed = [k for k in before if k not in after]
        return await self._delta_of(event, after, changed, removed)

    async def _delta_of(self, event: Event, after: StateMap, changed: dict[StateKey, str],
                        removed: list[StateKey]) -> CurrentStateDelta:
        """The delta, with the current membership of each member key that changed (`event` is
        not stored yet: it is looked up here, the others in the store)."""
        member_ids = {k[1]: v for k, v in changed.items() if k[0] == "m.room.member"}
        events = await self._events.get_events([eid for eid in member_ids.values() if eid != event.event_id])
        events[event.event_id] = event
        memberships = {user_id: (eid, events[eid].content.get("membership")) for user_id, eid in member_ids.items()
                       if eid in events}
        removed_members = [sk for t, sk in removed if t == "m.room.member"]
        return CurrentStateDelta(after, changed, removed, memberships, removed_members)
