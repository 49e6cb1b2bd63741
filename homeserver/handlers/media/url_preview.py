"""URL previews: fetch a page for a client and summarise it as OpenGraph data.

The server fetches on a user's behalf, so it must not become a proxy into the private network:
every hostname is resolved first, the request is refused if any address is not public (unless
whitelisted), and the connection goes to the checked address itself (pinned), so a second DNS
answer (rebinding) cannot send it elsewhere. Redirects are followed by hand, each one checked
the same way. Size and time are bounded."""

from __future__ import annotations

import io
import ipaddress
import json
import logging
import re
import socket
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

import treq
from twisted.internet import defer, threads
from twisted.internet.endpoints import TCP4ClientEndpoint, TCP6ClientEndpoint, wrapClientTLS
from twisted.internet.ssl import optionsForClientTLS
from twisted.web.client import Agent
from twisted.web.iweb import IAgentEndpointFactory
from zope.interface import implementer

from homeserver.api.errors import Codes, MatrixError
from homeserver.clock import Clock
from homeserver.handlers.media.config import MediaConfig
from homeserver.storage.media import MediaStore

logger = logging.getLogger(__name__)

CACHE_LIFETIME_MS = 3600_000
MAX_REDIRECTS = 5
USER_AGENT = b"Mozilla/5.0 (compatible; MatrixHomeserver URL preview)"
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class PreviewRefused(MatrixError):
    def __init__(self, msg: str):
        super().__init__(403, Codes.FORBIDDEN, msg)


class _TooBig(Exception):
    pass


@implementer(IAgentEndpointFactory)
class _PinnedEndpointFactory:
    """Connects to one already-checked IP address whatever the URL's host says; TLS still checks
    the certificate against the URL's hostname."""

    def __init__(self, reactor: Any, address: IPAddress, timeout_s: float):
        self._reactor = reactor
        self._address = address
        self._timeout_s = timeout_s

    def endpointForURI(self, uri: Any) -> Any:  # noqa: N802 - Twisted's interface name
        cls = TCP6ClientEndpoint if self._address.version == 6 else TCP4ClientEndpoint
        endpoint = cls(self._reactor, str(self._address), uri.port, timeout=self._timeout_s)
        if uri.scheme == b"https":
            endpoint = wrapClientTLS(optionsForClientTLS(uri.host.decode("ascii")), endpoint)
        return endpoint


class UrlPreviewer:
    def __init__(self, config: MediaConfig, clock: Clock, reactor: Any, store: MediaStore, repository: Any):
        self._config = config
        self._clock = clock
        self._reactor = reactor
        self._store = store
        self._repository = repository

    @property
    def enabled(self) -> bool:
        return self._config.url_preview_enabled

    def address_allowed(self, address: IPAddress) -> bool:
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if any(address in net for net in self._config.url_preview_whitelist):
            return True
        if any(address in net for net in self._config.url_preview_blacklist):
            return False
        return address.is_global and not address.is_multicast

    async def preview(self, url: str, user_id: str) -> dict[str, Any]:
        now = self._clock.time_msec()
        cached = await self._store.get_url_preview(url, now)
        if cached is not None:
            return json.loads(cached)
        body, content_type, final_url = await self._fetch(url, self._config.max_spider_size)
        if content_type.startswith("image/"):
            og = await self._store_image(body, content_type, final_url, user_id)
        elif content_type.startswith(("text/html", "application/xhtml")):
            og = parse_html_preview(body, _charset(content_type))
            image_url = og.pop("og:image", None)
            if isinstance(image_url, str) and image_url:
                og.update(await self._fetch_image(urljoin(final_url, image_url), user_id))
        else:
            og = {}
        await self._store.store_url_preview(url, now, now + CACHE_LIFETIME_MS, json.dumps(og))
        return og

    async def _fetch_image(self, url: str, user_id: str) -> dict[str, Any]:
        """og:image as an mxc:// URI of a copy we store; nothing when it cannot be fetched."""
        try:
            body, content_type, final_url = await self._fetch(url, self._config.max_spider_size)
        except MatrixError as e:
            logger.info("Preview image %s not fetched: %s", url, e.msg)
            return {}
        if not content_type.startswith("image/"):
            return {}
        try:
            return await self._store_image(body, content_type, final_url, user_id)
        except MatrixError as e:  # e.g. the user's quota: the page's preview is still worth having
            logger.info("Preview image %s not stored: %s", url, e.msg)
            return {}

    async def _store_image(self, body: bytes, content_type: str, url: str, user_id: str) -> dict[str, Any]:
        name = urlsplit(url).path.rsplit("/", 1)[-1] or None
        uri = await self._repository.upload(user_id, io.BytesIO(body), content_type, name)
        return {"og:image": uri, "og:image:type": content_type, "matrix:image:size": len(body)}

    async def _fetch(self, url: str, max_size: int) -> tuple[bytes, str, str]:
        """(body, content type, final URL) of a GET, following redirects and checking each hop."""
        timeout_s = self._config.url_preview_timeout_ms / 1000
        for _ in range(MAX_REDIRECTS + 1):
            parts = _check_url(url)
            address = await self._resolve_checked(parts.hostname or "")
            client = treq.client.HTTPClient(Agent.usingEndpointFactory(
                self._reactor, _PinnedEndpointFactory(self._reactor, address, timeout_s)))
            try:
                response = await _with_timeout(client.get(url, headers={b"User-Agent": [USER_AGENT]},
                                                          allow_redirects=False), timeout_s, self._reactor)
                if response.code in (301, 302, 303, 307, 308):
                    location = response.headers.getRawHeaders(b"location", [None])[0]
                    await _discard(response)
                    if location is None:
                        raise MatrixError(502, Codes.UNKNOWN, "Redirect without a location")
                    url = urljoin(url, location.decode("latin-1"))
                    continue
                if response.code != 200:
                    await _discard(response)
                    raise MatrixError(502, Codes.UNKNOWN, f"The page answered HTTP {response.code}")
                length = response.length
                if isinstance(length, int) and length > max_size:
                    await _discard(response)
                    raise MatrixError(502, Codes.TOO_LARGE, "The page is too large to preview")
                body = await _with_timeout(_read_limited(response, max_size), timeout_s, self._reactor)
            except MatrixError:
                raise
            except _TooBig:
                raise MatrixError(502, Codes.TOO_LARGE, "The page is too large to preview") from None
            except Exception as e:
                logger.info("URL preview fetch of %s failed: %r", url, e)
                raise MatrixError(502, Codes.UNKNOWN, "Could not fetch the URL") from None
            content_type = (response.headers.getRawHeaders(b"content-type", [b""])[0]).decode("latin-1").lower()
            return body, content_type, url
        raise MatrixError(502, Codes.UNKNOWN, "Too many redirects")

    async def _resolve_checked(self, hostname: str) -> IPAddress:
        try:
            addresses = [ipaddress.ip_address(hostname.strip("[]"))]
        except ValueError:
            addresses = await threads.deferToThreadPool(self._reactor, self._reactor.getThreadPool(),
                                                        _resolve, hostname)
        if not addresses:
            raise MatrixError(502, Codes.UNKNOWN, f"Could not resolve {hostname}")
        # One forbidden address is enough to refuse: a resolver may hand out any of them.
        if not all(self.address_allowed(a) for a in addresses):
            raise PreviewRefused("The URL resolves to an address this server does not fetch from")
        return addresses[0]


def _check_url(url: str) -> Any:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise MatrixError(400, Codes.INVALID_PARAM, "Invalid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise MatrixError(400, Codes.INVALID_PARAM, "Only http and https URLs can be previewed")
    return parts


def _resolve(hostname: str) -> list[IPAddress]:
    try:
        infos = socket.getaddrinfo(hostname, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return []
    return list(dict.fromkeys(ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos))


async def _with_timeout(work: Any, timeout_s: float, reactor: Any) -> Any:
    """Await a Deferred or coroutine, cancelling it (and its connection) after `timeout_s`."""
    return await defer.ensureDeferred(work).addTimeout(timeout_s, reactor)


async def _discard(response: Any) -> None:
    try:
        await _read_limited(response, 64 * 1024)
    except Exception:
        pass


async def _read_limited(response: Any, max_size: int) -> bytes:
    chunks: list[bytes] = []
    total = [0]

    def collect(data: bytes) -> None:
        total[0] += len(data)
        if total[0] > max_size:
            raise _TooBig()
        chunks.append(data)

    await treq.collect(response, collect)
    return b"".join(chunks)


def _charset(content_type: str) -> str | None:
    m = re.search(r"charset=([\w-]+)", content_type)
    return m.group(1) if m else None


class _OpenGraphParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.og: dict[str, str] = {}
        self.description: str | None = None
        self.title: str | None = None
        self._in_title = False
        self._title_parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "meta":
            values = dict(attrs)
            key = values.get("property") or values.get("name") or ""
            content = values.get("content")
            if content is None:
                return
            if key.startswith("og:") and key not in self.og:
                self.og[key] = content.strip()
            elif key.lower() == "description" and self.description is None:
                self.description = content.strip()
        elif tag == "title" and self.title is None:
            self._in_title = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "title" and self._in_title:
            self._in_title = False
            self.title = " ".join("".join(self._title_parts).split())

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self._title_parts.append(data)


def parse_html_preview(body: bytes, charset: str | None) -> dict[str, Any]:
    """og:* properties of a page, with <title> and the description meta tag as fallbacks."""
    if charset is None:
        m = re.search(rb"<meta[^>]+charset=[\"']?([\w-]+)", body[:4096], re.IGNORECASE)
        charset = m.group(1).decode("ascii") if m else "utf-8"
    try:
        text = body.decode(charset, errors="replace")
    except LookupError:
        text = body.decode("utf-8", errors="replace")
    parser = _OpenGraphParser()
    try:
        parser.feed(text)
        parser.close()
    except Exception:  # broken markup: keep what was found
        logger.debug("HTML parse error in preview", exc_info=True)
    og: dict[str, Any] = dict(parser.og)
    if "og:title" not in og and parser.title:
        og["og:title"] = parser.title
    if "og:description" not in og and parser.description:
        og["og:description"] = parser.description
    return og
