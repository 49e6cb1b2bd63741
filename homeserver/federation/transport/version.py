"""`GET /_matrix/federation/v1/version`: the server's name and version (no authentication)."""

from __future__ import annotations

from typing import Any

from homeserver import __version__
from homeserver.federation.transport.server import FederationServlet, federation_patterns
from homeserver.rest.http import HomeserverRequest


class VersionServlet(FederationServlet):
    PATTERNS = federation_patterns("/version")

    async def on_GET(self, request: HomeserverRequest) -> tuple[int, Any]:
        return 200, {"server": {"name": "homeserver", "version": __version__}}


def register_servlets(hs: Any, router: Any) -> None:
    router.register(VersionServlet(hs))
