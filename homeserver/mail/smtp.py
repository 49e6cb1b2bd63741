"""Handing one mail to the SMTP server with Twisted's ESMTP client: STARTTLS when offered (or
required, with `require_transport_security`), implicit TLS with `force_tls`, login when
`smtp_user` is set. Never blocks the reactor."""

from __future__ import annotations

import io
from typing import Any, Protocol

from twisted.internet import defer
from twisted.internet.ssl import optionsForClientTLS
from twisted.mail.smtp import ESMTPSenderFactory
from twisted.protocols.tls import TLSMemoryBIOFactory

from homeserver.config.email import EmailSettings

CONNECT_TIMEOUT_S = 30


class MailTransport(Protocol):
    async def send(self, sender: str, recipient: str, message: bytes) -> None:
        """Raise if the SMTP server did not accept the mail."""


class SmtpTransport:
    def __init__(self, reactor: Any, settings: EmailSettings):
        self._reactor = reactor
        self._settings = settings

    async def send(self, sender: str, recipient: str, message: bytes) -> None:
        s = self._settings
        done: defer.Deferred = defer.Deferred()
        tls_options = optionsForClientTLS(s.smtp_host) if s.enable_tls else None
        factory: Any = ESMTPSenderFactory(
            s.smtp_user.encode() if s.smtp_user else None, s.smtp_pass.encode() if s.smtp_pass else None,
            sender, [recipient], io.BytesIO(message), done, retries=0, timeout=CONNECT_TIMEOUT_S,
            # Inside implicit TLS there is nothing for STARTTLS to do.
            contextFactory=None if s.force_tls else tls_options, heloFallback=True,
            requireAuthentication=s.smtp_user is not None,
            requireTransportSecurity=s.require_transport_security and not s.force_tls)
        if s.force_tls:
            factory = TLSMemoryBIOFactory(tls_options, True, factory)
        self._reactor.connectTCP(s.smtp_host, s.smtp_port, factory, timeout=CONNECT_TIMEOUT_S)
        await done
