"""Unread notification and highlight counts per room (and per thread), from the push rules,
counted from the user's read receipt; a new receipt clears them.

Counting evaluates the push rules on each event after the receipt, so each (user, room) keeps
its last answer: the next sync only evaluates the events that arrived since, as long as the
receipts, the join and the rules are those the answer was counted from. Without that, every
sync of every member of a busy room re-evaluated up to MAX_COUNTED events."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from homeserver.handlers.push_rules import PushRulesHandler
from homeserver.push.context import event_for_rules, push_context, recipient_state_keys
from homeserver.storage.account_data import AccountDataStore
from homeserver.storage.events import EventsStore
from homeserver.storage.receipts import ReceiptsStore
from homeserver.util.caches import LruCache

MAX_COUNTED = 200  # events looked at per room and sync (a first count is capped there)
MAX_CACHED_COUNTS = 50_000  # (user, room) answers kept


@dataclass(frozen=True)
class _Counted:
    """An answer and what it was counted from."""

    read: dict[str, int]
    floor: int
    evaluator: object
    ignored: frozenset[str]
    upto: int
    main: dict[str, int]
    threads: dict[str, dict[str, int]]


def _copy(main: dict[str, int], threads: dict[str, dict[str, int]]) -> tuple[dict, dict]:
    return dict(main), {t: dict(c) for t, c in threads.items()}


class NotificationCounter:
    def __init__(self, events: EventsStore, receipts: ReceiptsStore, push_rules: PushRulesHandler,
                 account_data: AccountDataStore):
        self._account_data = account_data
        self._events = events
        self._receipts = receipts
        self._push_rules = push_rules
        self._answers: LruCache[tuple[str, str, bool], _Counted] = LruCache("notification_counts", MAX_CACHED_COUNTS)

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
        evaluator = await self._push_rules.get_evaluator(user_id)
        # Events of ignored users never count (spec: ignoring users).
        ignored = frozenset(await self._account_data.get_ignored_users(user_id))
        key = (user_id, room_id, by_thread)
        before = self._answers.get(key)
        if before is not None and before.read == read and before.floor == floor and before.evaluator is evaluator \
                and before.ignored == ignored and before.upto <= upto:
            start = before.upto  # only what arrived since
            main, threads = _copy(before.main, before.threads)
        else:
            start = floor
            main, threads = {"notification_count": 0, "highlight_count": 0}, {}
        if start < upto:
            await self._count(user_id, room_id, start, upto, by_thread, read, evaluator, ignored, main, threads)
        self._answers.set(key, _Counted(read, floor, evaluator, ignored, upto, *_copy(main, threads)))
        return main, threads

    async def _count(self, user_id: str, room_id: str, after: int, upto: int, by_thread: bool,
                     read: dict[str, int], evaluator: Any, ignored: frozenset[str], main: dict[str, int],
                     threads: dict[str, dict[str, int]]) -> None:
        """Add the notifying events of (after, upto] (the last MAX_COUNTED) to the counts."""
        rows = await self._events.paginate_room_events(room_id, upto, True, MAX_COUNTED, after)
        if not rows:
            return
        fetched = await self._events.get_events([eid for eid, _ in rows])
        state = await self._events.get_current_state_ids(room_id)
        keys = recipient_state_keys(user_id)
        state_events = await self._events.get_events([state[k] for k in keys if k in state])
        auth_state = {k: state_events[state[k]] for k in keys if k in state and state[k] in state_events}
        member_count = len((await self._events.get_member_lists(room_id)).joined)
        for event_id, position in rows:
            event = fetched.get(event_id)
            if event is None or event.sender == user_id or event.sender in ignored:
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
            result = evaluator.notification(event_for_rules(event),
                                            push_context(user_id, event.sender, auth_state, member_count))
            if result.notify:
                bucket["notification_count"] += 1
                if result.highlight:
                    bucket["highlight_count"] += 1
