"""The e-mail outbox: queueing returns before sending, failures are retried with backoff and
logged, mails survive a restart, a mail that never goes is dropped only with an error logged."""

from __future__ import annotations

import logging
from typing import Any

from homeserver.mail.outbox import FIRST_RETRY_MS, GIVE_UP_AFTER_ATTEMPTS, Mailer, retry_delay_ms
from tests.mail.fakes import EMAIL_CONFIG, mail_text, parse_mail
from tests.server import HomeserverTestCase


class OutboxTest(HomeserverTestCase):
    config_overrides = {"email": EMAIL_CONFIG}

    async def _set_up(self) -> None:
        await super()._set_up()
        self.transport = self.hs.mailer.transport

    def capture_log(self) -> list[str]:
        logged: list[str] = []

        class Handler(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                logged.append(f"{record.levelname} {record.getMessage()}")

        handler = Handler(logging.WARNING)
        logger = logging.getLogger("homeserver.mail.outbox")
        logger.addHandler(handler)
        self.addCleanup(logger.removeHandler, handler)
        return logged

    async def settled(self) -> None:
        """Until the mailer's round is over and its next wake-up is set (before the clock moves on)."""
        await self.pump_until(lambda: not self.hs.mailer.busy)

    async def outbox(self) -> list[tuple[Any, ...]]:
        return await self.hs.database.execute("t", "SELECT recipient, attempts, next_attempt_ts, last_error "
                                                   "FROM email_outbox")

    async def test_queue_and_send(self) -> None:
        await self.hs.mailer.queue("bob@example.org", "Hello", "Text body", "<p>HTML body</p>")
        await self.pump_until(lambda: self.transport.sent)
        sender, recipient, raw = self.transport.sent[0]
        self.assertEqual((sender, recipient), ("noreply@matrix.test", "bob@example.org"))
        mail = parse_mail(raw)
        self.assertEqual(mail["From"], "Test server <noreply@matrix.test>")
        self.assertEqual(mail["Subject"], "Hello")
        self.assertIn("Text body", mail_text(raw))
        self.assertIn("HTML body", mail.get_body(preferencelist=("html",)).get_content())
        await self.pump_until(lambda: self.hs.mailer.sent == 1)
        await self.pump()
        self.assertEqual(await self.outbox(), [])

    async def test_failure_is_logged_and_retried_with_backoff(self) -> None:
        logged = self.capture_log()
        self.transport.fail_with = ConnectionRefusedError("Connection refused")
        await self.hs.mailer.queue("bob@example.org", "Hello", "Text")
        await self.pump_until(lambda: self.transport.attempts == 1)
        await self.settled()
        rows = await self.outbox()
        self.assertEqual(len(rows), 1)
        self.assertEqual(rows[0][1], 1)
        self.assertEqual(rows[0][2], self.hs.clock.time_msec() + FIRST_RETRY_MS)
        self.assertIn("Connection refused", rows[0][3])
        self.assertTrue(any("sending to bob@example.org failed" in m for m in logged), logged)
        # Not before the backoff is over...
        self.advance(FIRST_RETRY_MS / 1000 - 1)
        await self.pump()
        self.assertEqual(self.transport.attempts, 1)
        # ...then again, and the next wait is twice as long.
        self.advance(1)
        await self.pump_until(lambda: self.transport.attempts == 2)
        await self.settled()
        self.assertEqual((await self.outbox())[0][1:3], (2, self.hs.clock.time_msec() + 2 * FIRST_RETRY_MS))
        # The SMTP server comes back: the mail goes and leaves the outbox.
        self.transport.fail_with = None
        self.advance(2 * FIRST_RETRY_MS / 1000)
        await self.pump_until(lambda: self.transport.sent)
        await self.pump()
        self.assertEqual(await self.outbox(), [])

    async def test_outbox_survives_restart(self) -> None:
        self.hs.mailer.stop()
        await self.hs.mailer.queue("carol@example.org", "Kept", "Text")
        await self.pump()
        self.assertEqual(self.transport.sent, [])
        self.assertEqual(len(await self.outbox()), 1)
        # A new mailer on the same database (a restarted server) sends it.
        fresh = Mailer(self.hs.clock, self.hs.email_outbox_store, self.transport, self.hs.mailer.sender)
        fresh.start()
        self.addCleanup(fresh.stop)
        await self.pump_until(lambda: self.transport.sent)
        self.assertEqual(self.transport.sent[0][1], "carol@example.org")

    async def test_gives_up_with_an_error_logged(self) -> None:
        logged = self.capture_log()
        # A day passes: the server's hourly housekeeping is not what this test is about.
        for call in self.hs._looping_calls:
            call.stop()
        self.transport.fail_with = OSError("no route")
        await self.hs.mailer.queue("dave@example.org", "Lost", "Text")
        for attempt in range(1, GIVE_UP_AFTER_ATTEMPTS):
            await self.pump_until(lambda a=attempt: self.transport.attempts == a)
            await self.settled()
            self.advance(retry_delay_ms(attempt) / 1000)
        await self.pump_until(lambda: self.transport.attempts == GIVE_UP_AFTER_ATTEMPTS)
        await self.pump()
        self.assertEqual(await self.outbox(), [])
        self.assertTrue(any(m.startswith("ERROR") and "giving up on a mail to dave@example.org" in m for m in logged), logged)
