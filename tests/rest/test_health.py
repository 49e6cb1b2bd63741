"""`GET /health` (homeserver/rest/health.py): 200 `OK` on every listener, with or without the web client."""

from __future__ import annotations

import os
import shutil
from typing import Any

from tests.rest.test_web_client import make_client_dir
from tests.server import HomeserverTestCase


class HealthTestCase(HomeserverTestCase):
    async def test_health_is_ok_without_auth(self) -> None:
        response = await self.get("/health")
        self.assertEqual((response.code, response.body), (200, b"OK"))
        self.assertEqual(response.headers["content-type"], "text/plain; charset=utf-8")
        self.assertIn("no-store", response.headers["cache-control"])

    async def test_head_and_other_methods(self) -> None:
        response = await self.request("HEAD", "/health")
        self.assertEqual((response.code, response.body), (200, b""))
        response = await self.post("/health", {})
        self.assertEqual(response.code, 405)
        self.assertEqual(response.headers["allow"], "GET, HEAD")

    async def test_only_the_exact_path(self) -> None:
        response = await self.get("/health/x")
        self.assertNotEqual(response.body, b"OK")
        # The API is untouched by the wrapper.
        response = await self.get("/_matrix/client/versions")
        self.assertEqual(response.code, 200)
        self.assertIn("versions", response.json)


class HealthWithWebClientTestCase(HomeserverTestCase):
    """With the web client at `/`, /health is still the health check, not the app's index.html."""

    def make_config_overrides(self) -> dict[str, Any]:
        self.client_dir = make_client_dir()
        self.addCleanup(shutil.rmtree, os.path.dirname(self.client_dir), True)
        return {"web_client": {"enabled": True, "path": self.client_dir}}

    async def test_health_not_the_client(self) -> None:
        response = await self.get("/health")
        self.assertEqual((response.code, response.body), (200, b"OK"))
        response = await self.get("/")
        self.assertEqual(response.code, 200)
        self.assertIn(b"<!doctype html>", response.body)
