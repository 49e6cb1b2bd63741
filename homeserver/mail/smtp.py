"""Handing one mail to the SMTP server with Twisted's ESMTP client: STARTTLS when offered (or
required, with `require_transport_security`), implicit TLS with `force_tls`, login when
`smtp_user` is set. Never blocks the reactor."""

from __future__ import annotations

import io
from typing import Any, Protocol

from twisted.internet import defer, protocol
from twisted.internet.ssl import optionsForClientTLS
from twisted.mail.smtp import ESMTPSenderFactory
from twisted.protocols.tls import TLSMemoryBIOFactory

from homeserver.config.email import EmailSettings

CONNECT_TIMEOUT_S = 30
PROBE_TIMEOUT_S = 15


class _Greeting(protocol.Protocol):
    """Reads the SMTP server's first line (`220 ...`) and hangs up."""

    def __init__(self, done: defer.Deferred):
        self._done = done
        self._buffer = b""

    def dataReceived(self, data: bytes) -> None:
        self._buffer += data
        if b"\n" in self._buffer and not self._done.called:
            self._done.callback(self._buffer.split(b"\n", 1)[0].strip().decode("utf-8", "replace"))
            self.transport.loseConnection()

    def connectionLost(self, reason: Any = None) -> None:
        if not self._done.called:
            self._done.errback(ConnectionError("the SMTP server closed the connection without a greeting"))


class _GreetingFactory(protocol.ClientFactory):
    def __init__(self, done: defer.Deferred):
        self.done = done

    def buildProtocol(self, addr: Any) -> protocol.Protocol:
        return _Greeting(self.done)

    def clientConnectionFailed(self, connector: Any, reason: Any) -> None:
        if not self.done.called:
            self.done.errback(reason.value)


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

    async def probe(self) -> str:
        """Connect and read the server's greeting (no mail, no login): at start-up, so that a wrong
        host or port shows in the log at once rather than at the first mail."""
        s = self._settings
        done: defer.Deferred = defer.Deferred()
        factory: Any = _GreetingFactory(done)
        if s.force_tls:
            factory = TLSMemoryBIOFactory(optionsForClientTLS(s.smtp_host), True, factory)
        self._reactor.connectTCP(s.smtp_host, s.smtp_port, factory, timeout=PROBE_TIMEOUT_S)
        timer = self._reactor.callLater(PROBE_TIMEOUT_S, lambda: done.called or done.errback(
            TimeoutError(f"no greeting within {PROBE_TIMEOUT_S}s")))
        try:
            greeting = await done
        finally:
            if timer.active():
                timer.cancel()
        if not greeting.startswith("220"):
            raise ConnectionError(f"unexpected greeting {greeting!r}")
        return greeting
