"""URL previews: off by default, refuses non-public addresses, parses OpenGraph from a loopback
page when 127.0.0.1 is whitelisted."""

from __future__ import annotations

import io
import json
from urllib.parse import quote

from PIL import Image
from twisted.internet import reactor
from twisted.trial import unittest
from twisted.web import resource, server

from homeserver.handlers.media import url_preview
from tests.outbound.fakes import StaticResolver
from tests.server import HomeserverTestCase

PREVIEW = "/_matrix/client/v1/media/preview_url"
PATHOLOGICAL = b"<a " * 20000  # html.parser takes tens of seconds on it (CVE-2025-6069)
PAGE = b"""<html><head><meta charset="utf-8"><title>Fallback title</title>
<meta property="og:title" content="Matrix rocks">
<meta property="og:description" content="A page about &amp; things">
<meta property="og:image" content="/image.png">
</head><body>hi</body></html>"""


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (50, 40), (0, 0, 255)).save(out, "PNG")
    return out.getvalue()


class _Site(resource.Resource):
    isLeaf = True

    def __init__(self) -> None:
        super().__init__()
        self.hits: list[bytes] = []

    def render_GET(self, request: server.Request) -> bytes:
        self.hits.append(request.path)
        if request.path == b"/page":
            request.setHeader(b"Content-Type", b"text/html; charset=utf-8")
            return PAGE
        if request.path == b"/plain":
            request.setHeader(b"Content-Type", b"text/html")
            return b"<title>Only a  title</title><meta name=description content='desc'>"
        if request.path == b"/image.png":
            request.setHeader(b"Content-Type", b"image/png")
            return _png()
        if request.path == b"/big":
            request.setHeader(b"Content-Type", b"text/html")
            return b"<title>x</title>" + b" " * 5000
        if request.path == b"/pathological":
            request.setHeader(b"Content-Type", b"text/html")
            return PATHOLOGICAL
        if request.path == b"/late-title":
            request.setHeader(b"Content-Type", b"text/html")
            return b"<html><head>" + b" " * url_preview.MAX_HTML_PARSE_BYTES + b"<title>too late</title>"
        if request.path == b"/to-private":
            request.redirect(b"http://10.1.2.3/secret")
            return b""
        if request.path == b"/to-page":
            request.redirect(b"/page")
            return b""
        request.setResponseCode(404)
        return b"no"


class PreviewDisabledTests(HomeserverTestCase):
    async def test_off_by_default(self) -> None:
        alice = await self.register("alice")
        r = await self.get(f"{PREVIEW}?url=https://example.org/", token=alice["access_token"])
        self.assert_error(r, 404, "M_UNRECOGNIZED")


class PreviewRefusalTests(HomeserverTestCase):
    config_overrides = {"url_preview_enabled": True, "url_preview_ip_range_blacklist": ["203.0.113.0/24"]}

    async def test_private_and_special_addresses_are_refused(self) -> None:
        token = (await self.register("alice"))["access_token"]
        for url in ("http://127.0.0.1:1/", "http://localhost/", "http://10.0.0.1/", "http://192.168.1.1/",
                    "http://169.254.169.254/latest/meta-data", "http://[::1]/", "http://[::ffff:127.0.0.1]/",
                    "http://[fe80::1]/", "http://224.0.0.1/", "http://0.0.0.0/", "http://203.0.113.5/"):
            await self.assert_rejected_without_change("GET", f"{PREVIEW}?url={quote(url, safe='')}", None, 403,
                                                      "M_FORBIDDEN", token=token)

    async def test_one_private_address_among_public_ones_is_enough_to_refuse(self) -> None:
        token = (await self.register("alice"))["access_token"]
        self.hs.outbound.resolver = StaticResolver({"mixed.example": ["8.8.8.8", "10.0.0.1"]})
        await self.assert_rejected_without_change("GET", f"{PREVIEW}?url=http://mixed.example/", None, 403,
                                                  "M_FORBIDDEN", token=token)

    async def test_bad_urls(self) -> None:
        token = (await self.register("alice"))["access_token"]
        self.assert_error(await self.get(PREVIEW, token=token), 400, "M_MISSING_PARAM")
        for url in ("file:///etc/passwd", "ftp://example.org/", "not a url", "http://:80/"):
            self.assert_error(await self.get(f"{PREVIEW}?url={quote(url, safe='')}", token=token), 400,
                              "M_INVALID_PARAM")
        self.assert_error(await self.get(f"{PREVIEW}?url=http://example.org/"), 401, "M_MISSING_TOKEN")


class LoopbackPreviewCase(HomeserverTestCase):
    """A page server on loopback, which these tests whitelist as an operator would."""

    async def _set_up(self) -> None:
        await super()._set_up()
        self.remote = _Site()
        self.port = reactor.listenTCP(0, server.Site(self.remote), interface="127.0.0.1")
        self.addCleanup(self.port.stopListening)
        self.base = f"http://127.0.0.1:{self.port.getHost().port}"
        self.token = (await self.register("alice"))["access_token"]

    async def preview(self, path: str):  # noqa: ANN201
        return await self.get(f"{PREVIEW}?url={quote(self.base + path, safe='')}&ts=0", token=self.token)



class PreviewLoopbackTests(LoopbackPreviewCase):
    config_overrides = {"url_preview_enabled": True, "url_preview_ip_range_whitelist": ["127.0.0.1/32"],
                        "max_spider_size": 4000}

    async def test_opengraph_with_image(self) -> None:
        r = await self.preview("/page")
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual(r.json["og:title"], "Matrix rocks")
        self.assertEqual(r.json["og:description"], "A page about & things")
        self.assertTrue(r.json["og:image"].startswith("mxc://test/"))
        self.assertEqual(r.json["matrix:image:size"], len(_png()))
        media_id = r.json["og:image"][len("mxc://test/"):]
        image = await self.get(f"/_matrix/client/v1/media/download/test/{media_id}", token=self.token)
        self.assertEqual(image.body, _png())
        # cached: the page is not fetched again
        hits = len(self.remote.hits)
        self.assertEqual((await self.preview("/page")).json, r.json)
        self.assertEqual(len(self.remote.hits), hits)
        stored = await self.hs.database.execute("previews", "SELECT og_json FROM url_previews")
        self.assertEqual(json.loads(stored[0][0]), r.json)

    async def test_title_and_description_fallbacks(self) -> None:
        r = await self.preview("/plain")
        self.assertEqual(r.json, {"og:title": "Only a title", "og:description": "desc"})

    async def test_redirects_are_followed_and_checked(self) -> None:
        self.assertEqual((await self.preview("/to-page")).json["og:title"], "Matrix rocks")
        r = await self.preview("/to-private")
        self.assert_error(r, 403, "M_FORBIDDEN")

    async def test_the_checked_address_is_the_one_connected_to(self) -> None:
        # The name resolves (once, for the check) to the whitelisted loopback address; the system
        # resolver knows nothing of it, so the fetch succeeding proves the address was pinned.
        self.hs.outbound.resolver = StaticResolver({"pinned.invalid": ["127.0.0.1"]})
        url = f"http://pinned.invalid:{self.port.getHost().port}/page"
        r = await self.get(f"{PREVIEW}?url={quote(url, safe='')}", token=self.token)
        self.assertEqual(r.json["og:title"], "Matrix rocks")
        self.assertIn(b"/page", self.remote.hits)

    async def test_too_large_and_errors(self) -> None:
        self.assert_error(await self.preview("/big"), 502, "M_TOO_LARGE")
        self.assert_error(await self.preview("/missing"), 502, "M_UNKNOWN")


class PreviewParsingTests(LoopbackPreviewCase):
    config_overrides = {"url_preview_enabled": True, "url_preview_ip_range_whitelist": ["127.0.0.1/32"],
                        "max_spider_size": "2M"}

    async def test_pathological_page_is_parsed_on_the_cpu_pool(self) -> None:
        ran: list[str] = []
        run = self.hs.cpu_pool.run

        async def recording_run(fn, *args, **kwargs):  # noqa: ANN001, ANN202
            ran.append(fn.__name__)
            return await run(fn, *args, **kwargs)

        self.patch(self.hs.cpu_pool, "run", recording_run)
        r = await self.preview("/pathological")
        self.assertEqual((r.code, r.json), (200, {}))
        self.assertEqual(ran, ["parse_html_preview"])

    async def test_only_the_start_of_a_page_is_parsed(self) -> None:
        r = await self.preview("/late-title")
        self.assertEqual((r.code, r.json), (200, {}))


class ParseHtmlTests(unittest.TestCase):
    def test_pathological_inputs(self) -> None:
        # Each must simply finish (trial's timeout is the guard; no assertion on time).
        for page in (PATHOLOGICAL, b"<" * 200_000, b"<!--" * 50_000, b"<meta " * 20_000, b"<title>" * 20_000,
                     b"<a href='" * 20_000, b"\x00\xff" * 50_000):
            self.assertIsInstance(url_preview.parse_html_preview(page, None), dict)

    def test_fields_and_fallbacks(self) -> None:
        self.assertEqual(url_preview.parse_html_preview(PAGE, None),
                         {"og:title": "Matrix rocks", "og:description": "A page about & things",
                          "og:image": "/image.png"})
        self.assertEqual(url_preview.parse_html_preview(b"<title>  A\n  spaced  title </title>", None),
                         {"og:title": "A spaced title"})
        latin1 = "<meta charset=iso-8859-1><title>caf\xe9</title>".encode("latin-1")
        self.assertEqual(url_preview.parse_html_preview(latin1, None), {"og:title": "caf\xe9"})
        self.assertEqual(url_preview.parse_html_preview("<title>caf\xe9</title>".encode(), "no-such-charset"),
                         {"og:title": "caf\xe9"})
        self.assertEqual(url_preview.parse_html_preview(b"", None), {})
        long = url_preview.parse_html_preview(b"<meta property='og:title' content='" + b"x" * 10_000 + b"'>", None)
        self.assertEqual(len(long["og:title"]), url_preview.MAX_OG_VALUE_LENGTH)
