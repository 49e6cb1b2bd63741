"""The bundled web client served at `/` next to the Matrix API (homeserver/rest/web_client.py)."""

from __future__ import annotations

import gzip
import os
import shutil
import tempfile
from typing import Any

from tests.server import HomeserverTestCase

INDEX = b"<!doctype html><title>client</title><script src=/assets/index-Ab12Cd.js></script>"
SCRIPT = b"console.log('hello')"
WASM = b"\x00asm\x01\x00\x00\x00"
SECRET = b"not part of the client"


def make_client_dir() -> str:
    """A fake build output with a secret file beside it (which must never be served)."""
    base = tempfile.mkdtemp(prefix="web-client-test-")
    dist = os.path.join(base, "dist")
    os.makedirs(os.path.join(dist, "assets"))
    files = {
        "index.html": INDEX,
        "favicon.svg": b"<svg/>",
        "assets/index-Ab12Cd.js": SCRIPT,
        "assets/crypto-Zz99.wasm": WASM,
        "assets/index-Ef34.css": b"body{}",
    }
    for name, data in files.items():
        with open(os.path.join(dist, name), "wb") as f:
            f.write(data)
    with open(os.path.join(base, "secret.txt"), "wb") as f:
        f.write(SECRET)
    os.symlink(os.path.join(base, "secret.txt"), os.path.join(dist, "assets", "leak.txt"))
    return dist


class WebClientTestCase(HomeserverTestCase):
    def make_config_overrides(self) -> dict[str, Any]:
        self.client_dir = make_client_dir()
        self.addCleanup(shutil.rmtree, os.path.dirname(self.client_dir), True)
        return {"web_client": {"enabled": True, "path": self.client_dir}}

    def assert_index(self, response: Any) -> None:
        self.assertEqual(response.code, 200)
        self.assertEqual(response.body, INDEX)
        self.assertEqual(response.headers["content-type"], "text/html; charset=utf-8")
        self.assertIn("no-store", response.headers["cache-control"])
        self.assertEqual(response.headers["x-content-type-options"], "nosniff")

    async def test_root_serves_index_uncached(self) -> None:
        self.assert_index(await self.get("/"))

    async def test_client_side_routes_get_index(self) -> None:
        for path in ("/login", "/room/!abc:test", "/settings/appearance?x=1", "/index.html"):
            self.assert_index(await self.get(path))

    async def test_hashed_assets_cached_for_good_with_right_types(self) -> None:
        cases = {
            "/assets/index-Ab12Cd.js": (SCRIPT, "text/javascript; charset=utf-8"),
            "/assets/crypto-Zz99.wasm": (WASM, "application/wasm"),
            "/assets/index-Ef34.css": (b"body{}", "text/css; charset=utf-8"),
        }
        for path, (body, content_type) in cases.items():
            response = await self.get(path)
            self.assertEqual((response.code, response.body), (200, body), path)
            self.assertEqual(response.headers["content-type"], content_type, path)
            self.assertEqual(response.headers["cache-control"], "public, max-age=31536000, immutable", path)

    async def test_gzipped_twin_served_to_browsers_that_accept_gzip(self) -> None:
        gz = gzip.compress(SCRIPT)
        with open(os.path.join(self.client_dir, "assets", "index-Ab12Cd.js.gz"), "wb") as f:
            f.write(gz)
        response = await self.request("GET", "/assets/index-Ab12Cd.js", headers={"Accept-Encoding": "br, gzip"})
        self.assertEqual((response.code, response.body), (200, gz))
        self.assertEqual(response.headers["content-encoding"], "gzip")
        self.assertEqual(response.headers["content-type"], "text/javascript; charset=utf-8")
        self.assertEqual(response.headers["vary"], "Accept-Encoding")
        for refusing in ({}, {"Accept-Encoding": "identity"}, {"Accept-Encoding": "gzip;q=0"}):
            response = await self.request("GET", "/assets/index-Ab12Cd.js", headers=refusing)
            self.assertEqual(response.body, SCRIPT, refusing)
            self.assertNotIn("content-encoding", response.headers)

    async def test_unhashed_files_not_cached(self) -> None:
        response = await self.get("/favicon.svg")
        self.assertEqual((response.code, response.body), (200, b"<svg/>"))
        self.assertEqual(response.headers["content-type"], "image/svg+xml")
        self.assertIn("no-store", response.headers["cache-control"])

    async def test_head_has_headers_without_body(self) -> None:
        response = await self.request("HEAD", "/assets/index-Ab12Cd.js")
        self.assertEqual(response.code, 200)
        self.assertEqual(response.headers["content-length"], str(len(SCRIPT)))
        self.assertEqual(response.body, b"")

    async def test_missing_asset_is_404_not_index(self) -> None:
        response = await self.get("/assets/index-Old.js")
        self.assertEqual(response.code, 404)
        self.assertNotEqual(response.body, INDEX)

    async def test_nothing_outside_the_directory_is_served(self) -> None:
        for path in ("/../secret.txt", "/%2e%2e/secret.txt", "/assets/%2E%2E/%2E%2E/secret.txt",
                     "/assets/leak.txt", "/%00", "/%ff"):
            response = await self.get(path)
            self.assertNotIn(SECRET, response.body, path)
            self.assertIn(response.code, (200, 404), path)

    async def test_api_still_answers_json(self) -> None:
        response = await self.get("/_matrix/client/versions")
        self.assertEqual(response.code, 200)
        self.assertIn("versions", response.json)
        self.assert_error(await self.get("/_matrix/client/v3/nothing_here"), 404, "M_UNRECOGNIZED")
        response = await self.get("/.well-known/matrix/client")
        self.assertEqual(response.code, 200)
        self.assertIn("m.homeserver", response.json)

    async def test_non_get_methods_go_to_the_api(self) -> None:
        response = await self.post("/")
        self.assert_error(response, 404, "M_UNRECOGNIZED")
        response = await self.request("OPTIONS", "/")
        self.assertEqual(response.code, 200)
        self.assertIn("access-control-allow-origin", response.headers)


class WebClientNotBuiltTestCase(HomeserverTestCase):
    config_overrides = {"web_client": {"enabled": True, "path": "/nonexistent/web-client-dist"}}

    async def test_explains_that_the_client_is_not_built(self) -> None:
        response = await self.get("/")
        self.assertEqual(response.code, 404)
        self.assertIn(b"npm run build", response.body)
        self.assertEqual((await self.get("/_matrix/client/versions")).code, 200)


class WebClientDisabledTestCase(HomeserverTestCase):
    def make_config_overrides(self) -> dict[str, Any]:
        self.client_dir = make_client_dir()
        self.addCleanup(shutil.rmtree, os.path.dirname(self.client_dir), True)
        return {"web_client": {"enabled": False, "path": self.client_dir}}

    async def test_root_is_not_served(self) -> None:
        self.assert_error(await self.get("/"), 404, "M_UNRECOGNIZED")
        self.assert_error(await self.get("/assets/index-Ab12Cd.js"), 404, "M_UNRECOGNIZED")
