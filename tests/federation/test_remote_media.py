"""Media across servers: A serves its uploads on /_matrix/federation/v1/media/*, B's users fetch
them through B (authenticated and legacy endpoints), B caches them, makes thumbnails itself, and
refuses every bad answer without storing anything."""

from __future__ import annotations

import io
import os
from typing import Any
from urllib.parse import quote

from PIL import Image
from twisted.internet import defer
from twisted.web.http_headers import Headers
from twisted.web.resource import Resource
from twisted.web.server import Site

from homeserver.federation.multipart import filename_from_disposition, parse_media_answer
from homeserver.federation.request_auth import authorization_header
from homeserver.outbound import IpRangePolicy, OutboundResponse
from tests.federation.network import InProcessNetwork
from tests.federation.two_servers import NAME_A, NAME_B, TwoServerTestCase
from tests.outbound.fakes import StaticResolver

AUTHED = "/_matrix/client/v1/media"
LEGACY = "/_matrix/media/v3"
FED = "/_matrix/federation/v1/media"


def png(width: int = 600, height: int = 300) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (0, 0, 255)).save(out, "PNG")
    return out.getvalue()


def multipart(parts: list[tuple[dict[str, str], bytes]], boundary: str = "b0und") -> OutboundResponse:
    body = b""
    for headers, data in parts:
        body += f"--{boundary}\r\n".encode() + b"".join(f"{k}: {v}\r\n".encode() for k, v in headers.items())
        body += b"\r\n" + data + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return OutboundResponse(200, Headers({b"Content-Type": [f"multipart/mixed; boundary={boundary}".encode()]}),
                            body, "https://peer")


class _Cdn(Resource):
    isLeaf = True

    def __init__(self, data: bytes):
        super().__init__()
        self.data = data
        self.hits = 0

    def render_GET(self, request: Any) -> bytes:  # noqa: N802
        self.hits += 1
        request.setHeader(b"Content-Type", b"image/png")
        request.setHeader(b"Content-Disposition", b'inline; filename="cdn.png"')
        return self.data


class RemoteMediaTest(TwoServerTestCase):
    async def _set_up(self) -> None:
        await super()._set_up()
        self.alice, self.token_a = await self.register_on(self.site, "alice")
        self.bob, self.token_b = await self.register_on(self.site_b, "bob")

    async def upload_on_a(self, data: bytes, content_type: str = "image/png", filename: str = "cat.png") -> str:
        r = await self.request("POST", f"{LEGACY}/upload?filename={quote(filename)}", raw_body=data,
                               headers={"Content-Type": content_type}, token=self.token_a)
        self.assertEqual(r.code, 200, r.json)
        return r.json["content_uri"].rsplit("/", 1)[1]

    async def download_on_b(self, media_id: str, prefix: str = AUTHED, suffix: str = "", origin: str = NAME_A) -> Any:
        return await self.request("GET", f"{prefix}/download/{quote(origin)}/{media_id}{suffix}",
                                  token=self.token_b if prefix == AUTHED else None, site=self.site_b)

    def media_requests(self) -> list[str]:
        return [uri for _, _, uri in self.link_b.requests if "/media/" in uri]

    async def federation_get(self, uri: str) -> Any:
        header = authorization_header(NAME_B, self.hs_b.signing_key, NAME_A, "GET", uri, None)
        return await self.request("GET", uri, headers={"Authorization": header})

    async def assert_nothing_cached(self, media_id: str) -> None:
        self.assertIsNone(await self.hs_b.media_store.get_remote(NAME_A, media_id))
        tmp = self.hs_b.media_repository.files.tmp_dir
        self.assertEqual(os.listdir(tmp), [])

    # -- serving ---------------------------------------------------------------------------------

    async def test_federation_download_is_multipart_mixed(self) -> None:
        data = png()
        media_id = await self.upload_on_a(data, filename="café.png")
        r = await self.federation_get(f"{FED}/download/{media_id}")
        self.assertEqual(r.code, 200)
        self.assertTrue(r.headers["content-type"].startswith("multipart/mixed; boundary="), r.headers)
        self.assertEqual(int(r.headers["content-length"]), len(r.body))
        part = parse_media_answer(r.headers["content-type"], r.body)
        self.assertEqual(part.metadata, {})
        self.assertEqual((part.data, part.content_type, part.location), (data, "image/png", None))
        self.assertEqual(filename_from_disposition(part.content_disposition), "café.png")
        self.assertTrue(part.content_disposition.startswith("inline"))

    async def test_federation_thumbnail_and_errors(self) -> None:
        media_id = await self.upload_on_a(png())
        r = await self.federation_get(f"{FED}/thumbnail/{media_id}?width=32&height=32&method=crop")
        self.assertEqual(r.code, 200, r.body)
        part = parse_media_answer(r.headers["content-type"], r.body)
        self.assertEqual(Image.open(io.BytesIO(part.data)).size, (32, 32))
        # Unknown media, a missing signature, another server's media ID form: refused.
        r = await self.federation_get(f"{FED}/download/doesNotExist")
        self.assertEqual((r.code, r.json["errcode"]), (404, "M_NOT_FOUND"))
        r = await self.request("GET", f"{FED}/download/{media_id}")
        self.assertEqual((r.code, r.json["errcode"]), (401, "M_UNAUTHORIZED"))
        r = await self.federation_get(f"{FED}/thumbnail/{media_id}?width=0&height=32")
        self.assertEqual(r.code, 400)

    async def test_cached_remote_media_is_never_served_onwards(self) -> None:
        media_id = await self.upload_on_a(b"hello", "text/plain")
        self.assertEqual((await self.download_on_b(media_id)).code, 200)
        # B holds a copy now, but another server asking B gets 404: B serves only its own media.
        header = authorization_header(NAME_A, self.hs.signing_key, NAME_B, "GET", f"{FED}/download/{media_id}", None)
        r = await self.request("GET", f"{FED}/download/{media_id}", headers={"Authorization": header},
                               site=self.site_b)
        self.assertEqual((r.code, r.json["errcode"]), (404, "M_NOT_FOUND"))

    # -- fetching --------------------------------------------------------------------------------

    async def test_download_from_b_is_byte_identical_and_cached(self) -> None:
        data = png()
        media_id = await self.upload_on_a(data)
        r = await self.download_on_b(media_id)
        self.assertEqual(r.code, 200, r.body[:200])
        self.assertEqual(r.body, data)
        self.assertEqual(r.headers["content-type"], "image/png")
        self.assertEqual(r.headers["content-disposition"], 'inline; filename="cat.png"')
        self.assertEqual(self.media_requests(), [f"{FED}/download/{media_id}"])
        cached = await self.hs_b.media_store.get_remote(NAME_A, media_id)
        self.assertEqual((cached.content_type, cached.size, cached.upload_name), ("image/png", len(data), "cat.png"))
        # Again, with a file name, and a thumbnail: from B's cache, no new federation request.
        r = await self.download_on_b(media_id, suffix="/other.png")
        self.assertEqual((r.code, r.body), (200, data))
        self.assertIn('filename="other.png"', r.headers["content-disposition"])
        r = await self.request("GET", f"{AUTHED}/thumbnail/{quote(NAME_A)}/{media_id}?width=64&height=64",
                               token=self.token_b, site=self.site_b)
        self.assertEqual(r.code, 200, r.body[:200])
        self.assertLessEqual(max(Image.open(io.BytesIO(r.body)).size), 320)  # the configured box that fits
        self.assertEqual(len(self.media_requests()), 1)

    async def test_thumbnail_first_fetches_the_original(self) -> None:
        media_id = await self.upload_on_a(png(300, 300))
        r = await self.request("GET", f"{AUTHED}/thumbnail/{quote(NAME_A)}/{media_id}?width=32&height=32&method=crop",
                               token=self.token_b, site=self.site_b)
        self.assertEqual(r.code, 200, r.body[:200])
        self.assertEqual(Image.open(io.BytesIO(r.body)).size, (32, 32))
        self.assertEqual(self.media_requests(), [f"{FED}/download/{media_id}"])
        self.assertTrue(await self.hs_b.media_store.get_thumbnails(media_id, NAME_A))

    async def test_concurrent_downloads_make_one_fetch(self) -> None:
        data = os.urandom(50_000)
        media_id = await self.upload_on_a(data, "application/octet-stream")
        results = await defer.gatherResults([defer.ensureDeferred(self.download_on_b(media_id)) for _ in range(4)])
        self.assertEqual([(r.code, r.body) for r in results], [(200, data)] * 4)
        self.assertEqual(len(self.media_requests()), 1)
        self.assertEqual(self.hs_b.media_repository._fetching, {})

    async def test_unknown_remote_media_is_not_found(self) -> None:
        r = await self.download_on_b("doesNotExist")
        self.assertEqual((r.code, r.json["errcode"]), (404, "M_NOT_FOUND"))
        await self.assert_nothing_cached("doesNotExist")
        # Not cached as missing either: once uploaded, it is fetched.
        self.assertEqual(len(self.media_requests()), 1)

    async def test_unreachable_server_is_a_bad_gateway(self) -> None:
        media_id = await self.upload_on_a(b"x")
        self.link_b.down.add(NAME_A)
        r = await self.download_on_b(media_id)
        self.assertEqual((r.code, r.json["errcode"]), (502, "M_UNKNOWN"))
        await self.assert_nothing_cached(media_id)
        self.link_b.down.clear()
        self.assertEqual((await self.download_on_b(media_id)).body, b"x")

    async def test_oversized_media_is_refused(self) -> None:
        limit = self.hs_b.config.max_upload_size
        media_id = await self.upload_on_a(b"ok")
        # The peer's answer grows past B's limit (A could have a larger one).
        big = b"z" * (limit + 1)

        def grow(uri: str, response: OutboundResponse) -> OutboundResponse:
            return multipart([({"Content-Type": "application/json"}, b"{}"),
                              ({"Content-Type": "application/octet-stream"}, big)])

        self.link_b.rewrite = grow
        r = await self.download_on_b(media_id)
        self.assertEqual((r.code, r.json["errcode"]), (502, "M_TOO_LARGE"))
        await self.assert_nothing_cached(media_id)

    async def test_bytes_part_over_the_limit_within_the_framing_allowance(self) -> None:
        limit = self.hs_b.config.max_upload_size
        media_id = await self.upload_on_a(b"ok")
        self.link_b.rewrite = lambda uri, response: multipart([({"Content-Type": "application/json"}, b"{}"),
                                                               ({"Content-Type": "text/plain"}, b"y" * (limit + 10))])
        r = await self.download_on_b(media_id)
        self.assertEqual((r.code, r.json["errcode"]), (502, "M_TOO_LARGE"))
        await self.assert_nothing_cached(media_id)

    async def test_malformed_answers_are_bad_gateways(self) -> None:
        media_id = await self.upload_on_a(b"ok")
        ok_meta = ({"Content-Type": "application/json"}, b"{}")
        bad_answers = [
            OutboundResponse(200, Headers({b"Content-Type": [b"image/png"]}), b"\x89PNG", ""),  # not multipart
            OutboundResponse(200, Headers({b"Content-Type": [b"multipart/mixed"]}), b"--x--", ""),  # no boundary
            OutboundResponse(200, Headers({b"Content-Type": [b"multipart/mixed; boundary=abc"]}), b"garbage", ""),
            OutboundResponse(200, Headers({}), b"", ""),
            multipart([ok_meta]),  # one part only
            multipart([ok_meta, ({"Content-Type": "text/plain"}, b"a"), ({"Content-Type": "text/plain"}, b"b")]),
            multipart([({"Content-Type": "text/plain"}, b"{}"), ({"Content-Type": "text/plain"}, b"a")]),
            multipart([({"Content-Type": "application/json"}, b"[1]"), ({"Content-Type": "text/plain"}, b"a")]),
            multipart([({"Content-Type": "application/json"}, b"{nope"), ({"Content-Type": "text/plain"}, b"a")]),
            multipart([ok_meta, ({"Location": "file:///etc/passwd"}, b"")]),
            # Unterminated: no closing delimiter.
            OutboundResponse(200, Headers({b"Content-Type": [b"multipart/mixed; boundary=q"]}),
                             b"--q\r\nContent-Type: application/json\r\n\r\n{}\r\n--q\r\n\r\nabc", ""),
        ]
        for answer in bad_answers:
            self.link_b.rewrite = lambda uri, response, answer=answer: answer
            r = await self.download_on_b(media_id)
            self.assertEqual((r.code, r.json["errcode"]), (502, "M_UNKNOWN"), (answer, r.json))
            await self.assert_nothing_cached(media_id)

    async def test_lenient_but_valid_multipart(self) -> None:
        """A quoted boundary, a preamble, transport padding and a part without Content-Type."""
        media_id = await self.upload_on_a(b"ok")
        body = (b"preamble\r\n--a b\r\nContent-Type: application/json\r\n\r\n{}"
                b"\r\n--a b  \r\n\r\nraw\r\nbytes\r\n--a b--\r\nepilogue")
        self.link_b.rewrite = lambda uri, response: OutboundResponse(
            200, Headers({b"Content-Type": [b'multipart/mixed; boundary="a b"']}), body, "")
        r = await self.download_on_b(media_id)
        self.assertEqual((r.code, r.body), (200, b"raw\r\nbytes"))
        self.assertEqual(r.headers["content-type"], "application/octet-stream")

    async def test_older_peer_falls_back_to_the_legacy_endpoint(self) -> None:
        self.hs.media_repository.config = _with(self.hs.media_repository.config, authenticated_media=False)
        data = png()
        media_id = await self.upload_on_a(data)

        def old_server(uri: str, response: OutboundResponse) -> OutboundResponse:
            if uri.startswith(FED):
                return OutboundResponse(404, Headers({}), b'{"errcode": "M_UNRECOGNIZED", "error": "?"}', "")
            return response

        self.link_b.rewrite = old_server
        r = await self.download_on_b(media_id)
        self.assertEqual((r.code, r.body), (200, data))
        self.assertEqual(self.media_requests(), [
            f"{FED}/download/{media_id}",
            f"{LEGACY}/download/{quote(NAME_A, safe='')}/{media_id}?allow_remote=false"])
        self.assertEqual((await self.hs_b.media_store.get_remote(NAME_A, media_id)).upload_name, "cat.png")

    async def test_legacy_endpoints_of_b(self) -> None:
        data = png()
        media_id = await self.upload_on_a(data)
        # Frozen (enable_authenticated_media, the default): the legacy endpoint fetches nothing new,
        r = await self.download_on_b(media_id, prefix=LEGACY)
        self.assertEqual((r.code, r.json["errcode"]), (404, "M_NOT_FOUND"))
        self.assertEqual(self.media_requests(), [])
        # and never serves what was fetched while frozen.
        self.assertEqual((await self.download_on_b(media_id)).code, 200)
        r = await self.download_on_b(media_id, prefix=LEGACY)
        self.assertEqual(r.code, 404)
        # Not frozen: it fetches and serves, and honours allow_remote=false.
        self.hs_b.media_repository.config = _with(self.hs_b.media_repository.config, authenticated_media=False)
        other = await self.upload_on_a(data, filename="b.png")
        r = await self.download_on_b(other, prefix=LEGACY, suffix="?allow_remote=false")
        self.assertEqual(r.code, 404)
        r = await self.download_on_b(other, prefix=LEGACY)
        self.assertEqual((r.code, r.body), (200, data))
        r = await self.request("GET", f"{LEGACY}/thumbnail/{quote(NAME_A)}/{other}?width=32&height=32",
                               site=self.site_b)
        self.assertEqual(r.code, 200, r.body[:200])

    async def test_location_redirect_is_followed_under_the_ip_policy(self) -> None:
        media_id = await self.upload_on_a(b"ok")
        network = InProcessNetwork()
        self.addCleanup(network.close)
        self.hs_b.outbound.connector = network
        self.hs_b.outbound.resolver = StaticResolver({"cdn.test": ["127.0.0.9"]})
        cdn = _Cdn(png(40, 40))
        network.listen("127.0.0.9", 80, Site(cdn))
        self.link_b.rewrite = lambda uri, response: multipart([({"Content-Type": "application/json"}, b"{}"),
                                                               ({"Location": "http://cdn.test/m/1"}, b"")])
        # Loopback is refused by the default policy: nothing is connected to, nothing stored.
        r = await self.download_on_b(media_id)
        self.assertEqual((r.code, r.json["errcode"]), (502, "M_UNKNOWN"))
        self.assertEqual((network.connections, cdn.hits), ([], 0))
        await self.assert_nothing_cached(media_id)
        self.link_b.rewrite = lambda uri, response: multipart([({"Content-Type": "application/json"}, b"{}"),
                                                               ({"Location": "http://10.0.0.1/x"}, b"")])
        self.assertEqual((await self.download_on_b(media_id)).code, 502)
        self.assertEqual(network.connections, [])
        # Allowed by the policy: followed, and the bytes cached (the URL is not).
        self.link_b.rewrite = lambda uri, response: multipart([({"Content-Type": "application/json"}, b"{}"),
                                                               ({"Location": "http://cdn.test/m/1"}, b"")])
        fetcher = self.hs_b.media_repository._remote
        fetcher._location_client = self.hs_b.outbound.client(
            policy=IpRangePolicy.from_strings([], ["127.0.0.9/32"]), timeout_s=10,
            max_response_size=self.hs_b.config.max_upload_size)
        r = await self.download_on_b(media_id)
        self.assertEqual((r.code, r.body), (200, cdn.data))
        self.assertEqual(r.headers["content-disposition"], 'inline; filename="cdn.png"')
        self.assertEqual(cdn.hits, 1)

    async def test_retention_drops_unused_remote_media(self) -> None:
        data = b"remember me"
        media_id = await self.upload_on_a(data, "text/plain")
        self.assertEqual((await self.download_on_b(media_id)).body, data)
        repo = self.hs_b.media_repository
        cached = await self.hs_b.media_store.get_remote(NAME_A, media_id)
        path = repo.files.path_for(cached.sha256)
        self.assertTrue(os.path.exists(path))
        repo.config = _with(repo.config, remote_media_lifetime_ms=3600_000)
        self.assertEqual(await repo.apply_retention(), 0)
        # (The hourly retention run fires as the clock moves: it and this one may share the work.)
        self.fake_time.advance(2 * 3600)
        await repo.apply_retention()
        self.assertIsNone(await self.hs_b.media_store.get_remote(NAME_A, media_id))

        async def file_gone() -> bool:
            return not os.path.exists(path)

        await self.eventually(file_gone)
        # Fetched again when asked for.
        self.assertEqual((await self.download_on_b(media_id)).body, data)
        self.assertEqual(len(self.media_requests()), 2)

    async def test_admin_purges_the_remote_cache(self) -> None:
        media_id = await self.upload_on_a(b"cached", "text/plain")
        self.assertEqual((await self.download_on_b(media_id)).body, b"cached")
        admin, token = await self.register_on(self.site_b, "admin")
        await self.hs_b.users_store.set_admin(admin, True)
        now = self.hs_b.clock.time_msec()
        r = await self.request("POST", f"/_synapse/admin/v1/purge_media_cache?before_ts={now - 1}", {},
                               token=token, site=self.site_b)
        self.assertEqual((r.code, r.json), (200, {"deleted": 0}))
        r = await self.request("POST", f"/_synapse/admin/v1/purge_media_cache?before_ts={now + 1}", {},
                               token=token, site=self.site_b)
        self.assertEqual((r.code, r.json), (200, {"deleted": 1}))
        self.assertIsNone(await self.hs_b.media_store.get_remote(NAME_A, media_id))
        r = await self.request("POST", "/_synapse/admin/v1/purge_media_cache", {}, token=token, site=self.site_b)
        self.assertEqual(r.code, 400)
        r = await self.request("POST", f"/_synapse/admin/v1/purge_media_cache?before_ts={now}", {},
                               token=self.token_b, site=self.site_b)
        self.assertEqual((r.code, r.json["errcode"]), (403, "M_FORBIDDEN"))
        # The local media of A is untouched, and B fetches it again.
        self.assertEqual((await self.download_on_b(media_id)).body, b"cached")


def _with(config: Any, **changes: Any) -> Any:
    import dataclasses

    return dataclasses.replace(config, **changes)
