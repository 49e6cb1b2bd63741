"""The outgoing federation HTTP client: every request to another homeserver goes through here.

    answer = await hs.federation_client.get_json("example.org", "/_matrix/federation/v1/version")

Each request is refused at once when the destination is outside `federation_domain_whitelist`,
is not a valid server name, or is backing off after failures (backoff.py). Otherwise it is signed
(`Authorization: X-Matrix` with our server name, key and the destination), its destination is
resolved by server discovery (discovery.py: `Host` header, where to connect, which name the
certificate must be valid for), and it is sent over HTTPS only, through the guarded outbound client:
every address connected to is checked against the IP range policy (`ip_range_blacklist`, or
Synapse's older `federation_ip_range_blacklist`), answers are bounded in size (10 MiB by default)
and time (60 s by default), and never followed through redirects.

`path` is sent as given (callers percent-encode the parts they put in it: see `quote`); `query`
values are strings or lists of strings."""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import quote as _quote
from urllib.parse import urlencode

from canonicaljson import encode_canonical_json
from signedjson.key import SigningKey

from homeserver.api.errors import Codes, MatrixError
from homeserver.clock import Clock
from homeserver.federation.backoff import Backoff
from homeserver.federation.discovery import (
    WELL_KNOWN_MAX_SIZE,
    WELL_KNOWN_TIMEOUT_S,
    Destination,
    DiscoveryError,
    InvalidServerName,
    ServerDiscovery,
    SrvResolver,
    parse_server_name,
)
from homeserver.federation.request_auth import authorization_header
from homeserver.outbound import (
    AddressRefused,
    IpRangePolicy,
    OutboundError,
    OutboundHttp,
    OutboundResponse,
    ResponseTooLarge,
)
from homeserver.outbound.endpoint import Route
from homeserver.outbound.tls import TlsPolicy

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 60.0
DEFAULT_MAX_RESPONSE_SIZE = 10 * 1024 * 1024
USER_AGENT = b"MatrixHomeserver (federation)"
MAX_REMEMBERED_ROUTES = 10_000


def quote(segment: str) -> str:
    """One path segment (an event ID, a room ID...) percent-encoded for a federation path."""
    return _quote(segment, safe="")


class FederationClientError(Exception):
    """A request to another server did not get a usable answer."""

    def __init__(self, destination: str, message: str):
        super().__init__(f"{destination}: {message}")
        self.destination = destination


class DestinationRefused(FederationClientError):
    """We do not send to that server: outside federation_domain_whitelist, not a valid server
    name, or (one of) its addresses refused by the IP range policy. Nothing was sent."""

    def as_matrix_error(self) -> MatrixError:
        """What a client whose request needed that server gets: 403, as this is this server's own
        policy (or a name no server can have), not a failure of the other side (502)."""
        return MatrixError(403, Codes.FORBIDDEN, f"This server does not federate with {self.destination}")


class DestinationBackedOff(FederationClientError):
    """The server failed recently; it is not tried again before `retry_at_ms`. Nothing was sent."""

    def __init__(self, destination: str, retry_at_ms: int):
        super().__init__(destination, f"backing off after failures until {retry_at_ms}")
        self.retry_at_ms = retry_at_ms


class FederationUnreachable(FederationClientError):
    """No answer: discovery, DNS, connection, TLS, timeout, or an answer larger than allowed."""


class AnswerTooLarge(FederationClientError):
    """The answer (of get_raw) was larger than the caller allows."""


class InvalidResponse(FederationClientError):
    """A success status without a JSON body."""


class FederationError(FederationClientError):
    """The server answered with an error status: `code`, and its `errcode`/`error` when it sent
    a Matrix error body."""

    def __init__(self, destination: str, code: int, errcode: str | None, error: str | None, body: Any = None):
        super().__init__(destination, f"HTTP {code}" + (f" {errcode}: {error}" if errcode else ""))
        self.code = code
        self.errcode = errcode
        self.error = error
        self.body = body


class _Routes:
    """The outbound client's RouteLookup: the URL host is the server name (port 0 standing for
    "no port in the name"), mapped to the destination discovery found for the request."""

    def __init__(self, client: FederationHttpClient):
        self._client = client

    async def route(self, host: str, port: int) -> Route:
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        server_name = host if port == 0 else f"{host}:{port}"
        return (await self._client.destination(server_name)).route


def _url_host(server_name: str) -> str:
    name = parse_server_name(server_name)
    host = f"[{name.host}]" if ":" in name.host else name.host
    return f"{host}:{name.port or 0}"


class FederationHttpClient:
    """Signed JSON requests to other homeservers (see the module docstring)."""

    def __init__(self, server_name: str, signing_key: SigningKey, clock: Clock, outbound: OutboundHttp,
                 policy: IpRangePolicy, tls: TlsPolicy, srv: SrvResolver, domain_whitelist: frozenset[str] | None,
                 *, timeout_s: float = DEFAULT_TIMEOUT_S, max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE,
                 backoff: Backoff | None = None, discovery: ServerDiscovery | None = None):
        self.server_name = server_name
        self._signing_key = signing_key
        self._clock = clock
        self._whitelist = domain_whitelist
        self._max_response_size = max_response_size
        self.backoff = backoff or Backoff(clock)
        self._well_known_client = outbound.client(
            policy=policy, tls=tls, timeout_s=WELL_KNOWN_TIMEOUT_S, max_response_size=WELL_KNOWN_MAX_SIZE,
            max_redirects=5, user_agent=USER_AGENT)
        self.discovery = discovery or ServerDiscovery(clock, self._well_known_client.get, srv)
        self._client = outbound.client(policy=policy, tls=tls, timeout_s=timeout_s,
                                       max_response_size=max_response_size, user_agent=USER_AGENT,
                                       persistent=True, routes=_Routes(self))
        self._destinations: dict[str, Destination] = {}

    # -- the API --------------------------------------------------------------------------------

    async def get_json(self, destination: str, path: str, query: dict[str, Any] | None = None,
                       **kwargs: Any) -> Any:
        return await self.request_json("GET", destination, path, query=query, **kwargs)

    async def put_json(self, destination: str, path: str, body: Any, query: dict[str, Any] | None = None,
                       **kwargs: Any) -> Any:
        return await self.request_json("PUT", destination, path, query=query, body=body, **kwargs)

    async def post_json(self, destination: str, path: str, body: Any, query: dict[str, Any] | None = None,
                        **kwargs: Any) -> Any:
        return await self.request_json("POST", destination, path, query=query, body=body, **kwargs)

    def federates_with(self, destination: str) -> bool:
        return self._whitelist is None or destination in self._whitelist

    async def request_json(self, method: str, destination: str, path: str, query: dict[str, Any] | None = None,
                           body: Any = None, timeout_s: float | None = None, max_response_size: int | None = None,
                           ignore_backoff: bool = False) -> Any:
        """Send one signed request and return the parsed JSON answer (any JSON value). Raises a
        FederationClientError subclass (see above) otherwise."""
        response = await self._send(method, destination, path, query, body, timeout_s, max_response_size,
                                    ignore_backoff)
        return self._answer(destination, response)

    async def get_raw(self, destination: str, path: str, query: dict[str, Any] | None = None, *,
                      max_response_size: int, timeout_s: float | None = None) -> OutboundResponse:
        """A signed GET whose 2xx answer is not JSON (media): the whole response (headers and
        body, at most `max_response_size` bytes). Error statuses raise FederationError as for
        JSON; an answer larger than allowed raises AnswerTooLarge (the peer is not backed off
        from: it works, the content is just bigger than we take)."""
        response = await self._send("GET", destination, path, query, None, timeout_s, max_response_size, False,
                                    too_large_is_failure=False)
        if 200 <= response.code < 300:
            self.backoff.succeeded(destination)
            return response
        return self._answer(destination, response)  # raises FederationError

    async def _send(self, method: str, destination: str, path: str, query: dict[str, Any] | None, body: Any,
                    timeout_s: float | None, max_response_size: int | None, ignore_backoff: bool,
                    too_large_is_failure: bool = True) -> OutboundResponse:
        if not self.federates_with(destination):
            raise DestinationRefused(destination, "not in federation_domain_whitelist")
        try:
            url_host = _url_host(destination)
        except InvalidServerName as e:
            raise DestinationRefused(destination, str(e)) from None
        if not path.startswith("/") or any(c in path for c in "?# ") or not path.isascii():
            raise ValueError(f"invalid federation path {path!r}")
        retry_at = None if ignore_backoff else self.backoff.retry_at(destination)
        if retry_at is not None:
            raise DestinationBackedOff(destination, retry_at)
        if body is None and method in ("PUT", "POST"):
            body = {}
        uri = path + ("?" + urlencode(query, doseq=True) if query else "")
        headers = {"Authorization": authorization_header(self.server_name, self._signing_key, destination,
                                                         method, uri, body)}
        data = None
        if body is not None:
            data = encode_canonical_json(body)
            headers["Content-Type"] = "application/json"
        try:
            dest = await self.destination(destination, fresh=True)
            headers["Host"] = dest.host_header
            return await self._client.request(method, f"https://{url_host}{uri}", headers=headers, body=data,
                                              max_size=max_response_size, timeout_s=timeout_s)
        except AddressRefused as e:
            self.backoff.failed(destination)
            raise DestinationRefused(destination, str(e)) from None
        except ResponseTooLarge as e:
            if too_large_is_failure:
                self.backoff.failed(destination)
                raise FederationUnreachable(destination, str(e)) from None
            raise AnswerTooLarge(destination, str(e)) from None
        except (OutboundError, DiscoveryError) as e:
            self.backoff.failed(destination)
            logger.info("%s %s%s failed: %s", method, destination, path, e)
            raise FederationUnreachable(destination, str(e)) from None

    def _answer(self, destination: str, response: OutboundResponse) -> Any:
        try:
            parsed = json.loads(response.body)
            is_json = True
        except (ValueError, UnicodeDecodeError):
            parsed, is_json = None, False
        if response.code >= 500 or not is_json:
            self.backoff.failed(destination)  # a working Matrix server answers JSON below 500
        else:
            self.backoff.succeeded(destination)
        if 200 <= response.code < 300:
            if not is_json:
                raise InvalidResponse(destination, f"HTTP {response.code} answer is not JSON")
            return parsed
        errcode = error = None
        if isinstance(parsed, dict):
            errcode = parsed.get("errcode") if isinstance(parsed.get("errcode"), str) else None
            error = parsed.get("error") if isinstance(parsed.get("error"), str) else None
        raise FederationError(destination, response.code, errcode, error, parsed)

    # -- discovery ------------------------------------------------------------------------------

    async def destination(self, server_name: str, fresh: bool = False) -> Destination:
        """Where to send requests for `server_name`. `fresh`: ask discovery (cached there); else
        the answer the last request got (the connection made for a request uses its answer)."""
        if not fresh and server_name in self._destinations:
            return self._destinations[server_name]
        dest = await self.discovery.resolve(server_name)
        if len(self._destinations) >= MAX_REMEMBERED_ROUTES:
            self._destinations.clear()
        self._destinations[server_name] = dest
        return dest
