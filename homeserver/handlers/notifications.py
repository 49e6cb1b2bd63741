"""Unread notification and highlight counts per room (and per thread), from the push rules,
counted from the user's read receipt; a new receipt clears them."""

from __future__ import annotations

from typing import Any

from homeserver.handlers.push_rules import PushRulesHandler
from homeserver.push.context import push_context
from homeserver.storage.events import EventsStore
from homeserver.storage.receipts import ReceiptsStore

MAX_COUNTED = 200  # events looked at per room and sync; counts are capped there


class NotificationCounter:
    def __init__(self, events: EventsStore, receipts: ReceiptsStore, push_rules: PushRulesHandler):
        self._events = events
        self._receipts = receipts
        self._push_rules = push_rules

    async def counts(self, user_id: str, room_id: str, upto: int,
                     by_thread: bool) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
        """({notification_count, highlight_count} for the room (its main timeline when
        `by_thread`), {thread root: counts} when `by_thread`)."""
        receipts = await self._receipts.get_user_read_receipts(room_id, user_id)
        positions = await self._events.get_stream_orderings(list(set(receipts.values())))
        read = {t: positions.get(e, 0) for t, e in receipts.items()}
        membership = await self._events.get_membership(room_id, user_id)
        joined_at = (await self._events.get_stream_orderings([membership[1]])).get(membership[1], 0) \
            if membership else 0
        floor = max(joined_at, read.get("", 0))
        rows = await self._events.paginate_room_events(room_id, upto, True, MAX_COUNTED, floor)
        fetched = await self._events.get_events([eid for eid, _ in rows])
        state = await self._events.get_current_state_ids(room_id)
        keys = [("m.room.create", ""), ("m.room.power_levels", ""), ("m.room.member", user_id)]
        state_events = await self._events.get_events([state[k] for k in keys if k in state])
        auth_state = {k: state_events[state[k]] for k in keys if k in state and state[k] in state_events}
        member_count = sum(1 for _, m, _ in await self._events.get_members(room_id) if m == "join")
        evaluator = await self._push_rules.get_evaluator(user_id)
        main = {"notification_count": 0, "highlight_count": 0}
        threads: dict[str, dict[str, int]] = {}
        for event_id, position in rows:
            event = fetched.get(event_id)
            if event is None or event.sender == user_id:
                continue
            relates = event.content.get("m.relates_to")
            thread = relates.get("event_id") if isinstance(relates, dict) and relates.get("rel_type") == "m.thread" \
                else None
            if by_thread and thread:
                if position <= read.get(thread, 0):
                    continue
                bucket = threads.setdefault(thread, {"notification_count": 0, "highlight_count": 0})
            else:
                if position <= read.get("main", 0):
                    continue
                bucket = main
            as_json: dict[str, Any] = {"event_id": event.event_id, "type": event.type, "sender": event.sender,
                                       "room_id": room_id, "content": event.content}
            if event.is_state():
                as_json["state_key"] = event.state_key
            result = evaluator.notification(as_json, push_context(user_id, event.sender, auth_state, member_count))
            if result.notify:
                bucket["notification_count"] += 1
                if result.highlight:
                    bucket["highlight_count"] += 1
        return main, threads
