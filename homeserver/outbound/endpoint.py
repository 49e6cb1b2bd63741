"""Connections that go only where the policy allows: the hostname is resolved here, every address
is checked, and the connection is made to a checked address itself, so that a second DNS answer
(rebinding) cannot send it elsewhere. Hostnames that are IP literals are checked the same way.

A client may be given a `RouteLookup` (federation's server discovery): the URL's host is then a
name to look up, and the lookup says which hosts and ports to connect to, in order, and which
name the TLS certificate must be valid for. Each of those hosts is resolved and checked here the
same way. The last step, opening the connection to a checked address, is the `Connector`'s:
TCP (and TLS) in production, an in-memory connection to another in-process server in tests."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, Protocol

from twisted.internet import defer
from twisted.internet.endpoints import TCP4ClientEndpoint, TCP6ClientEndpoint, wrapClientTLS
from twisted.internet.error import ConnectError, DNSLookupError
from twisted.internet.interfaces import (
    IOpenSSLClientConnectionCreator,
    IResolutionReceiver,
    IStreamClientEndpoint,
)
from twisted.web.iweb import IAgentEndpointFactory
from zope.interface import implementer

from homeserver.outbound.errors import AddressRefused
from homeserver.outbound.ranges import IPAddress, IpRangePolicy
from homeserver.outbound.tls import TlsPolicy

logger = logging.getLogger(__name__)

# A name with many addresses is tried on this many of them at most (each has the connect timeout).
MAX_ADDRESSES_TRIED = 4


@dataclass(frozen=True)
class Route:
    """Where to connect for one URL host: `targets` (host, port) in the order to try them, and the
    name the server's TLS certificate must be valid for (an IP literal: no SNI is sent)."""

    targets: tuple[tuple[str, int], ...]
    tls_name: str


class RouteLookup(Protocol):
    def route(self, host: str, port: int) -> Awaitable[Route]: ...


class Connector(Protocol):
    """Opens a connection to a checked address (TLS when `tls` is given)."""

    def connect(self, address: IPAddress, port: int, timeout_s: float,
                tls: IOpenSSLClientConnectionCreator | None, protocol_factory: Any) -> defer.Deferred: ...


class TcpConnector:
    def __init__(self, reactor: Any):
        self._reactor = reactor

    def connect(self, address: IPAddress, port: int, timeout_s: float,
                tls: IOpenSSLClientConnectionCreator | None, protocol_factory: Any) -> defer.Deferred:
        cls = TCP6ClientEndpoint if address.version == 6 else TCP4ClientEndpoint
        endpoint: Any = cls(self._reactor, str(address), port, timeout=timeout_s)
        if tls is not None:
            endpoint = wrapClientTLS(tls, endpoint)
        return endpoint.connect(protocol_factory)


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
    checked addresses in turn (of each route target in turn, with a RouteLookup)."""

    def __init__(self, net: Network, policy: IpRangePolicy, host: str, port: int, connect_timeout_s: float,
                 tls: TlsPolicy | None, routes: RouteLookup | None = None):
        self._net = net
        self._policy = policy
        self._host = host
        self._port = port
        self._connect_timeout_s = connect_timeout_s
        self._tls = tls
        self._routes = routes

    def connect(self, protocol_factory: Any) -> defer.Deferred:
        return defer.ensureDeferred(self._connect(protocol_factory))

    async def checked_addresses(self, host: str | None = None, port: int | None = None) -> list[IPAddress]:
        host = self._host if host is None else host
        port = self._port if port is None else port
        literal = literal_address(host)
        addresses = [literal] if literal is not None else await self._net.resolver.resolve(host, port)
        if not addresses:
            raise DNSLookupError(f"no addresses for {host}")
        refused = [a for a in addresses if not self._policy.allows(a)]
        if refused:
            logger.info("Refused an outgoing connection to %s: %s not allowed by the IP range policy",
                        host, ", ".join(map(str, refused)))
            raise AddressRefused(host)
        return addresses

    async def _connect(self, protocol_factory: Any) -> Any:
        if self._routes is not None:
            route = await self._routes.route(self._host, self._port)
        else:
            route = Route(((self._host, self._port),), self._host)
        creator = self._tls.creator_for(route.tls_name.strip("[]")) if self._tls is not None else None
        last_error: Exception | None = None
        for host, port in route.targets:
            try:
                addresses = await self.checked_addresses(host, port)
            except DNSLookupError as e:  # the next target (SRV) may resolve
                last_error = e
                continue
            for address in addresses[:MAX_ADDRESSES_TRIED]:
                try:
                    return await self._net.connector.connect(address, port, self._connect_timeout_s, creator,
                                                             protocol_factory)
                except ConnectError as e:
                    last_error = e
        if last_error is None:
            raise DNSLookupError(f"nowhere to connect for {self._host}")
        raise last_error


class Network(Protocol):
    """What the endpoints look up at each connection (OutboundHttp: tests swap its parts)."""

    resolver: HostResolver
    connector: Connector


@implementer(IAgentEndpointFactory)
class GuardedEndpointFactory:
    def __init__(self, net: Network, policy: IpRangePolicy, connect_timeout_s: float, tls: TlsPolicy,
                 routes: RouteLookup | None = None):
        self._net = net
        self._policy = policy
        self._connect_timeout_s = connect_timeout_s
        self._tls = tls
        self._routes = routes

    def endpointForURI(self, uri: Any) -> GuardedEndpoint:  # noqa: N802 - Twisted's interface name
        if uri.scheme not in (b"http", b"https"):
            raise ValueError(f"unsupported scheme {uri.scheme!r}")
        return GuardedEndpoint(self._net, self._policy, uri.host.decode("ascii"), uri.port,
                               self._connect_timeout_s, self._tls if uri.scheme == b"https" else None,
                               self._routes)
