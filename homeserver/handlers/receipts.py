"""Typing notifications (in memory, expiring on the clock), read receipts and read markers."""

from __future__ import annotations

from typing import Any, Protocol

from homeserver.api.errors import forbidden, invalid_param, not_found
from homeserver.clock import Clock
from homeserver.handlers.visibility import VisibilityHandler
from homeserver.notifier import Notifier
from homeserver.storage.account_data import AccountDataStore
from homeserver.storage.events import EventsStore
from homeserver.storage.receipts import ReceiptsStore

MAX_TYPING_TIMEOUT_MS = 120_000
DEFAULT_TYPING_TIMEOUT_MS = 30_000
RECEIPT_TYPES = ("m.read", "m.read.private", "m.fully_read")


class EduSender(Protocol):
    async def send_edu_to_room(self, room_id: str, edu_type: str, content: dict[str, Any]) -> None: ...


# A remote user's typing lasts this long unless their server renews or ends it (it sends an update
# when the user goes on typing).
REMOTE_TYPING_TIMEOUT_MS = 30_000
# Receipts in one EDU: at most this many rooms and users per room (more is dropped).
MAX_EDU_RECEIPT_ROOMS = 100
MAX_EDU_RECEIPT_USERS = 100


class TypingHandler:
    """Who is typing in each room. A serial counts changes: a sync token carries the serial it
    has seen (after a restart the serial starts again, and a newer token just gets the current
    typing state)."""

    def __init__(self, clock: Clock, events: EventsStore, notifier: Notifier, edus: EduSender | None = None):
        self._clock = clock
        self._events = events
        self._notifier = notifier
        self._edus = edus
        self._typing: dict[str, dict[str, Any]] = {}  # room -> user -> expiry timer
        self._changed_at: dict[str, int] = {}  # room -> serial of its last change
        self.serial = 0

    async def set_typing(self, requester: str, user_id: str, room_id: str, typing: bool, timeout_ms: int) -> None:
        if requester != user_id:
            raise forbidden("You cannot set another user's typing state")
        membership = await self._events.get_membership(room_id, user_id)
        if not membership or membership[0] != "join":
            raise forbidden("You are not in this room")
        was_typing = user_id in self._typing.get(room_id, {})
        self._set(room_id, user_id, typing, min(max(timeout_ms, 0), MAX_TYPING_TIMEOUT_MS))
        if self._edus is not None and (typing or was_typing):
            await self._edus.send_edu_to_room(room_id, "m.typing",
                                              {"room_id": room_id, "user_id": user_id, "typing": typing})

    async def on_remote_typing(self, origin: str, content: dict[str, Any]) -> None:
        """An m.typing EDU: a joined user of the sending server starts or stops typing."""
        room_id, user_id, typing = content.get("room_id"), content.get("user_id"), content.get("typing")
        if not isinstance(room_id, str) or not isinstance(user_id, str) or not isinstance(typing, bool) \
                or user_id.partition(":")[2] != origin:
            return
        membership = await self._events.get_membership(room_id, user_id)
        if membership and membership[0] == "join":
            self._set(room_id, user_id, typing, REMOTE_TYPING_TIMEOUT_MS)

    def _set(self, room_id: str, user_id: str, typing: bool, timeout_ms: int) -> None:
        room = self._typing.setdefault(room_id, {})
        timer = room.pop(user_id, None)
        if timer is not None and timer.active():
            timer.cancel()
        if typing:
            room[user_id] = self._clock.call_later(timeout_ms / 1000, self._expire, room_id, user_id)
        elif timer is None:
            if not room:
                self._typing.pop(room_id, None)
            return  # stopped typing without having started: nothing changed
        self._changed(room_id)

    def _expire(self, room_id: str, user_id: str) -> None:
        if self._typing.get(room_id, {}).pop(user_id, None) is not None:
            self._changed(room_id)

    def _changed(self, room_id: str) -> None:
        self.serial += 1
        self._changed_at[room_id] = self.serial
        if not self._typing.get(room_id):
            self._typing.pop(room_id, None)
        self._notifier.on_new_event(room_id)

    def typing_event(self, room_id: str, since_serial: int | None) -> dict[str, Any] | None:
        """The room's m.typing event if it changed after `since_serial` (always on a first sync
        when someone types)."""
        users = sorted(self._typing.get(room_id, {}))
        if since_serial is None or since_serial > self.serial:
            return {"type": "m.typing", "content": {"user_ids": users}} if users else None
        if self._changed_at.get(room_id, 0) > since_serial:
            return {"type": "m.typing", "content": {"user_ids": users}}
        return None


class ReceiptsHandler:
    def __init__(self, clock: Clock, events: EventsStore, receipts: ReceiptsStore, account_data: AccountDataStore,
                 visibility: VisibilityHandler, notifier: Notifier, edus: EduSender | None = None):
        self._edus = edus
        self._clock = clock
        self._events = events
        self._receipts = receipts
        self._account_data = account_data
        self._visibility = visibility
        self._notifier = notifier

    async def receipt(self, user_id: str, room_id: str, receipt_type: str, event_id: str,
                      thread_id: Any = None) -> None:
        if receipt_type not in RECEIPT_TYPES:
            raise invalid_param(f"Unknown receipt type {receipt_type!r}")
        if thread_id is not None and (not isinstance(thread_id, str) or not thread_id):
            raise invalid_param("thread_id must be a non-empty string")
        await self._check_event(user_id, room_id, event_id, thread_id)
        if receipt_type == "m.fully_read":
            await self._account_data.put(user_id, room_id, "m.fully_read", {"event_id": event_id})
            self._notifier.on_user_data(user_id)
            return
        now = self._clock.time_msec()
        await self._receipts.put(room_id, receipt_type, user_id, thread_id or "", event_id, now)
        self._notifier.on_new_event(room_id)
        if self._edus is not None and receipt_type == "m.read":  # private receipts stay here
            data: dict[str, Any] = {"ts": now}
            if thread_id is not None:
                data["thread_id"] = thread_id
            await self._edus.send_edu_to_room(
                room_id, "m.receipt", {room_id: {"m.read": {user_id: {"event_ids": [event_id], "data": data}}}})

    async def on_remote_receipts(self, origin: str, content: dict[str, Any]) -> None:
        """An m.receipt EDU: public read receipts of the sending server's joined users."""
        for room_id, by_type in list(content.items())[:MAX_EDU_RECEIPT_ROOMS]:
            reads = by_type.get("m.read") if isinstance(by_type, dict) else None
            if not isinstance(reads, dict):
                continue
            changed = False
            for user_id, receipt in list(reads.items())[:MAX_EDU_RECEIPT_USERS]:
                if not isinstance(receipt, dict) or user_id.partition(":")[2] != origin:
                    continue
                event_ids, data = receipt.get("event_ids"), receipt.get("data")
                data = data if isinstance(data, dict) else {}
                thread_id = data.get("thread_id")
                if not isinstance(event_ids, list) or not event_ids or not isinstance(event_ids[-1], str) \
                        or (thread_id is not None and (not isinstance(thread_id, str) or not thread_id)):
                    continue
                membership = await self._events.get_membership(room_id, user_id)
                if not membership or membership[0] != "join":
                    continue
                ts = data.get("ts")
                ts = ts if isinstance(ts, int) and not isinstance(ts, bool) and 0 <= ts < 2**53 \
                    else self._clock.time_msec()
                await self._receipts.put(room_id, "m.read", user_id, thread_id or "", event_ids[-1], ts)
                changed = True
            if changed:
                self._notifier.on_new_event(room_id)

    async def read_markers(self, user_id: str, room_id: str, body: dict[str, Any]) -> None:
        for key in ("m.fully_read", "m.read", "m.read.private"):
            if key in body:
                if not isinstance(body[key], str):
                    raise invalid_param(f"{key} must be an event ID")
                await self.receipt(user_id, room_id, key, body[key])

    async def _check_event(self, user_id: str, room_id: str, event_id: str, thread_id: str | None) -> None:
        membership = await self._events.get_membership(room_id, user_id)
        if not membership or membership[0] != "join":
            raise forbidden("You are not in this room")
        event = await self._events.get_event(event_id)
        if event is None or event.room_id != room_id or not await self._visibility.filter_events_for_user(
                user_id, [event]):
            raise not_found("Event not found in this room")
        if thread_id not in (None, "main") and event_id != thread_id:
            relates = event.content.get("m.relates_to")
            if not (isinstance(relates, dict) and relates.get("rel_type") == "m.thread"
                    and relates.get("event_id") == thread_id):
                raise invalid_param("The event is not in that thread")

    async def receipt_events(self, user_id: str, room_ids: list[str], since: int | None,
                             upto: int) -> dict[str, dict[str, Any]]:
        """room_id -> its m.receipt event with the receipts that changed (private ones only the user's own)."""
        out: dict[str, dict[str, Any]] = {}
        for room_id, rtype, uid, thread_id, event_id, ts in await self._receipts.get_changes(room_ids, since, upto):
            if rtype == "m.read.private" and uid != user_id:
                continue
            data: dict[str, Any] = {"ts": ts}
            if thread_id:
                data["thread_id"] = thread_id
            content = out.setdefault(room_id, {"type": "m.receipt", "content": {}})["content"]
            content.setdefault(event_id, {}).setdefault(rtype, {})[uid] = data
        return out
