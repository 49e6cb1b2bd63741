"""URL previews: fetch a page for a client and summarise it as OpenGraph data.

The server fetches on a user's behalf, so it must not become a proxy into the private network:
the fetches go through the outgoing-HTTP guard (homeserver/outbound) with the previews' own IP
range policy: every address a hostname resolves to is checked, the connection goes to the checked
address itself (no DNS rebinding), redirects are followed by hand and checked again, size and time
are bounded. The HTML is parsed with lxml on the CPU pool, and only its first MAX_HTML_PARSE_BYTES."""

from __future__ import annotations

import io
import json
import logging
import re
from typing import Any
from urllib.parse import urljoin, urlsplit

from lxml import etree

from homeserver.api.errors import Codes, MatrixError
from homeserver.clock import Clock
from homeserver.handlers.media.config import MediaConfig
from homeserver.outbound import (
    AddressRefused,
    InvalidUrl,
    OutboundError,
    OutboundHttp,
    ResponseTooLarge,
    TooManyRedirects,
    check_url,
)
from homeserver.storage.media import MediaStore
from homeserver.util.cpu_pool import CpuPool

logger = logging.getLogger(__name__)

CACHE_LIFETIME_MS = 3600_000
MAX_REDIRECTS = 5
MAX_HTML_PARSE_BYTES = 1024 * 1024  # a page's head is at its start; the rest is not parsed
MAX_OG_VALUE_LENGTH = 2000
MAX_OG_KEYS = 50
USER_AGENT = b"Mozilla/5.0 (compatible; MatrixHomeserver URL preview)"


class PreviewRefused(MatrixError):
    def __init__(self, msg: str):
        super().__init__(403, Codes.FORBIDDEN, msg)


class UrlPreviewer:
    def __init__(self, config: MediaConfig, clock: Clock, outbound: OutboundHttp, cpu_pool: CpuPool,
                 store: MediaStore, repository: Any):
        self._config = config
        self._clock = clock
        self._cpu_pool = cpu_pool
        self._store = store
        self._repository = repository
        self._client = outbound.client(
            policy=config.url_preview_ip_policy, timeout_s=config.url_preview_timeout_ms / 1000,
            max_response_size=config.max_spider_size, max_redirects=MAX_REDIRECTS, user_agent=USER_AGENT)

    @property
    def enabled(self) -> bool:
        return self._config.url_preview_enabled

    async def preview(self, url: str, user_id: str) -> dict[str, Any]:
        try:
            check_url(url)
        except InvalidUrl:
            raise MatrixError(400, Codes.INVALID_PARAM, "Only http and https URLs can be previewed") from None
        now = self._clock.time_msec()
        cached = await self._store.get_url_preview(url, now)
        if cached is not None:
            return json.loads(cached)
        body, content_type, final_url = await self._fetch(url)
        if content_type.startswith("image/"):
            og = await self._store_image(body, content_type, final_url, user_id)
        elif content_type.startswith(("text/html", "application/xhtml")):
            og = await self._cpu_pool.run(parse_html_preview, body[:MAX_HTML_PARSE_BYTES], _charset(content_type))
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
            body, content_type, final_url = await self._fetch(url)
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

    async def _fetch(self, url: str) -> tuple[bytes, str, str]:
        """(body, content type, final URL) of a GET, following redirects and checking each hop."""
        try:
            response = await self._client.get(url)
        except AddressRefused:
            raise PreviewRefused("The URL resolves to an address this server does not fetch from") from None
        except ResponseTooLarge:
            raise MatrixError(502, Codes.TOO_LARGE, "The page is too large to preview") from None
        except TooManyRedirects:
            raise MatrixError(502, Codes.UNKNOWN, "Too many redirects") from None
        except OutboundError as e:
            logger.info("URL preview fetch of %s failed: %s", url, e)
            raise MatrixError(502, Codes.UNKNOWN, "Could not fetch the URL") from None
        if response.code != 200:
            raise MatrixError(502, Codes.UNKNOWN, f"The page answered HTTP {response.code}")
        content_type = (response.header("content-type") or "").lower()
        return response.body, content_type, response.url


def _charset(content_type: str) -> str | None:
    m = re.search(r"charset=([\w-]+)", content_type)
    return m.group(1) if m else None


def _text(value: str | None) -> str:
    return " ".join((value or "").split())[:MAX_OG_VALUE_LENGTH]


def parse_html_preview(body: bytes, charset: str | None) -> dict[str, Any]:
    """og:* properties of a page, with <title> and the description meta tag as fallbacks. CPU work
    on what a stranger's page holds: the caller runs it on the CPU pool, on a bounded prefix."""
    if charset is None:
        m = re.search(rb"<meta[^>]{0,200}charset=[\"']?([\w-]+)", body[:4096], re.IGNORECASE)
        charset = m.group(1).decode("ascii") if m else "utf-8"
    try:
        text = body.decode(charset, errors="replace")
    except LookupError:
        text = body.decode("utf-8", errors="replace")
    parser = etree.HTMLParser(recover=True, encoding="utf-8", no_network=True, remove_comments=True,
                              remove_pis=True)
    try:
        root = etree.fromstring(text.encode("utf-8"), parser)
    except etree.LxmlError:  # nothing parseable: no preview data
        logger.debug("HTML parse error in preview", exc_info=True)
        root = None
    if root is None:
        return {}
    og: dict[str, Any] = {}
    description = None
    for meta in root.iter("meta"):
        key = meta.get("property") or meta.get("name") or ""
        content = meta.get("content")
        if content is None:
            continue
        if key.startswith("og:") and key not in og and len(og) < MAX_OG_KEYS:
            og[key] = content.strip()[:MAX_OG_VALUE_LENGTH]
        elif key.lower() == "description" and description is None:
            description = content.strip()[:MAX_OG_VALUE_LENGTH]
    if "og:title" not in og:
        title = root.find(".//title")
        title_text = _text("".join(title.itertext())) if title is not None else ""
        if title_text:
            og["og:title"] = title_text
    if "og:description" not in og and description:
        og["og:description"] = description
    return og
