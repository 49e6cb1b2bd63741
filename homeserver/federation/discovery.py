"""Server discovery (spec: server-server "Resolving server names"): where to connect for a server
name, which `Host` header to send, and which name the TLS certificate must be valid for.

    IP literal, with or without a port    -> that address (port or 8448); Host: the server name;
                                             certificate for the IP address, no SNI
    hostname with a port                  -> the hostname's A/AAAA, that port; Host: the server name;
                                             certificate for the hostname
    hostname alone                        -> GET https://<hostname>/.well-known/matrix/server
      valid {"m.server": delegated}       -> the same two rules on the delegated name (Host: the
                                             delegated name as written), else SRV on it
      error (not 200, bad JSON, ...)      -> SRV on the hostname
    SRV: _matrix-fed._tcp.<name>, then the deprecated _matrix._tcp.<name>, else <name>:8448;
         Host and certificate: <name> (never the SRV target, which DNS alone vouches for)

`.well-known` answers are cached as their Cache-Control / Expires say (24 hours without them, 48
hours at most, a minute at least); errors for 2 minutes, doubling with each further error up to an
hour. When the well-known host fails (no answer, 5xx) after it had delegated, the old delegation
is kept while the error is cached: an outage of a web server does not reroute federation.

Every lookup goes through injected resolvers: tests never touch real DNS."""

from __future__ import annotations

import ipaddress
import json
import logging
import random
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, NamedTuple, Protocol

from twisted.internet import defer

from homeserver.clock import Clock
from homeserver.outbound import OutboundError, OutboundResponse
from homeserver.outbound.endpoint import Route

logger = logging.getLogger(__name__)

DEFAULT_PORT = 8448
WELL_KNOWN_PATH = "/.well-known/matrix/server"
WELL_KNOWN_MAX_SIZE = 50 * 1024
WELL_KNOWN_TIMEOUT_S = 10.0
WELL_KNOWN_DEFAULT_TTL_MS = 24 * 3600_000
WELL_KNOWN_MAX_TTL_MS = 48 * 3600_000
WELL_KNOWN_MIN_TTL_MS = 60_000
WELL_KNOWN_ERROR_TTL_MS = 2 * 60_000
WELL_KNOWN_MAX_ERROR_TTL_MS = 3600_000
MAX_CACHED_NAMES = 10_000

_DNS_NAME = re.compile(r"[A-Za-z0-9.-]{1,255}")
_PORT = re.compile(r"[0-9]{1,5}")


class DiscoveryError(Exception):
    """The server name cannot be resolved to anywhere to connect."""


class InvalidServerName(DiscoveryError, ValueError):
    pass


@dataclass(frozen=True)
class ServerName:
    """A parsed server name: `host` without brackets, `port` if one was given, `ip` if the host
    is an IP literal."""

    host: str
    port: int | None
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None


def parse_server_name(name: str) -> ServerName:
    """Parse `hostname[:port]` by the spec's grammar (IPv4, `[IPv6]` or a DNS name; port 1-65535)."""
    if not isinstance(name, str) or not name or len(name) > 255 + 8:
        raise InvalidServerName(f"invalid server name {name!r}")
    if name.startswith("["):
        close = name.find("]")
        if close < 0:
            raise InvalidServerName(f"invalid server name {name!r}")
        host, rest = name[1:close], name[close + 1:]
        try:
            ip: Any = ipaddress.IPv6Address(host)
        except ValueError:
            raise InvalidServerName(f"invalid IPv6 literal in server name {name!r}") from None
        if rest and not rest.startswith(":"):
            raise InvalidServerName(f"invalid server name {name!r}")
        port_text = rest[1:] if rest else None
    else:
        host, sep, port_text_ = name.partition(":")
        port_text = port_text_ if sep else None
        if not _DNS_NAME.fullmatch(host) or ":" in port_text_:
            raise InvalidServerName(f"invalid server name {name!r}")
        try:
            ip = ipaddress.IPv4Address(host)
        except ValueError:
            ip = None
            if host.startswith(".") or host.endswith(".") or ".." in host:
                raise InvalidServerName(f"invalid server name {name!r}") from None
    port = None
    if port_text is not None:
        if not _PORT.fullmatch(port_text) or not 0 < int(port_text) < 65536:
            raise InvalidServerName(f"invalid port in server name {name!r}")
        port = int(port_text)
    return ServerName(host, port, ip)


@dataclass(frozen=True)
class Destination:
    """How to reach a server: the `Host` header to send and where to connect."""

    host_header: str
    route: Route


class SrvRecord(NamedTuple):
    priority: int
    weight: int
    port: int
    target: str


class SrvResolver(Protocol):
    """SRV records of a name ([] when it has none). Tests hand in a table."""

    def lookup_srv(self, name: str) -> Awaitable[list[SrvRecord]]: ...


class DnsSrvResolver:
    """SRV lookups through twisted.names (the system's resolv.conf, answers cached per TTL). The
    resolver is built at the first lookup."""

    def __init__(self, reactor: Any):
        self._reactor = reactor
        self._resolver: Any = None

    async def lookup_srv(self, name: str) -> list[SrvRecord]:
        from twisted.names import client, dns, error

        if self._resolver is None:
            self._resolver = client.createResolver(reactor=self._reactor)
        try:
            answers, _, _ = await self._resolver.lookupService(name)
        except (error.DNSNameError, error.DNSNotImplementedError):
            return []
        records = []
        for answer in answers:
            if answer.type == dns.SRV and answer.payload is not None:
                p = answer.payload
                records.append(SrvRecord(p.priority, p.weight, p.port, p.target.name.decode("ascii", "replace")))
        return records


def order_srv(records: list[SrvRecord], rng: random.Random) -> list[tuple[str, int]]:
    """RFC 2782 order: lowest priority first; within a priority, a weighted random order."""
    out: list[tuple[str, int]] = []
    for priority in sorted({r.priority for r in records}):
        group = [r for r in records if r.priority == priority]
        while group:
            total = sum(r.weight for r in group)
            chosen = group[0]
            if total > 0:
                pick = rng.uniform(0, total)
                running = 0
                for record in group:
                    running += record.weight
                    if pick <= running and record.weight > 0:
                        chosen = record
                        break
            group.remove(chosen)
            out.append((chosen.target.rstrip("."), chosen.port))
    return out


@dataclass
class _WellKnown:
    delegated: str | None
    expires_ms: int
    errors: int = 0  # consecutive errors
    fetched_ms: int = 0  # when `delegated` was last fetched


def cache_ttl_ms(response: OutboundResponse, now_ms: int) -> int:
    """How long a `.well-known` answer may be kept: Cache-Control max-age, else Expires, else
    24 hours; within [1 minute, 48 hours]."""
    ttl: int | None = None
    control = (response.header("Cache-Control") or "").lower()
    directives = {d.strip().partition("=")[0]: d.strip().partition("=")[2] for d in control.split(",") if d.strip()}
    if "no-store" in directives or "no-cache" in directives:
        ttl = 0
    elif "max-age" in directives:
        try:
            ttl = int(directives["max-age"].strip('"')) * 1000
        except ValueError:
            ttl = None
    if ttl is None and response.header("Expires"):
        try:
            expires = parsedate_to_datetime(response.header("Expires") or "")
            ttl = int(expires.timestamp() * 1000) - now_ms
        except (TypeError, ValueError, OverflowError):
            ttl = 0  # an invalid Expires means already expired (RFC 9111)
    if ttl is None:
        ttl = WELL_KNOWN_DEFAULT_TTL_MS
    return max(WELL_KNOWN_MIN_TTL_MS, min(ttl, WELL_KNOWN_MAX_TTL_MS))


def parse_well_known(body: bytes) -> str:
    """The delegated server name of a `.well-known/matrix/server` body; ValueError if invalid."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ValueError("not JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("m.server"), str):
        raise ValueError("no m.server string")
    parse_server_name(data["m.server"])  # InvalidServerName is a ValueError
    return data["m.server"]


WellKnownGetter = Callable[[str], Awaitable[OutboundResponse]]


class ServerDiscovery:
    """`resolve(server_name)` -> Destination. `fetch_well_known(url)` does the HTTPS GET (the
    federation client gives a guarded client that follows redirects, bounded in size and time)."""

    def __init__(self, clock: Clock, fetch_well_known: WellKnownGetter, srv: SrvResolver,
                 rng: random.Random | None = None):
        self._clock = clock
        self._fetch = fetch_well_known
        self._srv = srv
        self._rng = rng or random.Random()
        self._cache: dict[str, _WellKnown] = {}
        self._inflight: dict[str, list[defer.Deferred[str | None]]] = {}

    async def resolve(self, server_name: str) -> Destination:
        name = parse_server_name(server_name)
        if name.ip is not None or name.port is not None:
            return Destination(server_name, Route(((name.host, name.port or DEFAULT_PORT),), name.host))
        delegated = await self.well_known(name.host)
        hostname = name.host
        if delegated is not None:
            target = parse_server_name(delegated)
            if target.ip is not None or target.port is not None:
                return Destination(delegated, Route(((target.host, target.port or DEFAULT_PORT),), target.host))
            hostname = target.host
        targets = await self.srv_targets(hostname)
        return Destination(hostname, Route(tuple(targets) or ((hostname, DEFAULT_PORT),), hostname))

    async def srv_targets(self, hostname: str) -> list[tuple[str, int]]:
        """Targets of `_matrix-fed._tcp.<hostname>`, else of `_matrix._tcp.<hostname>`, in order."""
        for service in ("_matrix-fed._tcp", "_matrix._tcp"):
            try:
                records = await self._srv.lookup_srv(f"{service}.{hostname}")
            except Exception as e:  # a broken zone: as if there were no record
                logger.info("SRV lookup of %s.%s failed: %s", service, hostname, e)
                records = []
            if not records:
                continue
            usable = [r for r in records if r.target.rstrip(".")]
            if not usable:  # RFC 2782: a target of "." means the service is decidedly not available
                raise DiscoveryError(f"{service}.{hostname} says there is no Matrix server there")
            return order_srv(usable, self._rng)
        return []

    # -- .well-known ----------------------------------------------------------------------------

    async def well_known(self, hostname: str) -> str | None:
        """The delegated server name `.well-known` gives for the host (cached), or None."""
        entry = self._cache.get(hostname)
        if entry is not None and entry.expires_ms > self._clock.time_msec():
            return entry.delegated
        waiters = self._inflight.get(hostname)
        if waiters is not None:  # one fetch per name at a time; the others wait for it
            waiter: defer.Deferred[str | None] = defer.Deferred()
            waiters.append(waiter)
            return await waiter
        self._inflight[hostname] = []
        result: str | None = None
        try:
            result = await self._refresh(hostname, entry)
        finally:
            for waiter in self._inflight.pop(hostname):
                waiter.callback(result)
        return result

    async def _refresh(self, hostname: str, previous: _WellKnown | None) -> str | None:
        url = f"https://{hostname}{WELL_KNOWN_PATH}"
        transient = False
        why = ""
        try:
            response = await self._fetch(url)
        except OutboundError as e:
            transient, why = True, str(e)
        else:
            if not response.url.startswith("https://"):
                # Redirected to plain HTTP: anyone on that path could name another server.
                why = f"redirected to {response.url}, not HTTPS"
            elif response.code == 200:
                try:
                    delegated = parse_well_known(response.body)
                except ValueError as e:
                    why = f"invalid answer ({e})"
                else:
                    now = self._clock.time_msec()
                    self._store(hostname, _WellKnown(delegated, now + cache_ttl_ms(response, now), 0, now))
                    return delegated
            else:
                transient, why = response.code >= 500, f"HTTP {response.code}"
        errors = previous.errors + 1 if previous is not None else 1
        ttl = min(WELL_KNOWN_ERROR_TTL_MS * 2 ** min(errors - 1, 16), WELL_KNOWN_MAX_ERROR_TTL_MS)
        now = self._clock.time_msec()
        keep = None
        if previous is not None and transient and previous.fetched_ms + WELL_KNOWN_MAX_TTL_MS > now:
            keep = previous.delegated
        logger.info("%s: %s%s", url, why, f"; keeping the delegation to {keep}" if keep else "")
        self._store(hostname, _WellKnown(keep, now + ttl, errors, previous.fetched_ms if keep and previous else 0))
        return keep

    def _store(self, hostname: str, entry: _WellKnown) -> None:
        self._cache[hostname] = entry
        if len(self._cache) > MAX_CACHED_NAMES:
            now = self._clock.time_msec()
            self._cache = {h: e for h, e in self._cache.items() if e.expires_ms > now}
            while len(self._cache) > MAX_CACHED_NAMES:
                self._cache.pop(next(iter(self._cache)))
