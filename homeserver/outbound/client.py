"""The one way the server makes HTTP requests to addresses that users or other servers chose.

`OutboundHttp` is built once (by HomeServer); each feature asks it for a client with its own
policy and bounds:

    client = outbound.client(policy=IpRangePolicy.default(), timeout_s=15, max_response_size=65536)
    response = await client.request("POST", url, body=b"...", headers={"Content-Type": "application/json"})

Every connection goes through GuardedEndpoint (the address connected to is the address checked),
redirects are followed by hand (GET and HEAD only, each hop checked again, `max_redirects` at
most) or not at all, the answer's body is read up to `max_response_size`, and the whole request,
redirects included, must finish within `timeout_s`. Every failure is an OutboundError."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from io import BytesIO
from typing import Any
from urllib.parse import urljoin, urlsplit

import treq
from hyperlink import EncodedURL
from twisted.internet import defer
from twisted.internet.task import Cooperator
from twisted.web.client import Agent, FileBodyProducer, HTTPConnectionPool
from twisted.web.http_headers import Headers

from homeserver.outbound.endpoint import (
    Connector,
    GuardedEndpointFactory,
    HostResolver,
    ReactorResolver,
    RouteLookup,
    TcpConnector,
)
from homeserver.outbound.errors import (
    InvalidUrl,
    OutboundError,
    RequestTimedOut,
    ResponseTooLarge,
    TooManyRedirects,
)
from homeserver.outbound.ranges import IpRangePolicy
from homeserver.outbound.tls import TlsPolicy, TlsSettings

logger = logging.getLogger(__name__)

REDIRECT_CODES = (301, 302, 303, 307, 308)
MAX_REDIRECTS = 5
DISCARD_LIMIT = 64 * 1024
DEFAULT_USER_AGENT = b"MatrixHomeserver"


@dataclass(frozen=True)
class OutboundResponse:
    code: int
    headers: Headers
    body: bytes
    url: str  # after redirects

    def header(self, name: str) -> str | None:
        values = self.headers.getRawHeaders(name.encode("ascii"))
        return values[0].decode("latin-1") if values else None


class _TooBig(Exception):
    pass


def check_url(url: str) -> str:
    """`url` if it is an http(s) URL with a host and a valid port; InvalidUrl otherwise."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise InvalidUrl("Invalid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidUrl("Only http and https URLs with a host can be fetched")
    return url


def _as_uri(url: str) -> bytes:
    """The URL as the ASCII bytes the Agent wants (IDN hostnames and non-ASCII paths encoded)."""
    check_url(url)
    try:
        return url.encode("ascii")
    except UnicodeEncodeError:
        pass
    try:
        return EncodedURL.from_text(url).to_uri().to_text().encode("ascii")
    except (ValueError, UnicodeError):
        raise InvalidUrl("Invalid URL") from None


async def _read_body(response: Any, max_size: int) -> bytes:
    chunks: list[bytes] = []
    total = [0]

    def collect(data: bytes) -> None:
        total[0] += len(data)
        if total[0] > max_size:
            raise _TooBig()  # treq drops the connection
        chunks.append(data)

    try:
        await treq.collect(response, collect)
    except _TooBig:
        raise ResponseTooLarge(f"The answer is larger than {max_size} bytes") from None
    return b"".join(chunks)


async def _discard(response: Any) -> None:
    try:
        await _read_body(response, DISCARD_LIMIT)
    except Exception:
        pass


class OutboundClient:
    def __init__(self, reactor: Any, time: Any, outbound: OutboundHttp, policy: IpRangePolicy, tls: TlsPolicy,
                 timeout_s: float, connect_timeout_s: float, max_response_size: int, max_redirects: int,
                 user_agent: bytes, persistent: bool, routes: RouteLookup | None = None):
        if max_redirects > MAX_REDIRECTS:
            raise ValueError(f"at most {MAX_REDIRECTS} redirects")
        self._time = time
        self._timeout_s = timeout_s
        self._max_response_size = max_response_size
        self._max_redirects = max_redirects
        self._user_agent = user_agent
        self.policy = policy
        self._cooperator = Cooperator(scheduler=lambda work: reactor.callLater(0, work))
        self._pool = HTTPConnectionPool(reactor, persistent=persistent)
        self._pool.maxPersistentPerHost = 5
        factory = GuardedEndpointFactory(outbound, policy, connect_timeout_s, tls, routes)
        # The Agent itself, not treq's client: no cookie jar carried from one site to the next, no
        # gzip (a small compressed answer must not inflate past the size bound in one chunk).
        self._agent = Agent.usingEndpointFactory(reactor, factory, pool=self._pool)

    async def request(self, method: str, url: str, *, headers: dict[str, str] | None = None,
                      body: bytes | None = None, max_size: int | None = None,
                      timeout_s: float | None = None) -> OutboundResponse:
        """Send the request and read the whole (bounded) answer, whatever its status code.
        `max_size` and `timeout_s` override the client's bounds for this request."""
        work = defer.ensureDeferred(self._request(method, url, headers or {}, body,
                                                  self._max_response_size if max_size is None else max_size))
        timed_out = []
        timeout_s = self._timeout_s if timeout_s is None else timeout_s

        def time_out() -> None:
            timed_out.append(True)
            work.cancel()  # drops the connection, wherever the request is

        timer = self._time.callLater(timeout_s, time_out)
        try:
            return await work
        except Exception as e:  # refused, reset, DNS, TLS...
            if timed_out:
                raise RequestTimedOut(f"No complete answer within {timeout_s:g} s") from None
            if isinstance(e, OutboundError):
                raise
            raise OutboundError(f"{type(e).__name__}: {e}") from None
        finally:
            if timer.active():
                timer.cancel()

    async def get(self, url: str, **kwargs: Any) -> OutboundResponse:
        return await self.request("GET", url, **kwargs)

    async def post(self, url: str, body: bytes, **kwargs: Any) -> OutboundResponse:
        return await self.request("POST", url, body=body, **kwargs)

    async def _request(self, method: str, url: str, headers: dict[str, str], body: bytes | None,
                       max_size: int) -> OutboundResponse:
        raw_headers = Headers({k.encode("latin-1"): [v.encode("latin-1")] for k, v in headers.items()})
        if not raw_headers.hasHeader(b"User-Agent"):
            raw_headers.setRawHeaders(b"User-Agent", [self._user_agent])
        follow = self._max_redirects if method in ("GET", "HEAD") else 0
        for _ in range(follow + 1):
            producer = FileBodyProducer(BytesIO(body), cooperator=self._cooperator) if body is not None else None
            response = await self._agent.request(method.encode("ascii"), _as_uri(url), raw_headers, producer)
            location = response.headers.getRawHeaders(b"location", [None])[0]
            if follow and response.code in REDIRECT_CODES and location is not None:
                await _discard(response)
                url = urljoin(url, location.decode("latin-1"))
                continue
            length = response.length
            if isinstance(length, int) and length > max_size:
                await _read_body(response, 0)  # raises ResponseTooLarge, dropping the connection
            data = await _read_body(response, max_size)
            return OutboundResponse(response.code, response.headers, data, url)
        raise TooManyRedirects(f"More than {follow} redirects")

    async def close(self) -> None:
        await self._pool.closeCachedConnections()


class OutboundHttp:
    """Builds the guarded clients; `resolver` and `connector` are looked up at each connection
    (tests swap them: a table of names, connections to in-process servers). `time` (an
    IReactorTime, the reactor by default) runs the requests' total timeouts."""

    def __init__(self, reactor: Any, resolver: HostResolver | None = None, time: Any = None,
                 connector: Connector | None = None):
        self._reactor = reactor
        self._time = time or reactor
        self.resolver: HostResolver = resolver or ReactorResolver(reactor)
        self.connector: Connector = connector or TcpConnector(reactor)
        self._clients: list[OutboundClient] = []

    def client(self, *, policy: IpRangePolicy, timeout_s: float, max_response_size: int,
               tls: TlsPolicy | None = None, connect_timeout_s: float | None = None, max_redirects: int = 0,
               user_agent: bytes = DEFAULT_USER_AGENT, persistent: bool = False,
               routes: RouteLookup | None = None) -> OutboundClient:
        """`routes`: look the URL's host up there to know where to connect (federation)."""
        client = OutboundClient(self._reactor, self._time, self, policy, tls or TlsSettings(), timeout_s,
                                timeout_s if connect_timeout_s is None else connect_timeout_s, max_response_size,
                                max_redirects, user_agent, persistent, routes)
        self._clients.append(client)
        return client

    async def close(self) -> None:
        """Close every client's kept-alive connections (at shutdown)."""
        for client in self._clients:
            await client.close()
