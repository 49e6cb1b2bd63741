"""Delivering recorded notifications to push gateways: one worker per http pusher.

A worker sends its user's notifications in order, one request at a time, from the position it has
reached (kept in the database, so delivery resumes after a restart). It skips what the user has
already read. A failed request is retried with exponential backoff (1 s doubling to 10 min) for
up to `push.give_up_after`, then dropped. A gateway answering that it rejected the pushkey gets
the pusher deleted."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from twisted.internet import defer

from homeserver.clock import Clock
from homeserver.events.model import Event
from homeserver.handlers.notifications import NotificationCounter
from homeserver.handlers.read_positions import ReadPositions
from homeserver.push import notify_format
from homeserver.push.gateway import PushGatewayClient, PushGatewayError
from homeserver.push.read_state import is_read, thread_of
from homeserver.storage.events import EventsStore
from homeserver.storage.pushers import NotificationRecord, PusherRecord, PushersStore

logger = logging.getLogger(__name__)

INITIAL_BACKOFF_S = 1.0
MAX_BACKOFF_S = 600.0
BATCH = 50  # notifications read from the database at a time
MISSED_CALLS_LOOKED_AT = 20


@dataclass(frozen=True)
class PushSettings:
    enabled: bool
    include_content: bool
    give_up_after_ms: int


class PushContent:
    """What a notification says beyond the event: the counts, and the sender and room names."""

    def __init__(self, events: EventsStore, pushers: PushersStore, reads: ReadPositions,
                 counter: NotificationCounter):
        self._events = events
        self._pushers = pushers
        self._reads = reads
        self._counter = counter

    async def counts(self, user_id: str) -> dict[str, int]:
        """unread: the notifying events the user has not read, over every room they are in (as
        /sync counts them); missed_calls: the call invites among them."""
        rooms = await self._events.get_rooms_for_user(user_id)
        upto = self._events.stream.current
        unread = 0
        for room_id in rooms:
            main, _ = await self._counter.counts(user_id, room_id, upto, False)
            unread += main["notification_count"]
        missed = 0
        joined = set(rooms)
        for room_id, event_id, position in await self._pushers.get_latest_notified_of_type(
                user_id, "m.call.invite", MISSED_CALLS_LOOKED_AT):
            if room_id in joined and not await self._reads.has_read(user_id, room_id, event_id, position):
                missed += 1
        return notify_format.counts(unread, missed)

    async def room_details(self, event: Event) -> notify_format.RoomDetails:
        state = await self._events.get_current_state_ids(event.room_id)
        keys = {"sender": ("m.room.member", event.sender), "name": ("m.room.name", ""),
                "alias": ("m.room.canonical_alias", "")}
        fetched = await self._events.get_events([state[k] for k in keys.values() if k in state])

        def value(key: str, field: str) -> str | None:
            found = fetched.get(state.get(keys[key], ""))
            result = found.content.get(field) if found is not None else None
            return result if isinstance(result, str) and result else None

        return notify_format.RoomDetails(value("sender", "displayname"), value("name", "name"),
                                         value("alias", "alias"))


class HttpPusher:
    """Sends one pusher's notifications. `kick()` after new notifications; `stop()` when deleted."""

    def __init__(self, pool: PusherPool, record: PusherRecord):
        self._pool = pool
        self.record = record
        self._position = record.last_stream_ordering
        self._running = False
        self._again = False
        self._stopped = False
        self._retry_timer: Any = None
        self._backoff_s = INITIAL_BACKOFF_S
        self._failing_since: int | None = None
        self._done: defer.Deferred | None = None

    @property
    def event_id_only(self) -> bool:
        return self.record.data.get("format") == notify_format.EVENT_ID_ONLY or not self._pool.settings.include_content

    def kick(self) -> None:
        if self._stopped or self._retry_timer is not None:
            return  # a retry is due: it sends what is new too
        if self._running:
            self._again = True
            return
        self._running = True
        self._done = defer.ensureDeferred(self._run())
        self._done.addErrback(lambda f: logger.error("Pusher %s failed: %s", self.record.id, f.getTraceback()))

    def stop(self) -> None:
        self._stopped = True
        if self._retry_timer is not None and self._retry_timer.active():
            self._retry_timer.cancel()
        self._retry_timer = None

    async def wait_idle(self) -> None:
        if self._done is not None and not self._done.called:
            await self._done

    async def _run(self) -> None:
        try:
            while not self._stopped:
                self._again = False
                rows = await self._pool.store.get_notifications_after(self.record.user_id, self._position, BATCH)
                for row in rows:
                    try:
                        go_on = not self._stopped and await self._process(row)
                    except Exception as e:  # e.g. the database: try again later rather than stall
                        logger.exception("Pusher %s could not deal with %s", self.record.id, row.event_id)
                        go_on = self._failed(row, repr(e))
                    if not go_on:
                        return
                    self._position = row.stream_ordering
                    await self._pool.store.set_last_stream_ordering(self.record.id, self._position)
                if not rows and not self._again:
                    return
        finally:
            self._running = False

    async def _process(self, row: NotificationRecord) -> bool:
        """Deal with one notification; False to stop here (retry later, or the pusher is gone)."""
        event = await self._pool.events.get_event(row.event_id)
        if event is None:
            return True
        read = await self._pool.reads.get(row.user_id, row.room_id)
        if is_read(row.stream_ordering, thread_of(event.content), read):
            return True
        try:
            rejected = await self._pool.gateway.notify(self.record.data["url"], await self._body(event, row))
        except PushGatewayError as e:
            return self._failed(row, str(e))
        self._backoff_s = INITIAL_BACKOFF_S
        self._failing_since = None
        if self.record.pushkey in rejected:
            logger.info("Push gateway rejected the pushkey of pusher %s: deleting it", self.record.id)
            self.stop()
            await self._pool.store.delete_pusher(self.record.user_id, self.record.app_id, self.record.pushkey)
            return False
        return True

    async def _body(self, event: Event, row: NotificationRecord) -> dict[str, Any]:
        tweaks = notify_format.tweaks(row.actions)
        content = self._pool.content
        details = notify_format.RoomDetails() if self.event_id_only else await content.room_details(event)
        return notify_format.notification_body(
            {"event_id": event.event_id, "room_id": event.room_id, "type": event.type, "sender": event.sender,
             "content": event.content, "state_key": event.state_key},
            details, await content.counts(row.user_id),
            notify_format.device(self.record.app_id, self.record.pushkey, self.record.pushkey_ts, self.record.data,
                                 tweaks),
            tweaks, row.user_id, self.event_id_only)

    def _failed(self, row: NotificationRecord, why: str) -> bool:
        if self._stopped:
            return False
        now = self._pool.clock.time_msec()
        if self._failing_since is None:
            self._failing_since = now
        if now - self._failing_since >= self._pool.settings.give_up_after_ms:
            logger.warning("Giving up pushing %s to pusher %s after failures (last: %s)", row.event_id,
                           self.record.id, why)
            self._failing_since = None
            self._backoff_s = INITIAL_BACKOFF_S
            return True
        logger.info("Push of %s to pusher %s failed (%s); retrying in %ss", row.event_id, self.record.id, why,
                    self._backoff_s)
        self._retry_timer = self._pool.clock.call_later(self._backoff_s, self._retry)
        self._backoff_s = min(self._backoff_s * 2, MAX_BACKOFF_S)
        return False

    def _retry(self) -> None:
        self._retry_timer = None
        self.kick()


class PusherPool:
    """The workers of every http pusher, started with the server and kept in step with the table."""

    def __init__(self, settings: PushSettings, clock: Clock, store: PushersStore, events: EventsStore,
                 reads: ReadPositions, content: PushContent, gateway: PushGatewayClient):
        self.settings = settings
        self.clock = clock
        self.store = store
        self.events = events
        self.reads = reads
        self.content = content
        self.gateway = gateway
        self._by_user: dict[str, dict[int, HttpPusher]] = {}

    async def start(self) -> None:
        """Start a worker per http pusher; each catches up on what arrived while we were down."""
        if not self.settings.enabled:
            return
        for record in await self.store.get_pushers_of_kind("http"):
            self._add(record).kick()

    async def stop(self) -> None:
        workers = [w for ws in self._by_user.values() for w in ws.values()]
        self._by_user.clear()
        for worker in workers:
            worker.stop()
        for worker in workers:
            await worker.wait_idle()
        await self.gateway.close()

    def on_pusher_set(self, record: PusherRecord) -> None:
        if not self.settings.enabled or record.kind != "http":
            return
        worker = self._by_user.get(record.user_id, {}).get(record.id)
        if worker is not None:
            worker.record = record
        else:
            self._add(record)

    def on_pushers_removed(self, records: list[PusherRecord]) -> None:
        for record in records:
            workers = self._by_user.get(record.user_id, {})
            worker = workers.pop(record.id, None)
            if worker is not None:
                worker.stop()
            if not workers:
                self._by_user.pop(record.user_id, None)

    def on_new_notifications(self, user_ids: list[str]) -> None:
        for user_id in user_ids:
            for worker in list(self._by_user.get(user_id, {}).values()):
                worker.kick()

    async def wait_idle(self) -> None:
        """Until every worker has sent what it can (tests)."""
        for workers in list(self._by_user.values()):
            for worker in list(workers.values()):
                await worker.wait_idle()

    def _add(self, record: PusherRecord) -> HttpPusher:
        worker = HttpPusher(self, record)
        self._by_user.setdefault(record.user_id, {})[record.id] = worker
        return worker
