"""An in-memory network for outgoing-HTTP tests: a Connector (see homeserver.outbound.endpoint)
whose connections to (address, port) land in an in-process twisted.web Site (another test
server's resource tree, or a fake peer), with no sockets. Swap it in with

    hs.outbound.connector = network          # and hs.outbound.resolver = StaticResolver({...})

Everything before the connection is the production path: discovery, the IP range policy, the
TLS creator (recorded in `connections`, not run: the transports are marked secure instead)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from twisted.internet import defer, reactor
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.error import ConnectionRefusedError
from twisted.internet.interfaces import ISSLTransport
from twisted.test import iosim
from twisted.web.server import Site
from zope.interface import directlyProvides


@dataclass(frozen=True)
class Connection:
    address: str
    port: int
    tls_name: str | None  # the name the certificate would be checked for (None: plain HTTP)
    sni: bool  # whether that name would be sent as SNI


def tls_name_of(creator: Any) -> tuple[str | None, bool]:
    if creator is None:
        return None, False
    if hasattr(creator, "_hostnameASCII"):  # twisted's ClientTLSOptions (verifying)
        return creator._hostnameASCII, creator._hostnameIsDnsName
    return getattr(creator, "_name", None), getattr(creator, "_sni", None) is not None


class _Pipe(iosim.FakeTransport):
    def __init__(self, protocol: Any, is_server: bool, host: Any, peer: Any, kick: Any):
        super().__init__(protocol, is_server, hostAddress=host, peerAddress=peer)
        self._kick = kick

    def write(self, data: bytes) -> None:
        super().write(data)
        self._kick()

    def loseConnection(self) -> None:  # noqa: N802 - Twisted's name
        super().loseConnection()
        self._kick()

    def abortConnection(self) -> None:  # noqa: N802
        super().abortConnection()
        self._kick()


class _Link:
    """One connection: data moves at the next reactor turn after it is written."""

    def __init__(self, client: Any, server: Any, client_addr: Any, server_addr: Any):
        self._pending: Any = None
        self.client_io = _Pipe(client, False, client_addr, server_addr, self.kick)
        self.server_io = _Pipe(server, True, server_addr, client_addr, self.kick)
        directlyProvides(self.client_io, ISSLTransport)
        directlyProvides(self.server_io, ISSLTransport)
        self.pump = iosim.IOPump(client, server, self.client_io, self.server_io, False)
        server.makeConnection(self.server_io)
        client.makeConnection(self.client_io)

    def kick(self) -> None:
        if self._pending is None or not self._pending.active():
            self._pending = reactor.callLater(0, self.flush)

    def flush(self) -> None:
        self.pump.flush(advanceClock=False)

    def close(self) -> None:
        if self._pending is not None and self._pending.active():
            self._pending.cancel()
        self.client_io.loseConnection()
        self.flush()
        if self._pending is not None and self._pending.active():
            self._pending.cancel()


class InProcessNetwork:
    def __init__(self) -> None:
        self._sites: dict[tuple[str, int], Site] = {}
        self.connections: list[Connection] = []
        self._links: list[_Link] = []

    def listen(self, address: str, port: int, site: Site) -> None:
        site.timeOut = None  # no idle timers on the real reactor
        self._sites[(str(ipaddress.ip_address(address)), port)] = site

    def stop(self, address: str, port: int) -> None:
        self._sites.pop((str(ipaddress.ip_address(address)), port), None)

    def connect(self, address: Any, port: int, timeout_s: float, tls: Any, protocol_factory: Any) -> defer.Deferred:
        name, sni = tls_name_of(tls)
        self.connections.append(Connection(str(address), port, name, sni))
        site = self._sites.get((str(address), port))
        if site is None:
            return defer.fail(ConnectionRefusedError(f"{address}:{port}"))
        cls = IPv6Address if address.version == 6 else IPv4Address
        server_addr = cls("TCP", str(address), port)
        client_addr = cls("TCP", "::1" if address.version == 6 else "127.0.0.1", 40000 + len(self.connections))
        client = protocol_factory.buildProtocol(server_addr)
        server = site.buildProtocol(client_addr)
        self._links.append(_Link(client, server, client_addr, server_addr))
        return defer.succeed(client)

    def close(self) -> None:
        """Drop every connection (call at test cleanup: no reactor calls are left pending)."""
        for link in self._links:
            link.close()
        self._links = []
