"""/sync: what changed for a user since a token, or everything for a first sync; long-polls on
the notifier when nothing has.

A sync token is "s<events stream position>" (more streams will join it as "_"-separated parts;
parsers read the leading part). Positions are persistent, so tokens survive restarts."""

from __future__ import annotations

from typing import Any

from homeserver.api.errors import invalid_param
from homeserver.events.model import Event
from homeserver.handlers.room_reads import RoomReadHandler, parse_stream_token, stream_token
from homeserver.handlers.visibility import VisibilityHandler
from homeserver.notifier import Notifier
from homeserver.storage.events import EventsStore
from homeserver.storage.state_groups import StateGroupsStore

DEFAULT_TIMELINE_LIMIT = 10
STRIPPED_STATE_TYPES = ("m.room.create", "m.room.join_rules", "m.room.canonical_alias", "m.room.avatar",
                        "m.room.name", "m.room.encryption", "m.room.topic")
MAX_HEROES = 5


class SyncHandler:
    def __init__(self, events: EventsStore, state_groups: StateGroupsStore, visibility: VisibilityHandler,
                 reads: RoomReadHandler, notifier: Notifier):
        self._events = events
        self._state_groups = state_groups
        self._visibility = visibility
        self._reads = reads
        self._notifier = notifier

    async def sync(self, user_id: str, device_id: str, since: str | None, timeout_ms: int, full_state: bool,
                   sync_filter: dict[str, Any], use_state_after: bool = False) -> dict[str, Any]:
        since_pos = None
        if since is not None:
            since_pos = parse_stream_token(since)
            if since_pos is None or since_pos > self._events.stream.current:
                raise invalid_param("Unknown since token")
        result = await self._compute(user_id, device_id, since_pos, full_state, sync_filter, use_state_after)
        if since_pos is not None and not full_state and timeout_ms > 0 and not result["rooms_changed"]:
            joined = await self._events.get_rooms_for_user(user_id)
            if await self._notifier.wait(user_id, joined, timeout_ms):
                result = await self._compute(user_id, device_id, since_pos, full_state, sync_filter, use_state_after)
        return result["body"]

    async def _compute(self, user_id: str, device_id: str, since: int | None, full_state: bool,
                       sync_filter: dict[str, Any], use_state_after: bool) -> dict[str, Any]:
        now = self._events.stream.current
        room_filter = sync_filter.get("room", {}) if isinstance(sync_filter.get("room"), dict) else {}
        timeline_filter = room_filter.get("timeline", {}) if isinstance(room_filter.get("timeline"), dict) else {}
        state_filter = room_filter.get("state", {}) if isinstance(room_filter.get("state"), dict) else {}
        limit = timeline_filter.get("limit", DEFAULT_TIMELINE_LIMIT)
        limit = limit if isinstance(limit, int) and limit > 0 else DEFAULT_TIMELINE_LIMIT
        lazy = bool(state_filter.get("lazy_load_members"))
        include_leave = bool(room_filter.get("include_leave"))

        memberships = await self._events.get_current_memberships(user_id)
        changes = await self._events.get_membership_changes(user_id, since, now) if since is not None else {}
        joined = [r for r, (m, _) in memberships.items() if m == "join"]
        latest = await self._events.get_latest_positions(joined)
        rooms: dict[str, dict[str, Any]] = {"join": {}, "invite": {}, "leave": {}, "knock": {}}
        for room_id, (membership, event_id) in sorted(memberships.items()):
            changed = room_id in changes
            if membership == "join":
                if since is None or full_state or changed:
                    rooms["join"][room_id] = await self._room(user_id, device_id, room_id, None, now, limit, lazy,
                                                              use_state_after)
                elif latest.get(room_id, 0) > since:
                    rooms["join"][room_id] = await self._room(user_id, device_id, room_id, since, now, limit, lazy,
                                                              use_state_after)
            elif membership in ("invite", "knock") and (since is None or changed):
                key = "invite_state" if membership == "invite" else "knock_state"
                rooms[membership][room_id] = {key: {"events": await self._stripped_state(event_id)}}
            elif membership in ("leave", "ban") and (changed or (since is None and include_leave)):
                upto = changes[room_id][2] if changed else (await self._events.get_stream_orderings([event_id]))[event_id]
                rooms["leave"][room_id] = await self._room(user_id, device_id, room_id,
                                                           since if changed else None, upto, limit, lazy,
                                                           use_state_after)
        body: dict[str, Any] = {"next_batch": stream_token(now),
                                "rooms": {k: v for k, v in rooms.items() if v}}
        return {"body": body, "rooms_changed": any(rooms.values())}

    async def _room(self, user_id: str, device_id: str, room_id: str, since: int | None, upto: int, limit: int,
                    lazy: bool, use_state_after: bool) -> dict[str, Any]:
        """Timeline (since, upto] (the last `limit` visible events) and the state change that
        leads up to its start (all of it when `since` is None); with `use_state_after`, the
        state change up to its end instead (`state_after`, spec v1.16)."""
        rows = await self._events.paginate_room_events(room_id, upto, True, limit + 1, since)
        limited = len(rows) > limit
        rows = list(reversed(rows[:limit]))
        fetched = await self._events.get_events([eid for eid, _ in rows])
        timeline = await self._visibility.filter_events_for_user(
            user_id, [fetched[eid] for eid, _ in rows if eid in fetched])
        start = rows[0][1] - 1 if rows else upto
        if use_state_after:
            state_at_start = await self._state_at_position(room_id, upto)
        else:
            state_at_start = await self._state_at(room_id, rows[0][0] if rows else None, upto)
        if since is None:
            wanted = state_at_start
        else:
            before = await self._state_at_position(room_id, since)
            wanted = {k: v for k, v in state_at_start.items() if before.get(k) != v}
        if lazy:
            senders = {e.sender for e in timeline} | {user_id}
            wanted = {k: v for k, v in wanted.items() if k[0] != "m.room.member" or k[1] in senders}
        timeline_ids = {e.event_id for e in timeline}
        # `state` never repeats timeline events; `state_after` is the whole change, timeline or not.
        state_events = await self._events.get_events(
            [v for v in wanted.values() if use_state_after or v not in timeline_ids])
        serialized = await self._reads.serialize(timeline, user_id)
        txn_ids = await self._events.get_txn_ids(user_id, device_id, list(timeline_ids))
        for event in serialized:
            if event["event_id"] in txn_ids:
                event["unsigned"]["transaction_id"] = txn_ids[event["event_id"]]
        return {
            "timeline": {"events": serialized, "limited": limited, "prev_batch": stream_token(start)},
            "state_after" if use_state_after else "state": {
                "events": await self._reads.serialize(list(state_events.values()))},
            "summary": await self._summary(user_id, room_id),
        }

    async def _state_at(self, room_id: str, first_timeline_event: str | None, upto: int) -> dict:
        """The state just before the timeline's first event (or at `upto` if it is empty)."""
        if first_timeline_event is not None:
            groups = await self._state_groups.get_event_state_groups([first_timeline_event])
            if first_timeline_event in groups:
                return await self._state_groups.get_state(groups[first_timeline_event][0])
        return await self._state_at_position(room_id, upto)

    async def _state_at_position(self, room_id: str, position: int) -> dict:
        event_id = await self._events.get_event_at_position(room_id, position)
        if event_id is None:
            return {}
        groups = await self._state_groups.get_event_state_groups([event_id])
        return await self._state_groups.get_state(groups[event_id][1]) if event_id in groups else {}

    async def _summary(self, user_id: str, room_id: str) -> dict[str, Any]:
        members = await self._events.get_members(room_id)
        joined = sorted(u for u, m, _ in members if m == "join")
        invited = sorted(u for u, m, _ in members if m == "invite")
        summary: dict[str, Any] = {"m.joined_member_count": len(joined), "m.invited_member_count": len(invited)}
        state = await self._events.get_current_state_ids(room_id)
        if ("m.room.name", "") not in state and ("m.room.canonical_alias", "") not in state:
            others = [u for u in joined + invited if u != user_id]
            if not others:  # everyone left: heroes are those who did
                others = sorted(u for u, m, _ in members if m in ("leave", "ban") and u != user_id)
            summary["m.heroes"] = others[:MAX_HEROES]
        return summary

    async def _stripped_state(self, member_event_id: str) -> list[dict[str, Any]]:
        """Stripped state for an invite or knock: the room's key state events, plus the
        membership event itself."""
        groups = await self._state_groups.get_event_state_groups([member_event_id])
        state = await self._state_groups.get_state(groups[member_event_id][0]) if member_event_id in groups else {}
        ids = [state[(t, "")] for t in STRIPPED_STATE_TYPES if (t, "") in state]
        member = await self._events.get_event(member_event_id)
        if member is not None and (("m.room.member", member.sender)) in state:
            ids.append(state[("m.room.member", member.sender)])
        fetched = await self._events.get_events(ids + [member_event_id])
        out: list[Event] = [fetched[i] for i in ids + [member_event_id] if i in fetched]
        return [{"type": e.type, "state_key": e.state_key, "content": e.content, "sender": e.sender} for e in out]
