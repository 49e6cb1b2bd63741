"""The real server process and uploaded images: a decompression bomb is stored, downloadable and
refused for thumbnails (413 M_TOO_LARGE) while the server keeps answering; a phone's rotated
JPEG is thumbnailed upright."""

from __future__ import annotations

import io
import json
import threading
import urllib.error
import urllib.request
from typing import Any

from PIL import Image
from twisted.trial import unittest

from tests.clients.server_process import ServerProcess
from tests.rest.test_media_images import bomb_png, is_blue, is_red, rotated_jpeg

MEDIA = "/_matrix/client/v1/media"
TIMEOUT_S = 60.0


def http(server: ServerProcess, method: str, path: str, token: str, data: bytes | None = None,
         content_type: str | None = None) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(server.base_url + path, data=data, method=method)
    req.add_header("Authorization", f"Bearer {token}")
    if content_type is not None:
        req.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT_S) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


class MediaProcessTest(unittest.TestCase):
    timeout = 300

    def setUp(self) -> None:
        self.server = ServerProcess({})
        self.server.start()
        self.addCleanup(self.server.stop)
        self.token = self.server.register_admin_via_shared_secret("alice", "pw")["access_token"]

    def upload(self, data: bytes, content_type: str) -> str:
        status, _, body = http(self.server, "POST", "/_matrix/media/v3/upload", self.token, data, content_type)
        self.assertEqual(status, 200, body)
        return json.loads(body)["content_uri"].split("/")[-1]

    def test_decompression_bomb(self) -> None:
        bomb = bomb_png()
        media_id = self.upload(bomb, "image/png")
        answers: list[tuple[int, Any]] = []

        def ask_thumbnails() -> None:
            for query in ("width=32&height=32&method=crop", "width=640&height=480&method=scale"):
                status, _, body = http(self.server, "GET", f"{MEDIA}/thumbnail/localhost/{media_id}?{query}",
                                       self.token)
                answers.append((status, json.loads(body)["errcode"]))

        asking = threading.Thread(target=ask_thumbnails)
        asking.start()
        self.assertEqual(self.server.request("GET", "/_matrix/client/versions")[0], 200)
        asking.join(TIMEOUT_S)
        self.assertEqual(answers, [(413, "M_TOO_LARGE")] * 2)
        status, _, body = http(self.server, "GET", f"{MEDIA}/download/localhost/{media_id}", self.token)
        self.assertEqual((status, body == bomb), (200, True))
        self.assertEqual(self.server.request("GET", "/_matrix/client/versions")[0], 200)
        self.assertNotIn("Traceback", self.server.log_tail(100_000))

    def test_rotated_jpeg_is_thumbnailed_upright(self) -> None:
        media_id = self.upload(rotated_jpeg(), "image/jpeg")
        status, headers, body = http(self.server, "GET",
                                     f"{MEDIA}/thumbnail/localhost/{media_id}?width=320&height=240&method=scale",
                                     self.token)
        self.assertEqual((status, headers["content-type"]), (200, "image/jpeg"))
        thumb = Image.open(io.BytesIO(body))
        self.assertEqual(thumb.size, (120, 240))
        self.assertTrue(is_red(thumb.getpixel((60, 20))))
        self.assertTrue(is_blue(thumb.getpixel((60, 220))))
