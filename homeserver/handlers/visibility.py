"""Who may see which events (spec: client-server API, "History visibility")."""

from __future__ import annotations

from homeserver.events.hashing import event_from_pdu
from homeserver.events.model import Event
from homeserver.events.redaction import redact
from homeserver.storage.events import EventsStore
from homeserver.storage.state_groups import StateGroupsStore
from homeserver.storage.users import UsersStore

HISTORY_VISIBILITY = ("m.room.history_visibility", "")
HISTORY_VISIBILITIES = ("world_readable", "shared", "invited", "joined")


class VisibilityHandler:
    def __init__(self, events: EventsStore, state_groups: StateGroupsStore, users: UsersStore):
        self._events = events
        self._state_groups = state_groups
        self._users = users

    async def filter_events_for_user(self, user_id: str, events: list[Event]) -> list[Event]:
        """The events `user_id` may see, in the same order. The spec's rules, per event, with the
        state at the event: world_readable; the user was joined; `shared` and the user joined at
        any point after the event; `invited` and the user was invited. A user always sees the
        events about their own membership; a history visibility change is seen when the state
        before it or the state after it allows (so a later joiner sees the change that opened the
        history to them).

        Events of erased senders (deactivated with `erase`) come back as pruned copies (the room
        version's redaction algorithm) unless the user could see them before the erasure; every
        caller serves what this returns, never its own copy of the event."""
        if not events:
            return []
        ids = [e.event_id for e in events]
        groups = await self._state_groups.get_event_state_groups(ids)
        positions = await self._events.get_stream_orderings(ids)
        joins_by_room: dict[str, list[int]] = {}
        visible = []
        for event in events:
            if event.type == "m.room.member" and event.state_key == user_id:
                visible.append(event)
                continue
            if event.event_id not in groups:
                continue
            before, after = groups[event.event_id]
            checked = [before]
            if (event.type, event.state_key) == HISTORY_VISIBILITY:
                checked.append(after)
            for group in checked:
                if await self._allowed(user_id, event, group, positions.get(event.event_id, 0), joins_by_room):
                    visible.append(event)
                    break
        return await self._apply_erasures(user_id, visible, groups, positions, joins_by_room)

    async def erased_copies(self, user_id: str, events: list[Event]) -> list[Event]:
        """`events` (already known to be visible, or shown beside one, as a `prev_content`), with
        those of erased senders pruned as filter_events_for_user would serve them."""
        if not await self._users.get_erasures({e.sender for e in events if e.sender != user_id}):
            return events
        ids = [e.event_id for e in events]
        groups = await self._state_groups.get_event_state_groups(ids)
        positions = await self._events.get_stream_orderings(ids)
        return await self._apply_erasures(user_id, events, groups, positions, {})

    async def _apply_erasures(self, user_id: str, events: list[Event], groups: dict, positions: dict,
                              joins_by_room: dict[str, list[int]]) -> list[Event]:
        erasures = await self._users.get_erasures({e.sender for e in events if e.sender != user_id})
        if not erasures:
            return events
        out = []
        for event in events:
            erased_at = erasures.get(event.sender)
            if erased_at is not None and event.event_id in groups and not await self._saw_before_erasure(
                    user_id, event, groups[event.event_id][0], positions.get(event.event_id, 0), erased_at,
                    joins_by_room):
                event = erased_copy(event)
            out.append(event)
        return out

    async def _saw_before_erasure(self, user_id: str, event: Event, group: int, position: int, erased_at: int,
                                  joins_by_room: dict[str, list[int]]) -> bool:
        """Whether the user could see `event` before its sender's erasure (at stream position
        `erased_at`): they were joined (or invited, with `invited` history) when it was sent, or
        they joined the room between the event (any time, if world readable) and the erasure.
        Those users keep the original (spec: account deactivation, `erase`)."""
        state = await self._state_groups.get_state(group)
        membership = await self._content_value(state.get(("m.room.member", user_id)), "membership", "leave")
        history = await self._content_value(state.get(HISTORY_VISIBILITY), "history_visibility", "shared")
        if membership == "join" or (history == "invited" and membership == "invite"):
            return True
        if event.room_id not in joins_by_room:
            joins_by_room[event.room_id] = await self._events.get_join_positions(event.room_id, user_id)
        return any(p <= erased_at and (history == "world_readable" or p > position)
                   for p in joins_by_room[event.room_id])

    async def _allowed(self, user_id: str, event: Event, group: int, position: int,
                       joins_by_room: dict[str, list[int]]) -> bool:
        state = await self._state_groups.get_state(group)
        history = await self._content_value(state.get(HISTORY_VISIBILITY), "history_visibility", "shared")
        if history not in HISTORY_VISIBILITIES:
            history = "shared"  # a value not understood is `shared` (spec)
        membership = await self._content_value(state.get(("m.room.member", user_id)), "membership", "leave")
        if history == "world_readable" or membership == "join":
            return True
        if history == "invited" and membership == "invite":
            return True
        if history == "shared":
            if event.room_id not in joins_by_room:
                joins_by_room[event.room_id] = await self._events.get_join_positions(event.room_id, user_id)
            return any(p > position for p in joins_by_room[event.room_id])
        return False

    async def _content_value(self, event_id: str | None, key: str, default: str) -> str:
        if event_id is None:
            return default
        event = await self._events.get_event(event_id)
        value = event.content.get(key) if event else None
        return value if isinstance(value, str) else default

    async def filter_events_for_server(self, server_name: str, events: list[Event]) -> list[Event]:
        """The events as another server may have them, in the same order: whole when the history
        visibility at the event is `world_readable` or `shared` (that server applies each of its
        users' rules itself), or when one of its users was joined (`invited`: or invited) at the
        event; otherwise redacted, so that the graph stays whole without the content."""
        if not events:
            return []
        groups = await self._state_groups.get_event_state_groups([e.event_id for e in events])
        suffix = ":" + server_name
        by_group: dict[int, bool] = {}  # events sharing a state share the answer
        out = []
        for event in events:
            group = groups.get(event.event_id)
            allowed = False
            if group is not None and group[0] in by_group:
                allowed = by_group[group[0]]
            elif group is not None:
                state = await self._state_groups.get_state(group[0])
                history = await self._content_value(state.get(HISTORY_VISIBILITY), "history_visibility", "shared")
                if history not in ("invited", "joined"):
                    allowed = True  # world_readable, shared, and values not understood (shared)
                else:
                    wanted = ("join", "invite") if history == "invited" else ("join",)
                    for (event_type, state_key), event_id in state.items():
                        if event_type == "m.room.member" and state_key.endswith(suffix) and \
                                await self._content_value(event_id, "membership", "leave") in wanted:
                            allowed = True
                            break
                by_group[group[0]] = allowed
            if allowed or (event.type == "m.room.member" and (event.state_key or "").endswith(suffix)):
                out.append(event)
            else:
                out.append(event_from_pdu(redact(event, event.room_version), event.room_version))
        return out

def erased_copy(event: Event) -> Event:
    """`event` as served to users who joined after its sender's erasure: content pruned as by a
    redaction (no `redacted_because`: no redaction event exists). Marked `internal["erased"]`."""
    copy = Event(redact(event.pdu, event.room_version), event.room_version, event.event_id, dict(event.unsigned))
    copy.internal = {**event.internal, "erased": True}
    return copy
