"""Connections that go only where the policy allows: the hostname is resolved here, every address
is checked, and the connection is made to a checked address itself, so that a second DNS answer
(rebinding) cannot send it elsewhere. Hostnames that are IP literals are checked the same way."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from twisted.internet import defer
from twisted.internet.endpoints import TCP4ClientEndpoint, TCP6ClientEndpoint, wrapClientTLS
from twisted.internet.error import ConnectError, DNSLookupError
from twisted.internet.interfaces import IResolutionReceiver, IStreamClientEndpoint
from twisted.web.iweb import IAgentEndpointFactory
from zope.interface import implementer

from homeserver.outbound.errors import AddressRefused
from homeserver.outbound.ranges import IPAddress, IpRangePolicy
from homeserver.outbound.tls import TlsSettings

logger = logging.getLogger(__name__)

# A name with many addresses is tried on this many of them at most (each has the connect timeout).
MAX_ADDRESSES_TRIED = 4


class HostResolver(Protocol):
    """Resolves a hostname to its addresses ([] when it has none). Tests hand in a fake one."""

    def resolve(self, hostname: str, port: int) -> Awaitable[list[IPAddress]]: ...


@implementer(IResolutionReceiver)
class _Collector:
    def __init__(self) -> None:
        self.addresses: list[IPAddress] = []
        self.done: defer.Deferred[list[IPAddress]] = defer.Deferred()

    def resolutionBegan(self, resolution: Any) -> None:  # noqa: N802 - Twisted's interface names
        pass

    def addressResolved(self, address: Any) -> None:  # noqa: N802
        try:
            self.addresses.append(ipaddress.ip_address(address.host.split("%")[0]))
        except ValueError:
            pass

    def resolutionComplete(self) -> None:  # noqa: N802
        self.done.callback(list(dict.fromkeys(self.addresses)))


class ReactorResolver:
    """The reactor's own resolver (getaddrinfo in a thread, by default)."""

    def __init__(self, reactor: Any):
        self._reactor = reactor

    def resolve(self, hostname: str, port: int) -> defer.Deferred[list[IPAddress]]:
        collector = _Collector()
        self._reactor.nameResolver.resolveHostName(collector, hostname, port)
        return collector.done


def literal_address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


@implementer(IStreamClientEndpoint)
class GuardedEndpoint:
    """Resolve, check every address (one refused address refuses the name: a hostname whose
    records include an internal address is not one this server talks to), then connect to the
    checked addresses in turn."""

    def __init__(self, reactor: Any, resolver: Callable[[], HostResolver], policy: IpRangePolicy, host: str,
                 port: int, connect_timeout_s: float, tls: TlsSettings | None):
        self._reactor = reactor
        self._resolver = resolver
        self._policy = policy
        self._host = host
        self._port = port
        self._connect_timeout_s = connect_timeout_s
        self._tls = tls

    def connect(self, protocol_factory: Any) -> defer.Deferred:
        return defer.ensureDeferred(self._connect(protocol_factory))

    async def checked_addresses(self) -> list[IPAddress]:
        literal = literal_address(self._host)
        addresses = [literal] if literal is not None else await self._resolver().resolve(self._host, self._port)
        if not addresses:
            raise DNSLookupError(f"no addresses for {self._host}")
        refused = [a for a in addresses if not self._policy.allows(a)]
        if refused:
            logger.info("Refused an outgoing connection to %s: %s not allowed by the IP range policy",
                        self._host, ", ".join(map(str, refused)))
            raise AddressRefused(self._host)
        return addresses

    async def _connect(self, protocol_factory: Any) -> Any:
        last_error: Exception | None = None
        for address in (await self.checked_addresses())[:MAX_ADDRESSES_TRIED]:
            cls = TCP6ClientEndpoint if address.version == 6 else TCP4ClientEndpoint
            endpoint: Any = cls(self._reactor, str(address), self._port, timeout=self._connect_timeout_s)
            if self._tls is not None:
                endpoint = wrapClientTLS(self._tls.creator_for(self._host.strip("[]")), endpoint)
            try:
                return await endpoint.connect(protocol_factory)
            except ConnectError as e:
                last_error = e
        assert last_error is not None
        raise last_error


@implementer(IAgentEndpointFactory)
class GuardedEndpointFactory:
    def __init__(self, reactor: Any, resolver: Callable[[], HostResolver], policy: IpRangePolicy,
                 connect_timeout_s: float, tls: TlsSettings):
        self._reactor = reactor
        self._resolver = resolver
        self._policy = policy
        self._connect_timeout_s = connect_timeout_s
        self._tls = tls

    def endpointForURI(self, uri: Any) -> GuardedEndpoint:  # noqa: N802 - Twisted's interface name
        if uri.scheme not in (b"http", b"https"):
            raise ValueError(f"unsupported scheme {uri.scheme!r}")
        return GuardedEndpoint(self._reactor, self._resolver, self._policy, uri.host.decode("ascii"), uri.port,
                               self._connect_timeout_s, self._tls if uri.scheme == b"https" else None)
