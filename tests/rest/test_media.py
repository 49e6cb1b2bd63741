"""The media repository: upload (direct and async), download, thumbnails, limits, admin, retention."""

from __future__ import annotations

import hashlib
import io
import os
from typing import Any
from urllib.parse import quote

from PIL import Image
from twisted.internet import defer

from tests.server import HomeserverTestCase, Response

UPLOAD = "/_matrix/media/v3/upload"
AUTHED = "/_matrix/client/v1/media"
LEGACY = "/_matrix/media/v3"


def png_bytes(width: int = 400, height: int = 300, color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, "PNG")
    return out.getvalue()


def gif_bytes(frames: int = 3, size: int = 200) -> bytes:
    images = [Image.new("RGB", (size, size), (i * 60, 0, 0)) for i in range(frames)]
    out = io.BytesIO()
    images[0].save(out, "GIF", save_all=True, append_images=images[1:], duration=100, loop=0)
    return out.getvalue()


class MediaTestCase(HomeserverTestCase):
    async def _set_up(self) -> None:
        await super()._set_up()
        self.alice = await self.register("alice")
        self.token = self.alice["access_token"]

    def media_files(self) -> list[str]:
        root = os.path.join(self.hs.media_repository.files.root, "content")
        return sorted(name for _, _, names in os.walk(root) for name in names)

    def tmp_files(self) -> list[str]:
        return os.listdir(os.path.join(self.hs.media_repository.files.root, "tmp"))

    async def run_hourly_jobs_until(self, condition: Any) -> None:
        """The retention job runs hourly on the fake clock, in real threads: step the clock an hour
        at a time (a run still busy when the clock jumps reschedules itself an hour later)."""
        for _ in range(20):
            await self.pump(5)
            if condition():
                return
            self.advance(3600)
        raise AssertionError("condition never held")

    async def upload(self, data: bytes, content_type: str | None = "application/octet-stream",
                     filename: str | None = None, token: str | None = None) -> Response:
        path = UPLOAD + (f"?filename={quote(filename)}" if filename is not None else "")
        headers = {"Content-Type": content_type} if content_type else {}
        return await self.request("POST", path, token=token or self.token, headers=headers, raw_body=data)

    async def upload_ok(self, data: bytes, content_type: str = "application/octet-stream",
                        filename: str | None = None, token: str | None = None) -> str:
        r = await self.upload(data, content_type, filename, token)
        self.assertEqual(r.code, 200, r.json)
        self.assertTrue(r.json["content_uri"].startswith("mxc://test/"))
        return r.json["content_uri"][len("mxc://test/"):]

    async def download(self, media_id: str, token: str | None = None, server: str = "test", suffix: str = "",
                       headers: dict[str, str] | None = None, prefix: str = AUTHED) -> Response:
        return await self.request("GET", f"{prefix}/download/{server}/{media_id}{suffix}",
                                  token=token if token is not None else self.token, headers=headers)

    async def thumbnail(self, media_id: str, query: str, token: str | None = None, prefix: str = AUTHED) -> Response:
        return await self.request("GET", f"{prefix}/thumbnail/test/{media_id}?{query}",
                                  token=token if token is not None else self.token)


class UploadDownloadTests(MediaTestCase):
    async def test_upload_then_download_identical_bytes_and_headers(self) -> None:
        data = os.urandom(300_000)  # big enough for twisted to spool the body to a temp file
        media_id = await self.upload_ok(data, "application/pdf", filename="report.pdf")
        r = await self.download(media_id)
        self.assertEqual(r.code, 200)
        self.assertEqual(r.body, data)
        self.assertEqual(r.headers["content-type"], "application/pdf")
        self.assertEqual(r.headers["content-disposition"], 'attachment; filename="report.pdf"')
        self.assertTrue(r.headers["content-security-policy"].startswith("sandbox;"))
        self.assertEqual(r.headers["x-content-type-options"], "nosniff")
        self.assertEqual(r.headers["cross-origin-resource-policy"], "cross-origin")
        self.assertEqual(r.headers["accept-ranges"], "bytes")
        self.assertEqual(r.headers["content-length"], str(len(data)))

    async def test_big_uploads_are_stored_without_a_second_copy(self) -> None:
        def no_copy(*args: Any) -> None:
            raise AssertionError("the spooled body should have been linked, not copied")

        self.patch(self.hs.media_repository.files, "write_temp", no_copy)
        data = os.urandom(500_000)
        media_id = await self.upload_ok(data)
        self.assertEqual((await self.download(media_id)).body, data)
        self.assertEqual(self.tmp_files(), [])

    async def test_inline_for_safe_types_and_rfc6266_filenames(self) -> None:
        media_id = await self.upload_ok(png_bytes(10, 10), "image/png", filename="ünïcode pic.png")
        r = await self.download(media_id)
        self.assertEqual(r.headers["content-disposition"],
                         "inline; filename*=utf-8''%C3%BCn%C3%AFcode%20pic.png")
        r = await self.download(media_id, suffix="/other.png")
        self.assertEqual(r.headers["content-disposition"], 'inline; filename="other.png"')
        r = await self.download(media_id, suffix="/")  # an empty file name (matrix-nio sends this)
        self.assertEqual(r.headers["content-disposition"], "inline; filename*=utf-8''%C3%BCn%C3%AFcode%20pic.png")
        html = await self.upload_ok(b"<script>alert(1)</script>", "text/html")
        r = await self.download(html)
        self.assertEqual(r.headers["content-disposition"], "attachment")
        self.assertEqual(r.headers["content-type"], "text/html; charset=utf-8")

    async def test_default_content_type(self) -> None:
        media_id = await self.upload_ok(b"bytes", content_type=None)  # type: ignore[arg-type]
        r = await self.download(media_id)
        self.assertEqual(r.headers["content-type"], "application/octet-stream")

    async def test_empty_file(self) -> None:
        media_id = await self.upload_ok(b"", "text/plain")
        r = await self.download(media_id)
        self.assertEqual((r.code, r.body, r.headers["content-length"]), (200, b"", "0"))

    async def test_head_gives_headers_only(self) -> None:
        media_id = await self.upload_ok(b"0123456789", "text/plain")
        r = await self.request("HEAD", f"{AUTHED}/download/test/{media_id}", token=self.token)
        self.assertEqual((r.code, r.body, r.headers["content-length"]), (200, b"", "10"))

    async def test_dedupe_by_content(self) -> None:
        data = b"same bytes" * 1000
        first = await self.upload_ok(data, "text/plain", "a.txt")
        second = await self.upload_ok(data, "application/octet-stream", "b.bin")
        self.assertNotEqual(first, second)
        self.assertEqual(self.media_files(), [hashlib.sha256(data).hexdigest()])
        r = await self.download(second)
        self.assertEqual((r.body, r.headers["content-type"]), (data, "application/octet-stream"))

    async def test_download_requires_auth(self) -> None:
        media_id = await self.upload_ok(b"x")
        r = await self.request("GET", f"{AUTHED}/download/test/{media_id}")
        self.assert_error(r, 401, "M_MISSING_TOKEN")

    async def test_unknown_media_and_unreachable_remote_servers(self) -> None:
        self.assert_error(await self.download("doesNotExist"), 404, "M_NOT_FOUND")
        # Another server's media is fetched over federation (tests/federation/test_remote_media.py);
        # one that cannot be reached is a bad gateway, and nothing is cached.
        self.assert_error(await self.download("abc", server="other.example.org"), 502, "M_UNKNOWN")
        self.assertIsNone(await self.hs.media_store.get_remote("other.example.org", "abc"))
        self.assert_error(await self.thumbnail("doesNotExist", "width=32&height=32"), 404, "M_NOT_FOUND")

    async def test_malformed_server_names_and_media_ids(self) -> None:
        self.assert_error(await self.download("abc", server="bad_server!"), 404, "M_NOT_FOUND")
        self.assert_error(await self.download("abc", server="%2E%2E%2Fetc"), 404, "M_NOT_FOUND")
        self.assert_error(await self.download("a.b"), 404, "M_NOT_FOUND")
        self.assert_error(await self.download("%2E%2E"), 404, "M_NOT_FOUND")

    async def test_upload_over_the_limit_is_refused_and_leaves_nothing(self) -> None:
        limit = self.hs.config.max_upload_size
        r = await self.assert_rejected_without_change("POST", UPLOAD, None, 413, "M_TOO_LARGE", token=self.token,
                                                      raw_body=b"x" * (limit + 1))
        self.assertIn("error", r.json)
        self.assertEqual((self.media_files(), self.tmp_files()), ([], []))

    async def test_upload_requires_auth(self) -> None:
        r = await self.request("POST", UPLOAD, raw_body=b"data")
        self.assert_error(r, 401, "M_MISSING_TOKEN")
        self.assertEqual(self.media_files(), [])

    async def test_config(self) -> None:
        for path in (f"{AUTHED}/config", f"{LEGACY}/config"):
            r = await self.get(path, token=self.token)
            self.assertEqual(r.json, {"m.upload.size": self.hs.config.max_upload_size})
        self.assert_error(await self.get(f"{AUTHED}/config"), 401, "M_MISSING_TOKEN")


class SmallLimitTests(MediaTestCase):
    config_overrides = {"max_upload_size": 1000, "media_user_quota": 1500, "max_request_body_size": 400}

    async def test_uploads_may_be_bigger_than_json_bodies(self) -> None:
        await self.upload_ok(b"y" * 900)
        # ...while a JSON endpoint keeps its own, smaller cap
        r = await self.request("POST", "/_matrix/client/v3/user/x/filter", token=self.token, raw_body=b"{" * 800)
        self.assert_error(r, 413, "M_TOO_LARGE")

    async def test_quota(self) -> None:
        await self.upload_ok(b"a" * 900)
        await self.assert_rejected_without_change("POST", UPLOAD, None, 403, "M_FORBIDDEN", token=self.token,
                                                  raw_body=b"b" * 700)
        self.assertEqual(len(self.media_files()), 1)
        self.assertEqual(self.tmp_files(), [])
        # others have their own quota
        bob = await self.register("bob")
        await self.upload_ok(b"c" * 700, token=bob["access_token"])

    async def test_parallel_uploads_share_the_quota(self) -> None:
        # Each fits alone; together they would pass the quota of 1500: exactly one is stored.
        responses = await defer.gatherResults([
            defer.ensureDeferred(self.upload(bytes([i]) * 900)) for i in range(2)])
        self.assertEqual(sorted(r.code for r in responses), [200, 403], [r.json for r in responses])
        self.assertEqual(len(self.media_files()), 1)
        self.assertEqual(self.tmp_files(), [])
        # The refused upload's bytes are not held: what is left of the quota can be used.
        await self.upload_ok(b"z" * 600)


class RangeTests(MediaTestCase):
    async def test_ranges(self) -> None:
        data = bytes(range(256)) * 4
        media_id = await self.upload_ok(data)
        r = await self.download(media_id, headers={"Range": "bytes=10-19"})
        self.assertEqual((r.code, r.body, r.headers["content-range"]), (206, data[10:20], "bytes 10-19/1024"))
        r = await self.download(media_id, headers={"Range": "bytes=1000-"})
        self.assertEqual((r.code, r.body), (206, data[1000:]))
        r = await self.download(media_id, headers={"Range": "bytes=-24"})
        self.assertEqual((r.code, r.body, r.headers["content-range"]), (206, data[-24:], "bytes 1000-1023/1024"))
        r = await self.download(media_id, headers={"Range": "bytes=2000-3000"})
        self.assertEqual((r.code, r.headers["content-range"]), (416, "bytes */1024"))
        r = await self.download(media_id, headers={"Range": "bytes=0-1,5-6"})  # several ranges: whole file
        self.assertEqual((r.code, r.body), (200, data))
        r = await self.download(media_id, headers={"Range": "garbage"})
        self.assertEqual((r.code, r.body), (200, data))


class AsyncUploadTests(MediaTestCase):
    async def create(self, token: str | None = None) -> tuple[str, dict[str, Any]]:
        r = await self.post("/_matrix/media/v1/create", {}, token=token or self.token)
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual(r.json["unused_expires_at"], int(self.fake_time.seconds() * 1000) + 24 * 3600 * 1000)
        return r.json["content_uri"][len("mxc://test/"):], r.json

    async def put(self, media_id: str, data: bytes, token: str | None = None, server: str = "test") -> Response:
        return await self.request("PUT", f"{LEGACY}/upload/{server}/{media_id}?filename=f.txt",
                                  token=token or self.token, headers={"Content-Type": "text/plain"}, raw_body=data)

    async def test_create_upload_download(self) -> None:
        media_id, _ = await self.create()
        r = await self.put(media_id, b"later")
        self.assertEqual((r.code, r.json), (200, {}))
        r = await self.download(media_id)
        self.assertEqual((r.body, r.headers["content-disposition"]), (b"later", 'inline; filename="f.txt"'))
        r = await self.put(media_id, b"again")
        self.assert_error(r, 409, "M_CANNOT_OVERWRITE_MEDIA")
        self.assertEqual((await self.download(media_id)).body, b"later")

    async def test_only_the_creator_may_upload(self) -> None:
        media_id, _ = await self.create()
        bob = await self.register("bob")
        await self.assert_rejected_without_change(
            "PUT", f"{LEGACY}/upload/test/{media_id}", None, 403, "M_FORBIDDEN", token=bob["access_token"],
            raw_body=b"x")

    async def test_unknown_or_remote_ids(self) -> None:
        self.assert_error(await self.put("neverCreated", b"x"), 404, "M_NOT_FOUND")
        self.assert_error(await self.put("abc", b"x", server="elsewhere.org"), 404, "M_NOT_FOUND")
        self.assert_error(await self.put("abc", b"x", server="bad!name"), 404, "M_NOT_FOUND")

    async def test_download_before_upload_waits_then_times_out(self) -> None:
        media_id, _ = await self.create()
        self.assert_error(await self.download(media_id, suffix="?timeout_ms=0"), 504, "M_NOT_YET_UPLOADED")
        pending = self.download(media_id)  # default timeout: 20 s
        d = defer.ensureDeferred(pending)
        await self.pump()
        self.assertFalse(d.called)
        self.advance(21)
        r = await d
        self.assert_error(r, 504, "M_NOT_YET_UPLOADED")

    async def test_waiting_download_gets_the_content_when_it_arrives(self) -> None:
        media_id, _ = await self.create()
        d = defer.ensureDeferred(self.download(media_id, suffix="?timeout_ms=5000"))
        await self.pump()
        self.assertFalse(d.called)
        self.assertEqual((await self.put(media_id, b"arrived")).code, 200)
        r = await d
        self.assertEqual((r.code, r.body), (200, b"arrived"))

    async def test_expired_ids_cannot_be_used(self) -> None:
        media_id, _ = await self.create()
        self.advance(24 * 3600 + 1)
        self.assert_error(await self.put(media_id, b"late"), 404, "M_NOT_FOUND")
        self.assert_error(await self.download(media_id), 404, "M_NOT_FOUND")

    async def test_pending_limit(self) -> None:
        for _ in range(5):
            await self.create()
        r = await self.post("/_matrix/media/v1/create", {}, token=self.token)
        self.assert_error(r, 429, "M_LIMIT_EXCEEDED")


class LegacyFreezeTests(MediaTestCase):
    async def test_media_uploaded_while_frozen_is_not_served_unauthenticated(self) -> None:
        media_id = await self.upload_ok(png_bytes(), "image/png")
        self.assert_error(await self.request("GET", f"{LEGACY}/download/test/{media_id}"), 404, "M_NOT_FOUND")
        self.assert_error(await self.request("GET", f"{LEGACY}/thumbnail/test/{media_id}?width=32&height=32"),
                          404, "M_NOT_FOUND")
        # ...while the authenticated endpoints serve it
        self.assertEqual((await self.download(media_id)).code, 200)


class LegacyUnfrozenTests(MediaTestCase):
    config_overrides = {"enable_authenticated_media": False}

    async def test_media_uploaded_before_the_freeze_is_served_unauthenticated(self) -> None:
        media_id = await self.upload_ok(png_bytes(), "image/png")
        r = await self.request("GET", f"{LEGACY}/download/test/{media_id}")
        self.assertEqual((r.code, r.headers["content-type"]), (200, "image/png"))
        r = await self.request("GET", f"{LEGACY}/thumbnail/test/{media_id}?width=32&height=32&method=crop")
        self.assertEqual(r.code, 200)
        self.assertEqual(Image.open(io.BytesIO(r.body)).size, (32, 32))


class ThumbnailTests(MediaTestCase):
    async def test_pregenerated_on_upload_and_served(self) -> None:
        media_id = await self.upload_ok(png_bytes(1000, 500), "image/png")
        thumbs = await self.hs.media_store.get_thumbnails(media_id)
        self.assertEqual(sorted((t.width, t.height, t.method) for t in thumbs),
                         [(32, 32, "crop"), (96, 96, "crop"), (320, 240, "scale"), (640, 480, "scale"),
                          (800, 600, "scale")])
        r = await self.thumbnail(media_id, "width=96&height=96&method=crop")
        self.assertEqual((r.code, r.headers["content-type"]), (200, "image/png"))
        self.assertEqual(r.headers["content-disposition"], 'inline; filename="thumbnail.png"')
        self.assertEqual(Image.open(io.BytesIO(r.body)).size, (96, 96))
        # scale: at least the requested size, aspect ratio kept, never smaller than asked
        r = await self.thumbnail(media_id, "width=300&height=200&method=scale")
        self.assertEqual(Image.open(io.BytesIO(r.body)).size, (320, 160))
        r = await self.thumbnail(media_id, "width=50&height=50")  # default method: scale
        self.assertEqual(Image.open(io.BytesIO(r.body)).size, (320, 160))

    async def test_jpeg_stays_jpeg(self) -> None:
        out = io.BytesIO()
        Image.new("RGB", (600, 600), (0, 90, 200)).save(out, "JPEG")
        media_id = await self.upload_ok(out.getvalue(), "image/jpeg")
        r = await self.thumbnail(media_id, "width=32&height=32&method=crop")
        self.assertEqual((r.headers["content-type"], Image.open(io.BytesIO(r.body)).format), ("image/jpeg", "JPEG"))

    async def test_small_images_are_served_as_they_are(self) -> None:
        data = png_bytes(20, 20)
        media_id = await self.upload_ok(data, "image/png")
        r = await self.thumbnail(media_id, "width=32&height=32&method=crop")
        self.assertEqual((r.code, r.body), (200, data))

    async def test_thumbnail_of_a_non_image(self) -> None:
        media_id = await self.upload_ok(b"%PDF-1.4 not an image", "application/pdf")
        self.assert_error(await self.thumbnail(media_id, "width=32&height=32"), 400, "M_UNKNOWN")
        svg = await self.upload_ok(b'<svg xmlns="http://www.w3.org/2000/svg"/>', "image/svg+xml")
        self.assert_error(await self.thumbnail(svg, "width=32&height=32"), 400, "M_UNKNOWN")
        broken = await self.upload_ok(b"\x89PNG not really", "image/png")
        self.assert_error(await self.thumbnail(broken, "width=32&height=32"), 400, "M_UNKNOWN")

    async def test_bad_parameters(self) -> None:
        media_id = await self.upload_ok(png_bytes(), "image/png")
        self.assert_error(await self.thumbnail(media_id, "width=32"), 400, "M_MISSING_PARAM")
        self.assert_error(await self.thumbnail(media_id, "width=-1&height=32"), 400, "M_INVALID_PARAM")
        self.assert_error(await self.thumbnail(media_id, "width=abc&height=32"), 400, "M_INVALID_PARAM")
        self.assert_error(await self.thumbnail(media_id, "width=32&height=32&method=stretch"), 400,
                          "M_INVALID_PARAM")
        self.assert_error(await self.thumbnail(media_id, "width=32&height=32&animated=yes"), 400,
                          "M_INVALID_PARAM")
        self.assert_error(await self.request("GET", f"{AUTHED}/thumbnail/test/{media_id}?width=32&height=32"),
                          401, "M_MISSING_TOKEN")

    async def test_animated(self) -> None:
        media_id = await self.upload_ok(gif_bytes(), "image/gif")
        r = await self.thumbnail(media_id, "width=96&height=96&method=crop&animated=true")
        self.assertEqual(r.headers["content-type"], "image/webp")
        image = Image.open(io.BytesIO(r.body))
        self.assertEqual((image.size, image.n_frames), ((96, 96), 3))
        r = await self.thumbnail(media_id, "width=96&height=96&method=crop")
        self.assertEqual(r.headers["content-type"], "image/png")
        self.assertFalse(getattr(Image.open(io.BytesIO(r.body)), "is_animated", False))
        # a still image asked for animated: a still thumbnail
        still = await self.upload_ok(png_bytes(), "image/png")
        r = await self.thumbnail(still, "width=96&height=96&method=crop&animated=true")
        self.assertEqual(r.headers["content-type"], "image/png")


class DynamicThumbnailTests(MediaTestCase):
    config_overrides = {"dynamic_thumbnails": True, "max_image_pixels": 1_000_000}

    async def test_exact_sizes_made_on_demand_and_cached(self) -> None:
        media_id = await self.upload_ok(png_bytes(800, 800), "image/png")
        r = await self.thumbnail(media_id, "width=123&height=45&method=crop")
        self.assertEqual(Image.open(io.BytesIO(r.body)).size, (123, 45))
        count = len(await self.hs.media_store.get_thumbnails(media_id))
        r2 = await self.thumbnail(media_id, "width=123&height=45&method=crop")
        self.assertEqual(r2.body, r.body)
        self.assertEqual(len(await self.hs.media_store.get_thumbnails(media_id)), count)

    async def test_image_too_large_to_decode(self) -> None:
        # 2000 x 2000 = 4M pixels > max_image_pixels; a PNG of one colour is tiny on disk (a "bomb")
        media_id = await self.upload_ok(png_bytes(2000, 2000), "image/png")
        self.assertEqual(await self.hs.media_store.get_thumbnails(media_id), [])
        self.assert_error(await self.thumbnail(media_id, "width=32&height=32"), 413, "M_TOO_LARGE")
        self.assertEqual((await self.download(media_id)).code, 200)  # still downloadable


class AdminTests(MediaTestCase):
    async def make_admin(self) -> str:
        admin = await self.register("root")
        await self.hs.database.run("make_admin", lambda txn: txn.execute(
            "UPDATE users SET admin = TRUE WHERE user_id = ?", (admin["user_id"],)))
        return admin["access_token"]

    async def test_delete_one_keeps_shared_file(self) -> None:
        admin = await self.make_admin()
        data = png_bytes()
        first = await self.upload_ok(data, "image/png")
        second = await self.upload_ok(data, "image/png")
        files = self.media_files()
        r = await self.request("DELETE", f"/_synapse/admin/v1/media/test/{first}", token=admin)
        self.assertEqual((r.code, r.json), (200, {"deleted_media": [first], "total": 1}))
        self.assert_error(await self.download(first), 404, "M_NOT_FOUND")
        self.assertEqual(self.media_files(), files)  # the second still uses the same file and thumbnails
        await self.request("DELETE", f"/_synapse/admin/v1/media/test/{second}", token=admin)
        self.assertEqual(self.media_files(), [])

    async def test_delete_errors(self) -> None:
        admin = await self.make_admin()
        media_id = await self.upload_ok(b"x")
        await self.assert_rejected_without_change("DELETE", f"/_synapse/admin/v1/media/test/{media_id}", None,
                                                  403, "M_FORBIDDEN", token=self.token)
        await self.assert_rejected_without_change("DELETE", "/_synapse/admin/v1/media/test/nope", None,
                                                  404, "M_NOT_FOUND", token=admin)
        await self.assert_rejected_without_change("DELETE", "/_synapse/admin/v1/media/bad!/x", None,
                                                  404, "M_NOT_FOUND", token=admin)

    async def test_delete_all_of_a_user(self) -> None:
        admin = await self.make_admin()
        ids = {await self.upload_ok(b"one"), await self.upload_ok(png_bytes(), "image/png")}
        bob = await self.register("bob")
        kept = await self.upload_ok(b"bob's", token=bob["access_token"])
        r = await self.request("DELETE", f"/_synapse/admin/v1/users/{self.alice['user_id']}/media", token=admin)
        self.assertEqual((r.code, set(r.json["deleted_media"]), r.json["total"]), (200, ids, 2))
        self.assertEqual(self.media_files(), [hashlib.sha256(b"bob's").hexdigest()])
        self.assertEqual((await self.download(kept)).code, 200)
        await self.assert_rejected_without_change("DELETE", "/_synapse/admin/v1/users/@nobody:test/media", None,
                                                  404, "M_NOT_FOUND", token=admin)


class RetentionTests(MediaTestCase):
    config_overrides = {"media_retention": {"local_media_lifetime": "7d"}}

    async def test_unused_media_is_deleted_used_media_kept(self) -> None:
        old = await self.upload_ok(b"old")
        used = await self.upload_ok(b"used")
        self.advance(5 * 86400)
        self.assertEqual((await self.download(used)).code, 200)  # counts as use
        self.advance(3 * 86400)
        await self.run_hourly_jobs_until(lambda: len(self.media_files()) == 1)
        self.assert_error(await self.download(old), 404, "M_NOT_FOUND")
        self.assertEqual((await self.download(used)).code, 200)
        self.assertEqual(self.media_files(), [hashlib.sha256(b"used").hexdigest()])


class FailedUploadTests(MediaTestCase):
    async def test_a_failed_upload_leaves_no_file(self) -> None:
        async def broken(*args: Any) -> None:
            raise RuntimeError("database went away")

        self.patch(self.hs.media_store, "store_uploaded", broken)
        r = await self.upload(os.urandom(200_000))
        self.assert_error(r, 500, "M_UNKNOWN")
        self.assertEqual((self.media_files(), self.tmp_files()), ([], []))

    async def test_a_failed_upload_keeps_the_file_another_upload_shares(self) -> None:
        data = os.urandom(1000)
        media_id = await self.upload_ok(data)

        async def broken(*args: Any) -> None:
            raise RuntimeError("database went away")

        self.patch(self.hs.media_store, "store_uploaded", broken)
        self.assert_error(await self.upload(data), 500, "M_UNKNOWN")
        self.assertEqual(self.media_files(), [hashlib.sha256(data).hexdigest()])
        self.assertEqual((await self.download(media_id)).body, data)


class PendingExpiryTests(MediaTestCase):
    async def test_expired_pending_uploads_are_cleaned_up(self) -> None:
        r = await self.post("/_matrix/media/v1/create", {}, token=self.token)
        media_id = r.json["content_uri"].rsplit("/", 1)[1]
        self.assertIsNotNone(await self.hs.media_store.get(media_id))
        self.advance(25 * 3600)
        gone: list[bool] = []

        async def check() -> None:
            gone.append(await self.hs.media_store.get(media_id) is None)

        for _ in range(20):
            await check()
            if gone[-1]:
                break
            self.advance(3600)
            await self.pump(5)
        self.assertTrue(gone[-1])
