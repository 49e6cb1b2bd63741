"""Delayed events (MSC4140): a message or state event a client schedules now and the server sends
later, unless the client cancels it first; the client can restart the timer (a heartbeat) or send
it at once. Element Call schedules its own "left the call" membership this way, so a client that
dies leaves the call when its heartbeats stop.

Every scheduled event is in the database. The handler keeps what its timer needs in memory
(loaded at start-up, when overdue events are sent in the order they fell due) and one timer for
the next event due. An event goes out through the ordinary send path (RoomSendHandler) as the user
who scheduled it, so auth rules and power levels are checked when it is sent; one the room refuses
then is logged and dropped. The row of a scheduled event is deleted in the same transaction that
persists the event it became (DelayedEventsStore.on_event_persisted_txn): it is sent at most once,
and until that transaction commits it stays scheduled, so a crash loses nothing."""

from __future__ import annotations

import heapq
import itertools
import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

from twisted.internet import defer
from twisted.python.failure import Failure

from homeserver.api.errors import Codes, MatrixError, not_found
from homeserver.clock import Clock
from homeserver.events.validation import EventTooLargeError, check_size_bound
from homeserver.handlers.room_send import RoomSendHandler
from homeserver.ratelimit import RateLimiter
from homeserver.storage.delayed_events import DelayedEvent, DelayedEventGone, DelayedEventsStore
from homeserver.storage.events import EventsStore, PersistedEvent
from homeserver.util.linearizer import Linearizer
from homeserver.util.secrets import new_token

logger = logging.getLogger(__name__)

ACTIONS = ("cancel", "restart", "send")
# An event whose sending failed unexpectedly (not refused by the room: e.g. the database was
# down) is tried again this much later, at most MAX_ATTEMPTS times in all.
RETRY_AFTER_FAILURE_MS = 60_000
MAX_ATTEMPTS = 5
# How long a transaction ID of PUT /send?org.matrix.msc4140.delay= keeps answering with its delay ID.
TXN_LIFETIME_MS = 24 * 3600 * 1000
ERRCODE_KEY = "org.matrix.msc4140.errcode"
MAX_DELAY_KEY = "org.matrix.msc4140.max_delay"


@dataclass(frozen=True)
class DelayedEventSettings:
    max_delay_ms: int | None  # None: delayed events are off
    max_per_user: int


@dataclass
class _Scheduled:
    """What the timer and the cancellation rule need of a scheduled event (its content stays in
    the database)."""

    user_id: str
    room_id: str
    event_type: str
    state_key: str | None
    delay_ms: int
    due_ts: int
    attempts: int = 0

    @property
    def state_tuple(self) -> tuple[str, str, str] | None:
        return None if self.state_key is None else (self.room_id, self.event_type, self.state_key)


class DelayedEventsHandler:
    def __init__(self, settings: DelayedEventSettings, clock: Clock, store: DelayedEventsStore,
                 events: EventsStore, room_send: RoomSendHandler, mgmt_limiter: RateLimiter):
        self._settings = settings
        self._clock = clock
        self._store = store
        self._events = events
        self._room_send = room_send
        self._limiter = mgmt_limiter
        self._scheduled: dict[str, _Scheduled] = {}
        self._by_state: dict[tuple[str, str, str], set[str]] = {}  # (room, type, state key) -> delay IDs
        self._heap: list[tuple[int, int, str]] = []  # (due_ts, seq, delay_id); stale entries skipped
        self._seq = itertools.count()
        self._timer: Any = None
        self._timer_due: int | None = None
        self._running = False  # _run_due is sending what fell due
        self._stopped = False
        self._locks = Linearizer()  # per delay ID: one action at a time
        self._user_locks = Linearizer()  # per user: scheduling (the per-user cap, transaction IDs)
        self._in_flight: set[defer.Deferred] = set()

    @property
    def enabled(self) -> bool:
        return self._settings.max_delay_ms is not None

    @property
    def settings(self) -> DelayedEventSettings:
        return self._settings

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Load the scheduled events, send those that fell due while the server was down (in the
        order they fell due, in the background), and set the timer for the rest."""
        for event in await self._store.get_all():
            self._track(event)
        self._spawn(self._run_due(), "sending the delayed events due")

    async def stop(self) -> None:
        """Stop the timer and wait for the sends under way; what is still scheduled stays in the
        database for the next start."""
        self._stopped = True
        self._cancel_timer()
        await self.drain()

    async def drain(self) -> None:
        """Wait for the background work under way (sends, cancellations)."""
        while self._in_flight:
            await defer.DeferredList(list(self._in_flight), consumeErrors=True)

    async def expire_old_txns(self) -> None:
        await self._store.delete_txns_before(self._clock.time_msec() - TXN_LIFETIME_MS)

    # -- scheduling -----------------------------------------------------------------------------

    def check_delay(self, delay_ms: int) -> None:
        """400 M_UNKNOWN with the MSC's own errcode for a delay this server does not accept (the
        reply matrix-js-sdk 43 understands: it retries with `org.matrix.msc4140.max_delay`)."""
        max_delay = self._settings.max_delay_ms
        if max_delay is None:
            raise MatrixError(400, Codes.UNKNOWN, "Delayed events are not enabled on this server",
                              **{ERRCODE_KEY: "M_MAX_DELAY_UNSUPPORTED"})
        if delay_ms > max_delay:
            raise MatrixError(400, Codes.UNKNOWN, f"The delay is longer than this server allows ({max_delay} ms)",
                              **{ERRCODE_KEY: "M_MAX_DELAY_EXCEEDED", MAX_DELAY_KEY: max_delay})

    async def schedule(self, user_id: str, device_id: str | None, room_id: str, event_type: str,
                       state_key: str | None, content: dict[str, Any], delay_ms: int,
                       txn_id: str | None = None) -> str:
        """Schedule a message (`state_key` None) or state event; returns its delay ID. The same
        (user, device, `txn_id`) returns the delay ID it got the first time."""
        self.check_delay(delay_ms)
        try:
            check_size_bound(content)
        except EventTooLargeError as e:
            raise MatrixError(413, Codes.TOO_LARGE, str(e)) from None
        if await self._events.get_room_version(room_id) is None:
            raise not_found("Unknown room")
        txn = (user_id, device_id, txn_id) if txn_id is not None and device_id is not None else None
        async with self._user_locks.queue(user_id):
            if txn is not None:
                existing = await self._store.get_txn_delay_id(*txn)
                if existing is not None:
                    return existing
            if await self._store.count_for_user(user_id) >= self._settings.max_per_user:
                raise MatrixError(429, Codes.LIMIT_EXCEEDED,
                                  f"You have {self._settings.max_per_user} delayed events scheduled already: "
                                  "the most this server allows")
            now = self._clock.time_msec()
            event = DelayedEvent(new_token(""), user_id, device_id, room_id, event_type, state_key, content,
                                 delay_ms, now, now + delay_ms)
            await self._store.add(event, txn, now)
            self._track(event)
        self._arm()
        return event.delay_id

    # -- management -----------------------------------------------------------------------------

    async def update(self, delay_id: str, action: str, rate_limit_key: str) -> None:
        """cancel, restart (due = now + its delay) or send a scheduled event. Whoever knows the
        delay ID may (it is the capability, and lk-jwt-service sends no access token); requests
        count against the rate limit of the event's owner (`rate_limit_key`, the requester or
        their address, for an unknown ID)."""
        if action not in ACTIONS:
            raise MatrixError(400, Codes.INVALID_PARAM, f"action must be one of {', '.join(ACTIONS)}")
        scheduled = self._scheduled.get(delay_id)
        self._limiter.check(scheduled.user_id if scheduled is not None else rate_limit_key)
        if scheduled is None:
            raise not_found("No delayed event with that ID")
        async with self._locks.queue(delay_id):
            scheduled = self._scheduled.get(delay_id)
            if scheduled is None:  # sent or cancelled while this request waited
                raise not_found("No delayed event with that ID")
            if action == "cancel":
                await self._store.delete(delay_id)
                self._forget(delay_id)
            elif action == "restart":
                now = self._clock.time_msec()
                if not await self._store.restart(delay_id, now, now + scheduled.delay_ms):
                    self._forget(delay_id)
                    raise not_found("No delayed event with that ID")
                self._reschedule(delay_id, now + scheduled.delay_ms)
            else:
                await self._send(delay_id, raise_refusal=True)
        self._arm()

    async def get_for_user(self, user_id: str, delay_id: str | None = None) -> list[dict[str, Any]]:
        """The user's scheduled events, the next due first (only `delay_id`'s if given)."""
        self._limiter.check(user_id)
        return [_client_format(e) for e in await self._store.get_for_user(user_id)
                if delay_id is None or e.delay_id == delay_id]

    # -- the cancellation rule ------------------------------------------------------------------

    def on_event_persisted(self, persisted: PersistedEvent) -> None:
        """An EventPersister listener: a state event of another sender (another local user, or
        anyone on another server) cancels the scheduled state events of that (room, type, state
        key); the owner's own changes do not."""
        event = persisted.event
        if not event.is_state():
            return
        ids = self._by_state.get((event.room_id, event.type, event.state_key))
        if not ids:
            return
        for delay_id in sorted(ids):
            if self._scheduled[delay_id].user_id != event.sender:
                self._spawn(self._cancel_overridden(delay_id, event.event_id), "cancelling a delayed event")

    async def _cancel_overridden(self, delay_id: str, event_id: str) -> None:
        async with self._locks.queue(delay_id):
            if delay_id not in self._scheduled:
                return
            await self._store.delete(delay_id)
            self._forget(delay_id)
            logger.info("Delayed event %s cancelled: %s changed the same state", delay_id, event_id)

    # -- sending --------------------------------------------------------------------------------

    async def _send(self, delay_id: str, raise_refusal: bool = False) -> None:
        """Send a scheduled event now (the caller holds its lock). A refusal by the room (auth
        rules, power levels, a room gone) drops it; `raise_refusal`: and is raised to the caller."""
        event = await self._store.get(delay_id)
        if event is None:
            self._forget(delay_id)
            return
        internal = {"delay_id": delay_id}
        try:
            if event.state_key is None:
                await self._room_send.send_message(event.user_id, event.room_id, event.event_type, event.content,
                                                   internal=internal)
            else:
                # A new event even when the state already holds this content: the row goes out
                # with the event's transaction.
                await self._room_send.set_state(event.user_id, event.room_id, event.event_type, event.state_key,
                                                event.content, reuse_same_state=False, internal=internal)
        except DelayedEventGone:
            self._forget(delay_id)
            return
        except MatrixError as e:
            logger.info("Delayed event %s of %s in %s refused when sent, dropped: %s %s", delay_id,
                        event.user_id, event.room_id, e.errcode, e.msg)
            await self._store.delete(delay_id)
            self._forget(delay_id)
            if raise_refusal:
                raise
            return
        self._forget(delay_id)

    async def _fire(self, delay_id: str) -> None:
        """Send an event whose time has come (from the timer)."""
        async with self._locks.queue(delay_id):
            scheduled = self._scheduled.get(delay_id)
            now = self._clock.time_msec()
            if scheduled is None or scheduled.due_ts > now:  # cancelled, sent or restarted meanwhile
                return
            try:
                await self._send(delay_id)
            except Exception:
                scheduled.attempts += 1
                if scheduled.attempts >= MAX_ATTEMPTS:
                    logger.exception("Delayed event %s could not be sent after %d attempts; dropped",
                                     delay_id, scheduled.attempts)
                    await self._store.delete(delay_id)
                    self._forget(delay_id)
                else:
                    logger.exception("Delayed event %s could not be sent; trying again later", delay_id)
                    self._reschedule(delay_id, now + RETRY_AFTER_FAILURE_MS)

    async def _run_due(self) -> None:
        """Send everything due, the earliest first, one at a time; then set the timer."""
        if self._running:
            return
        self._running = True
        try:
            while not self._stopped:
                delay_id = self._pop_due(self._clock.time_msec())
                if delay_id is None:
                    break
                try:
                    await self._fire(delay_id)
                except Exception:
                    logger.exception("Sending delayed event %s failed", delay_id)
        finally:
            self._running = False
            self._arm()

    # -- bookkeeping ----------------------------------------------------------------------------

    def _track(self, event: DelayedEvent) -> None:
        scheduled = _Scheduled(event.user_id, event.room_id, event.event_type, event.state_key, event.delay_ms,
                               event.due_ts)
        self._scheduled[event.delay_id] = scheduled
        if scheduled.state_tuple is not None:
            self._by_state.setdefault(scheduled.state_tuple, set()).add(event.delay_id)
        heapq.heappush(self._heap, (event.due_ts, next(self._seq), event.delay_id))

    def _reschedule(self, delay_id: str, due_ts: int) -> None:
        self._scheduled[delay_id].due_ts = due_ts
        heapq.heappush(self._heap, (due_ts, next(self._seq), delay_id))

    def _forget(self, delay_id: str) -> None:
        scheduled = self._scheduled.pop(delay_id, None)
        if scheduled is not None and scheduled.state_tuple is not None:
            ids = self._by_state.get(scheduled.state_tuple)
            if ids is not None:
                ids.discard(delay_id)
                if not ids:
                    del self._by_state[scheduled.state_tuple]

    def _next_due(self) -> int | None:
        """The due time of the next scheduled event (dropping stale heap entries)."""
        while self._heap:
            due_ts, _, delay_id = self._heap[0]
            scheduled = self._scheduled.get(delay_id)
            if scheduled is not None and scheduled.due_ts == due_ts:
                return due_ts
            heapq.heappop(self._heap)
        return None

    def _pop_due(self, now: int) -> str | None:
        due_ts = self._next_due()
        if due_ts is None or due_ts > now:
            return None
        return heapq.heappop(self._heap)[2]

    def _arm(self) -> None:
        """Set the timer for the next event due (if it is not set for it already)."""
        if self._stopped or self._running:
            return  # _run_due arms it when it is done
        due_ts = self._next_due()
        if due_ts is not None and self._timer is not None and self._timer_due == due_ts:
            return
        self._cancel_timer()
        if due_ts is None:
            return
        self._timer_due = due_ts
        self._timer = self._clock.call_later(max(0, due_ts - self._clock.time_msec()) / 1000, self._on_timer)

    def _cancel_timer(self) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        self._timer_due = None

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_due = None
        self._spawn(self._run_due(), "sending the delayed events due")

    def _spawn(self, work: Awaitable[None], what: str) -> None:
        d = defer.ensureDeferred(work)
        self._in_flight.add(d)

        def done(result: object) -> None:
            self._in_flight.discard(d)
            if isinstance(result, Failure):
                logger.error("Failed: %s", what, exc_info=(result.type, result.value, result.getTracebackObject()))

        d.addBoth(done)


def _client_format(event: DelayedEvent) -> dict[str, Any]:
    out: dict[str, Any] = {
        "delay_id": event.delay_id,
        "room_id": event.room_id,
        "type": event.event_type,
        "delay": event.delay_ms,
        "running_since": event.running_since,
        "content": event.content,
    }
    if event.state_key is not None:
        out["state_key"] = event.state_key
    return out

