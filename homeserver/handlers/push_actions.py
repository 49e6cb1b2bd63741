"""After an event is persisted: whom its push rules notify. In the background, once the event has
committed (never on the request path), a bounded number of events at a time: each local member of
the room (and an invitee, for their invite) but the sender gets the event evaluated against their
rules, in the same way as the unread counts of /sync (homeserver.handlers.notifications), and the
events that notify are recorded (for GET /notifications and the pushers)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from twisted.internet import defer
from twisted.python.failure import Failure

from homeserver.clock import Clock
from homeserver.events.model import Event
from homeserver.handlers.push_rules import PushRulesHandler
from homeserver.push.context import event_for_rules, push_context, recipient_state_keys
from homeserver.storage.account_data import AccountDataStore
from homeserver.storage.events import EventsStore, PersistedEvent
from homeserver.storage.pushers import NotificationRecord, PushersStore
from homeserver.util.cpu_pool import CpuPool

logger = logging.getLogger(__name__)

MAX_CONCURRENT_EVENTS = 8


class PushActionsHandler:
    def __init__(self, server_name: str, clock: Clock, events: EventsStore, push_rules: PushRulesHandler,
                 pushers: PushersStore, cpu: CpuPool, account_data: AccountDataStore,
                 max_concurrent: int = MAX_CONCURRENT_EVENTS):
        self._suffix = ":" + server_name
        self._account_data = account_data
        self._clock = clock
        self._events = events
        self._push_rules = push_rules
        self._pushers = pushers
        self._cpu = cpu
        self._limit = defer.DeferredSemaphore(max_concurrent)
        self._in_flight: set[defer.Deferred] = set()
        # Called with the users who got new notifications, once they are recorded.
        self.recorded_listeners: list[Callable[[list[str]], None]] = []

    def on_event_persisted(self, persisted: PersistedEvent) -> None:
        """Queue the event's evaluation (an EventPersister listener: runs after the commit)."""
        d = self._limit.run(lambda: defer.ensureDeferred(self.record_notifications(persisted)))
        self._in_flight.add(d)

        def done(result: object) -> None:
            self._in_flight.discard(d)
            if isinstance(result, Failure):
                logger.error("Push rule evaluation of %s failed", persisted.event.event_id,
                             exc_info=(result.type, result.value, result.getTracebackObject()))

        d.addBoth(done)

    async def drain(self) -> None:
        """Wait for the evaluations under way (at shutdown, and in tests)."""
        while self._in_flight:
            await defer.DeferredList(list(self._in_flight), consumeErrors=True)

    async def record_notifications(self, persisted: PersistedEvent) -> list[NotificationRecord]:
        event = persisted.event
        recipients = await self._recipients(event)
        if not recipients:
            return []
        room_id = event.room_id
        members = await self._events.get_members(room_id)
        member_count = sum(1 for _, m, _ in members if m == "join")
        state = await self._events.get_current_state_ids(room_id)
        wanted = {k for user_id in recipients for k in recipient_state_keys(user_id)}
        fetched = await self._events.get_events([state[k] for k in wanted if k in state])
        rule_event = event_for_rules(event)
        now = self._clock.time_msec()
        work = []
        for user_id in recipients:
            auth_state = {k: fetched[state[k]] for k in recipient_state_keys(user_id)
                          if k in state and state[k] in fetched}
            work.append((user_id, await self._push_rules.get_evaluator(user_id),
                         push_context(user_id, event.sender, auth_state, member_count)))

        def evaluate() -> list[NotificationRecord]:
            # Pure CPU (every recipient's rules against a body of up to 64 KiB): off the reactor thread.
            out = []
            for user_id, evaluator, context in work:
                result = evaluator.notification(rule_event, context)
                if result.notify:
                    out.append(NotificationRecord(user_id, event.event_id, room_id, persisted.stream_ordering,
                                                  result.actions, result.highlight, now))
            return out

        records = await self._cpu.run(evaluate)
        await self._pushers.add_notifications(records)
        if records:
            users = [r.user_id for r in records]
            for listener in self.recorded_listeners:
                listener(users)
        return records

    async def _recipients(self, event: Event) -> list[str]:
        """Local users in the room (joined, or invited by this very event), except the sender and
        those who ignore the sender (spec: ignoring users; nothing of theirs may notify)."""
        users = {user_id for user_id, membership, _ in await self._events.get_members(event.room_id)
                 if membership == "join"}
        if event.type == "m.room.member" and event.content.get("membership") == "invite" \
                and isinstance(event.state_key, str):
            users.add(event.state_key)
        users.discard(event.sender)
        return sorted([u for u in users if u.endswith(self._suffix)
                       and event.sender not in await self._account_data.get_ignored_users(u)])
