"""The outbox: `queue` stores a mail in the database and returns at once; a background loop hands
due mails to the SMTP server one at a time, deletes each once accepted, and retries a failed one
with exponential backoff (30 s doubling, up to an hour apart). After GIVE_UP_AFTER_MS of failures
the mail is dropped with an error in the log. Mails queued before a restart are sent after it."""

from __future__ import annotations

import email.utils
import logging
import secrets
from email.message import EmailMessage
from typing import Any

from twisted.internet import defer

from homeserver.clock import Clock
from homeserver.mail.smtp import MailTransport
from homeserver.storage.email_outbox import EmailOutboxStore

logger = logging.getLogger(__name__)

FIRST_RETRY_MS = 30_000
MAX_RETRY_MS = 3_600_000
GIVE_UP_AFTER_ATTEMPTS = 30  # about a day of retries at the longest interval
BATCH = 20


def compose(sender: str, recipient: str, subject: str, text: str, html: str | None, now_s: float,
            headers: dict[str, str] | None = None) -> str:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = recipient
    msg["Subject"] = subject
    msg["Date"] = email.utils.formatdate(now_s)
    domain = email.utils.parseaddr(sender)[1].rpartition("@")[2] or "localhost"
    msg["Message-ID"] = f"<{secrets.token_hex(16)}@{domain}>"
    msg["Auto-Submitted"] = "auto-generated"  # no vacation replies to the server, please
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(text)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    return msg.as_string()


def retry_delay_ms(attempts: int) -> int:
    return min(FIRST_RETRY_MS * 2 ** (attempts - 1), MAX_RETRY_MS)


class Mailer:
    def __init__(self, clock: Clock, store: EmailOutboxStore, transport: MailTransport, sender: str):
        self._clock = clock
        self._store = store
        self.transport = transport  # tests swap in a fake
        self.sender = sender
        self._running = False
        self._again = False
        self._timer: Any = None
        self._stopped = False
        self.sent = 0  # mails the SMTP server accepted since start (for tests and metrics)

    @property
    def busy(self) -> bool:
        """A sending round is under way (it ends with the timer for the next one set)."""
        return self._running

    async def queue(self, recipient: str, subject: str, text: str, html: str | None = None,
                    headers: dict[str, str] | None = None) -> None:
        message = compose(self.sender, recipient, subject, text, html, self._clock.time(), headers)
        await self._store.add(secrets.token_hex(12), recipient, message, self._clock.time_msec())
        self.kick()

    def start(self) -> None:
        self._stopped = False
        self.kick()
        probe = getattr(self.transport, "probe", None)
        if probe is not None:
            defer.ensureDeferred(self._probe(probe))

    async def _probe(self, probe: Any) -> None:
        try:
            greeting = await probe()
        except Exception as e:
            logger.error("E-mail: cannot reach the SMTP server (%s: %s); mails wait in the outbox until it "
                         "answers. Check email.smtp_host and email.smtp_port.", type(e).__name__, e)
            return
        logger.info("E-mail: the SMTP server answers: %s", greeting)

    def stop(self) -> None:
        self._stopped = True
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None

    def kick(self) -> None:
        """Send what is due now (in the background)."""
        if self._stopped:
            return
        if self._running:
            self._again = True
            return
        defer.ensureDeferred(self._run())

    async def _run(self) -> None:
        self._running = True
        try:
            while True:
                self._again = False
                try:
                    await self._send_due()
                    next_ts = await self._store.next_due_ts()
                except Exception:
                    logger.exception("E-mail outbox: could not read the outbox; trying again in a minute")
                    next_ts = self._clock.time_msec() + 60_000
                if not self._again:
                    break
        finally:
            self._running = False
        self._schedule(next_ts)

    def _schedule(self, next_ts: int | None) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        if next_ts is None or self._stopped:
            return
        delay_s = max(0.0, (next_ts - self._clock.time_msec()) / 1000)
        self._timer = self._clock.call_later(delay_s, self.kick)

    async def _send_due(self) -> None:
        while not self._stopped:
            due = await self._store.get_due(self._clock.time_msec(), BATCH)
            if not due:
                return
            for mail in due:
                if self._stopped:
                    return
                try:
                    await self.transport.send(self.sender_address(), mail.recipient, mail.message.encode("utf-8"))
                except Exception as e:
                    await self._failed(mail.id, mail.recipient, mail.attempts + 1, e)
                    continue
                self.sent += 1
                await self._store.delete(mail.id)
                logger.info("E-mail outbox: sent a mail to %s", mail.recipient)

    def sender_address(self) -> str:
        return email.utils.parseaddr(self.sender)[1]

    async def _failed(self, mail_id: str, recipient: str, attempts: int, error: Exception) -> None:
        reason = f"{type(error).__name__}: {error}"
        if attempts >= GIVE_UP_AFTER_ATTEMPTS:
            logger.error("E-mail outbox: giving up on a mail to %s after %d failed attempts; last: %s",
                         recipient, attempts, reason)
            await self._store.delete(mail_id)
            return
        delay = retry_delay_ms(attempts)
        logger.warning("E-mail outbox: sending to %s failed (attempt %d), retrying in %ds: %s",
                       recipient, attempts, delay // 1000, reason)
        await self._store.record_failure(mail_id, attempts, self._clock.time_msec() + delay, reason)
