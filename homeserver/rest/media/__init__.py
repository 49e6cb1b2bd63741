"""The media repository's HTTP API: /_matrix/media/* (upload, create, deprecated downloads) and
/_matrix/client/v1/media/* (authenticated downloads, thumbnails, config, URL previews)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from homeserver.rest.media import download, preview, upload

if TYPE_CHECKING:
    from homeserver.rest.http import Router
    from homeserver.server import HomeServer


def register_servlets(hs: HomeServer, router: Router) -> None:
    for module in (upload, download, preview):
        module.register_servlets(hs, router)
