"""Media repository details found in a conformance audit: the legacy path prefixes clients still
use, and absurd thumbnail sizes (valid integers) that must not reach the database as they are."""

from __future__ import annotations

import io

from PIL import Image

from tests.rest.test_media import AUTHED, MediaTestCase, png_bytes


class LegacyPrefixTests(MediaTestCase):
    config_overrides = {"enable_authenticated_media": False}

    async def test_r0_and_v1_prefixes_serve_the_legacy_endpoints(self) -> None:
        for version in ("v1", "r0"):
            prefix = f"/_matrix/media/{version}"
            r = await self.request("POST", f"{prefix}/upload?filename=a.txt", token=self.token,
                                   headers={"Content-Type": "text/plain"}, raw_body=b"legacy")
            self.assertEqual(r.code, 200, r.json)
            media_id = r.json["content_uri"].rsplit("/", 1)[1]
            r = await self.request("GET", f"{prefix}/download/test/{media_id}")
            self.assertEqual((r.code, r.body), (200, b"legacy"))
            self.assertEqual(r.headers["content-disposition"], 'inline; filename="a.txt"')
            r = await self.get(f"{prefix}/config", token=self.token)
            self.assertEqual(r.json, {"m.upload.size": self.hs.media_repository.config.max_upload_size})
        thumb = await self.upload_ok(png_bytes(), "image/png")
        r = await self.request("GET", f"/_matrix/media/v1/thumbnail/test/{thumb}?width=32&height=32&method=crop")
        self.assertEqual((r.code, r.headers["content-type"]), (200, "image/png"))

    async def test_v1_prefix_keeps_the_freeze_and_auth_rules(self) -> None:
        self.assert_error(await self.request("POST", "/_matrix/media/v1/upload", raw_body=b"x"), 401,
                          "M_MISSING_TOKEN")
        self.assert_error(await self.get("/_matrix/media/v1/config"), 401, "M_MISSING_TOKEN")
        self.assert_error(await self.request("GET", "/_matrix/media/v1/download/test/unknown"), 404, "M_NOT_FOUND")


class FrozenLegacyPrefixTests(MediaTestCase):
    async def test_v1_download_of_frozen_media_is_not_found(self) -> None:
        media_id = await self.upload_ok(b"new", "text/plain")
        self.assert_error(await self.request("GET", f"/_matrix/media/v1/download/test/{media_id}"), 404,
                          "M_NOT_FOUND")


class HugeThumbnailSizeTests(MediaTestCase):
    config_overrides = {"dynamic_thumbnails": True}

    async def test_sizes_beyond_any_image_are_answered_not_stored_as_asked(self) -> None:
        media_id = await self.upload_ok(png_bytes(400, 300), "image/png")
        for query in ("width=99999999999&height=1&method=crop", "width=1&height=99999999999&method=scale"):
            r = await self.thumbnail(media_id, query)
            self.assertEqual(r.code, 200, r.json)
            width, height = Image.open(io.BytesIO(r.body)).size
            self.assertLessEqual((width, height), (400, 300))
        r = await self.request("GET", f"{AUTHED}/thumbnail/test/{media_id}?width=99999999999&height=99999999999",
                               token=self.token)
        self.assertEqual(r.code, 200, r.json)  # bigger than the image: the original
        self.assertEqual(Image.open(io.BytesIO(r.body)).size, (400, 300))
