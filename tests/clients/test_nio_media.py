"""Media through matrix-nio against the real server process: upload a file and download the same
bytes (authenticated endpoints, as nio uses them), and get a thumbnail of a PNG made here."""

from __future__ import annotations

import io
import os

from nio import DownloadResponse, ThumbnailResponse, UploadResponse
from nio.api import ResizingMethod
from PIL import Image

from tests.clients.nio_support import OPEN_REGISTRATION
from tests.clients.test_nio_rooms import NioRoomsHelpers


class NioMediaTest(NioRoomsHelpers):
    def test_upload_download_thumbnail(self):
        server = self.start_server(OPEN_REGISTRATION)

        async def scenario():
            alice = await self.register(server, "alice")
            data = os.urandom(1_500_000)
            resp, _ = await alice.upload(io.BytesIO(data), content_type="application/zip", filename="blob.zip",
                                         filesize=len(data))
            self.assert_nio_ok(resp, UploadResponse, "upload")
            self.assertTrue(resp.content_uri.startswith("mxc://localhost/"), resp.content_uri)

            got = await alice.download(mxc=resp.content_uri)
            self.assert_nio_ok(got, DownloadResponse, "download")
            self.assertEqual(got.body, data)
            self.assertEqual(got.content_type, "application/zip")
            self.assertEqual(got.filename, "blob.zip")

            image = io.BytesIO()
            Image.new("RGB", (640, 480), (10, 200, 90)).save(image, "PNG")
            png = image.getvalue()
            resp, _ = await alice.upload(io.BytesIO(png), content_type="image/png", filename="green.png",
                                         filesize=len(png))
            self.assert_nio_ok(resp, UploadResponse, "upload png")
            media_id = resp.content_uri.rsplit("/", 1)[1]
            thumb = await alice.thumbnail("localhost", media_id, 96, 96, ResizingMethod.crop)
            self.assert_nio_ok(thumb, ThumbnailResponse, "thumbnail")
            self.assertEqual(thumb.content_type, "image/png")
            self.assertEqual(Image.open(io.BytesIO(thumb.body)).size, (96, 96))

            # Another user downloads it too (media is not per-user), by the file name in the path.
            bob = await self.register(server, "bob")
            got = await bob.download(mxc=resp.content_uri, filename="renamed.png")
            self.assert_nio_ok(got, DownloadResponse, "bob downloads")
            self.assertEqual((got.body, got.filename), (png, "renamed.png"))

        self.run_scenario(scenario)
