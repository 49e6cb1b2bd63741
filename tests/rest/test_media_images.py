"""Uploaded images an attacker or a phone controls: EXIF orientation, formats Pillow may open,
decompression bombs, JPEG draft decoding, and how many thumbnails are made at once."""

from __future__ import annotations

import io
import struct
import zlib
from typing import Any

from PIL import Image, JpegImagePlugin
from twisted.internet import defer

from homeserver.handlers.media import thumbnails
from homeserver.handlers.media.repository import MAX_CONCURRENT_THUMBNAILS
from tests.rest.test_media import MediaTestCase, png_bytes


def _png_chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)


def bomb_png(width: int = 20000, height: int = 20000) -> bytes:
    """A valid 1-bit PNG of width x height white pixels: about 50 KB on disk, 400 MB once decoded."""
    row = b"\x00" + b"\x00" * ((width + 7) // 8)
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def rotated_jpeg() -> bytes:
    """A 600x300 JPEG, left half red and right half blue, tagged EXIF orientation 6 (turn 90
    degrees clockwise to show): upright it is 300x600, red on top."""
    image = Image.new("RGB", (600, 300), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, 300, 300))
    exif = Image.Exif()
    exif[0x0112] = 6
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes())
    return out.getvalue()


def is_red(pixel: Any) -> bool:
    return pixel[0] > 200 and pixel[2] < 60


def is_blue(pixel: Any) -> bool:
    return pixel[2] > 200 and pixel[0] < 60


class OrientationTests(MediaTestCase):
    async def test_rotated_jpeg_comes_out_upright(self) -> None:
        media_id = await self.upload_ok(rotated_jpeg(), "image/jpeg")
        r = await self.thumbnail(media_id, "width=320&height=240&method=scale")
        self.assertEqual((r.code, r.headers["content-type"]), (200, "image/jpeg"))
        thumb = Image.open(io.BytesIO(r.body))
        self.assertEqual(thumb.size, (120, 240))  # portrait, fitted to the box's height
        self.assertTrue(is_red(thumb.getpixel((60, 20))), thumb.getpixel((60, 20)))
        self.assertTrue(is_blue(thumb.getpixel((60, 220))), thumb.getpixel((60, 220)))
        # crop: the square from the middle of the upright image, half red above half blue
        r = await self.thumbnail(media_id, "width=96&height=96&method=crop")
        thumb = Image.open(io.BytesIO(r.body))
        self.assertEqual(thumb.size, (96, 96))
        self.assertTrue(is_red(thumb.getpixel((48, 5))), thumb.getpixel((48, 5)))
        self.assertTrue(is_blue(thumb.getpixel((48, 90))), thumb.getpixel((48, 90)))


class FormatTests(MediaTestCase):
    async def test_only_the_formats_we_thumbnail_are_opened(self) -> None:
        # Pillow reads PCX (and dozens more); labelled image/png it must still not be decoded.
        out = io.BytesIO()
        Image.new("RGB", (400, 300), (10, 200, 10)).save(out, "PCX")
        media_id = await self.upload_ok(out.getvalue(), "image/png")
        self.assertEqual(await self.hs.media_store.get_thumbnails(media_id), [])
        self.assert_error(await self.thumbnail(media_id, "width=32&height=32"), 400, "M_UNKNOWN")
        self.assertEqual((await self.download(media_id)).body, out.getvalue())
        # a PNG labelled JPEG is still a format we decode
        media_id = await self.upload_ok(png_bytes(400, 300), "image/jpeg")
        self.assertEqual((await self.thumbnail(media_id, "width=32&height=32&method=crop")).code, 200)

    def test_big_jpegs_are_decoded_at_a_reduced_scale(self) -> None:
        path = self.mktemp()
        Image.new("RGB", (2400, 1600), (0, 90, 200)).save(path, "JPEG")
        decoded: list[tuple[int, int]] = []
        original = JpegImagePlugin.JpegImageFile.draft

        def draft(image: Any, mode: Any, size: Any) -> Any:
            result = original(image, mode, size)
            decoded.append(image.size)
            return result

        self.patch(JpegImagePlugin.JpegImageFile, "draft", draft)
        made = thumbnails.make_thumbnail(path, "image/jpeg", 96, 96, "crop", False, 32_000_000)
        assert made is not None
        self.assertEqual(Image.open(io.BytesIO(made.data)).size, (96, 96))
        self.assertEqual(decoded, [(300, 200)])  # 1/8 scale, still covering the 144x96 resize


class BombTests(MediaTestCase):
    async def test_decompression_bomb_is_refused_and_still_downloadable(self) -> None:
        bomb = bomb_png()
        media_id = await self.upload_ok(bomb, "image/png")
        self.assertEqual(await self.hs.media_store.get_thumbnails(media_id), [])
        for query in ("width=32&height=32&method=crop", "width=800&height=600", "width=32&height=32&animated=true"):
            self.assert_error(await self.thumbnail(media_id, query), 413, "M_TOO_LARGE")
        r = await self.download(media_id)
        self.assertEqual((r.code, r.body), (200, bomb))
        self.assertEqual((await self.get("/_matrix/client/versions")).code, 200)

    def test_pillows_own_limit_follows_the_config(self) -> None:
        self.assertEqual(Image.MAX_IMAGE_PIXELS, self.hs.media_repository.config.max_image_pixels)


class SmallPixelLimitTests(MediaTestCase):
    config_overrides = {"max_image_pixels": 1_000_000}

    async def test_over_the_limit_but_under_pillows_error_threshold(self) -> None:
        # 1.44 M pixels: Pillow only warns (it raises past twice its limit); our check refuses.
        media_id = await self.upload_ok(png_bytes(1200, 1200), "image/png")
        self.assert_error(await self.thumbnail(media_id, "width=32&height=32"), 413, "M_TOO_LARGE")
        ok = await self.upload_ok(png_bytes(900, 900), "image/png")
        self.assertEqual((await self.thumbnail(ok, "width=32&height=32&method=crop")).code, 200)
        self.assertEqual(Image.MAX_IMAGE_PIXELS, 1_000_000)


class ConcurrencyTests(MediaTestCase):
    config_overrides = {"dynamic_thumbnails": True}

    async def test_at_most_two_thumbnails_at_once_on_the_cpu_pool(self) -> None:
        media_id = await self.upload_ok(png_bytes(600, 600), "image/png")
        started: list[defer.Deferred] = []
        run = self.hs.cpu_pool.run

        async def held_run(fn: Any, *args: Any, **kwargs: Any) -> Any:
            gate: defer.Deferred = defer.Deferred()
            started.append(gate)
            await gate
            return await run(fn, *args, **kwargs)

        self.patch(self.hs.cpu_pool, "run", held_run)
        requests = [defer.ensureDeferred(self.thumbnail(media_id, f"width={50 + i}&height=50&method=crop"))
                    for i in range(5)]
        thumbnailer = self.hs.media_repository.thumbnailer
        await self.pump_until(lambda: thumbnailer.waiting == 3)
        await self.pump(5)
        self.assertEqual(len(started), MAX_CONCURRENT_THUMBNAILS)
        self.assertEqual((thumbnailer.running, thumbnailer.waiting), (2, 3))
        while len(started) < 5 or any(not g.called for g in started):
            for gate in started:
                if not gate.called:
                    gate.callback(None)
            await self.pump(5)
            self.assertLessEqual(thumbnailer.running, MAX_CONCURRENT_THUMBNAILS)
        for i, d in enumerate(requests):
            r = await d
            self.assertEqual(Image.open(io.BytesIO(r.body)).size, (50 + i, 50))
        self.assertEqual((thumbnailer.running, thumbnailer.waiting), (0, 0))
