"""E-mail notifications (`email.enable_notifs`): a digest of the messages a user was notified of
and has not read for `notif_delay_before_mail`, sent to each address that has an e-mail pusher
(kind `email`, app_id `m.email`, pushkey the address: created when an address is bound, with
`notif_for_new_users`, or by the user through /pushers/set).

Every CHECK_INTERVAL_S each e-mail pusher looks at the user's notifications past its position:
once the oldest unread one has waited long enough, one mail lists every unread one (per room,
with sender and text; an encrypted message is only said to be one, never quoted), and the pusher
moves past them. Read ones are skipped. Each mail has an unsubscribe link (and List-Unsubscribe
headers) signed for that user and address: following it deletes the pusher."""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections import OrderedDict
from html import escape
from string import Template
from typing import Any
from urllib.parse import quote, urlencode

from twisted.internet import defer

from homeserver.clock import Clock
from homeserver.config import Config
from homeserver.handlers.push_delivery import PushContent
from homeserver.handlers.read_positions import ReadPositions
from homeserver.mail.outbox import Mailer
from homeserver.storage.events import EventsStore
from homeserver.storage.pushers import NotificationRecord, PusherRecord, PushersStore

logger = logging.getLogger(__name__)

EMAIL_APP_ID = "m.email"
CHECK_INTERVAL_S = 60
MAX_PER_MAIL = 50
MAX_QUOTE = 300

NOTIF_TEXT = ("Hello,\n\nYou have unread messages on $app_name:\n\n$messages\n\nOpen $app_name: $client_url\n\n"
              "To stop these mails: $unsubscribe_link\n")


def unsubscribe_key(signing_seed: bytes) -> bytes:
    """The key unsubscribe links are signed with: derived from the server's signing key, so it
    survives restarts and needs no setting."""
    return hashlib.sha256(b"email-unsubscribe\x00" + signing_seed).digest()


def sign_unsubscribe(key: bytes, user_id: str, address: str) -> str:
    return hmac.new(key, f"{user_id}\x00{address}".encode(), hashlib.sha256).hexdigest()


def describe(event: Any) -> str:
    """One line for a notified event. Encrypted content is never decrypted or quoted."""
    content = event.content if isinstance(event.content, dict) else {}
    if event.type == "m.room.encrypted":
        return "sent an encrypted message"
    if event.type == "m.room.member" and content.get("membership") == "invite":
        return "invited you"
    if event.type == "m.call.invite":
        return "called you"
    msgtype = content.get("msgtype")
    body = content.get("body")
    if msgtype in ("m.image", "m.video", "m.audio", "m.file"):
        return f"sent a{'n' if msgtype in ('m.image', 'm.audio') else ''} {msgtype[2:]}"
    if isinstance(body, str) and body:
        text = " ".join(body.split())
        text = text if len(text) <= MAX_QUOTE else text[:MAX_QUOTE - 1] + "…"
        return f"* {text}" if msgtype == "m.emote" else text
    return f"sent a {event.type} event"


class EmailNotifier:
    def __init__(self, config: Config, clock: Clock, pushers: PushersStore, events: EventsStore,
                 reads: ReadPositions, content: PushContent, mailer: Mailer | None, signing_seed: bytes):
        self._config = config
        self._email = config.email
        self._clock = clock
        self._pushers = pushers
        self._events = events
        self._reads = reads
        self._content = content
        self._mailer = mailer
        self._key = unsubscribe_key(signing_seed)
        self._loop: Any = None
        self._running = False

    @property
    def enabled(self) -> bool:
        return self._email is not None and self._email.enable_notifs and self._mailer is not None

    def start(self) -> None:
        if self.enabled:
            self._loop = self._clock.looping_call(CHECK_INTERVAL_S, self._tick)

    def stop(self) -> None:
        if self._loop is not None and self._loop.running:
            self._loop.stop()

    def _tick(self) -> Any:
        return defer.ensureDeferred(self.run_once())

    # -- pushers for bound addresses -----------------------------------------------------------

    async def on_address_bound(self, user_id: str, medium: str, address: str) -> None:
        if medium != "email" or not self.enabled or not self._email.notif_for_new_users:
            return
        await self.add_pusher(user_id, address)

    async def on_address_unbound(self, user_id: str, medium: str, address: str) -> None:
        if medium == "email":
            await self._pushers.delete_pusher(user_id, EMAIL_APP_ID, address)

    async def add_pusher(self, user_id: str, address: str) -> None:
        await self._pushers.set_pusher(
            user_id, None, "email", EMAIL_APP_ID, address, "Email Notifications", address, None, "en", {},
            self._clock.time_msec(), self._events.stream.current, remove_others=False)

    async def unsubscribe(self, user_id: str, address: str, signature: str) -> bool:
        want = sign_unsubscribe(self._key, user_id, address)
        if not hmac.compare_digest(want, signature):
            return False
        await self._pushers.delete_pusher(user_id, EMAIL_APP_ID, address)
        return True

    def unsubscribe_link(self, user_id: str, address: str) -> str:
        query = urlencode({"user_id": user_id, "address": address,
                           "sig": sign_unsubscribe(self._key, user_id, address)})
        return f"{self._config.public_baseurl}_matrix/client/unstable/email/unsubscribe?{query}"

    # -- the digests ---------------------------------------------------------------------------

    async def run_once(self) -> None:
        if self._running or not self.enabled:
            return
        self._running = True
        try:
            for pusher in await self._pushers.get_pushers_of_kind("email"):
                try:
                    await self._process(pusher)
                except Exception:
                    logger.exception("E-mail notifications for %s failed", pusher.user_id)
        finally:
            self._running = False

    async def _process(self, pusher: PusherRecord) -> None:
        assert self._email is not None and self._mailer is not None
        rows = await self._pushers.get_notifications_after(pusher.user_id, pusher.last_stream_ordering,
                                                           MAX_PER_MAIL)
        if not rows:
            return
        # Rooms the user is in, and those they are invited to (an invitation is worth a mail too).
        joined = set(await self._events.get_rooms_for_user(pusher.user_id))
        joined.update(await self._events.get_rooms_for_user(pusher.user_id, "invite"))
        unread: list[NotificationRecord] = []
        for row in rows:
            if row.room_id in joined and not await self._reads.has_read(
                    pusher.user_id, row.room_id, row.event_id, row.stream_ordering):
                unread.append(row)
        now = self._clock.time_msec()
        if unread and unread[0].ts + self._email.notif_delay_before_mail_ms > now:
            # Not unread for long enough yet; skip only what was read before it.
            skipped = [r for r in rows if r.stream_ordering < unread[0].stream_ordering]
            if skipped:
                await self._pushers.set_last_stream_ordering(pusher.id, skipped[-1].stream_ordering)
            return
        if unread:
            await self._send_digest(pusher, unread)
        await self._pushers.set_last_stream_ordering(pusher.id, rows[-1].stream_ordering)

    async def _send_digest(self, pusher: PusherRecord, unread: list[NotificationRecord]) -> None:
        assert self._email is not None and self._mailer is not None
        events = await self._events.get_events([r.event_id for r in unread])
        by_room: OrderedDict[str, list[tuple[str, str]]] = OrderedDict()
        room_names: dict[str, str] = {}
        for row in unread:
            event = events.get(row.event_id)
            if event is None:
                continue
            details = await self._content.room_details(event)
            sender = details.sender_display_name or event.sender
            room_names.setdefault(row.room_id, details.room_name or details.room_alias or sender)
            by_room.setdefault(row.room_id, []).append((sender, describe(event)))
        if not by_room:
            return
        client_url = self._email.client_base_url
        text_parts, html_parts = [], []
        for room_id, lines in by_room.items():
            name = room_names[room_id]
            link = f"{client_url}#/room/{quote(room_id, safe='!:')}"
            text_parts.append(f"{name} ({link})\n" + "\n".join(f"  {s}: {t}" for s, t in lines))
            html_parts.append(f'<h3><a href="{escape(link)}">{escape(name)}</a></h3><ul>'
                              + "".join(f"<li><b>{escape(s)}</b>: {escape(t)}</li>" for s, t in lines) + "</ul>")
        unsubscribe = self.unsubscribe_link(pusher.user_id, pusher.pushkey)
        values = {"app_name": self._email.app_name, "messages": "\n\n".join(text_parts), "client_url": client_url,
                  "unsubscribe_link": unsubscribe, "server_name": self._config.server_name}
        text = Template(self._email.templates.get("notif_mail.txt", NOTIF_TEXT)).safe_substitute(values)
        html = (f"<p>You have unread messages on {escape(self._email.app_name)}:</p>{''.join(html_parts)}"
                f'<p><a href="{escape(client_url)}">Open {escape(self._email.app_name)}</a></p>'
                f'<p style="font-size:small"><a href="{escape(unsubscribe)}">Unsubscribe</a></p>')
        first_room = room_names[next(iter(by_room))]
        kind = "messages_in_room" if len(by_room) == 1 else "messages_in_room_and_others"
        subject = self._email.subject(kind, room=first_room, server_name=self._config.server_name)
        await self._mailer.queue(pusher.pushkey, subject, text, html, headers={
            "List-Unsubscribe": f"<{unsubscribe}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"})
        logger.info("E-mail notifications: a digest of %d messages for %s", len(unread), pusher.user_id)
