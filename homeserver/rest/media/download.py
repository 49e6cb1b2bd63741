"""Downloads, thumbnails and the media config: authenticated under /_matrix/client/v1/media, and
the deprecated unauthenticated /_matrix/media/v3 forms, which do not serve frozen media."""

from __future__ import annotations

import re
from typing import Any

from homeserver.rest.http import (
    CLIENT_PREFIX,
    HomeserverRequest,
    RestServlet,
    Router,
    parse_boolean,
    parse_integer,
    parse_string,
)
from homeserver.rest.media.responses import FileBody
from homeserver.rest.media.upload import media_patterns

MEDIA_PATH = "/(?P<server_name>[^/]+)/(?P<media_id>[^/]+)"
_THUMBNAIL_EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/gif": "gif", "image/webp": "webp",
                         "image/apng": "png"}


def _allow_remote(request: HomeserverRequest, legacy: bool) -> bool:
    """The deprecated endpoints' `allow_remote` (servers fetching from us set it to false, so we
    never fetch from a third server for them); the authenticated ones have no such parameter."""
    return not legacy or bool(parse_boolean(request, "allow_remote", default=True))


def authed_patterns(path_regex: str) -> list[re.Pattern[str]]:
    return [re.compile(f"^{CLIENT_PREFIX}/v1/media{path_regex}$")]


class DownloadServlet(RestServlet):
    PATTERNS = authed_patterns(f"/download{MEDIA_PATH}(?:/(?P<file_name>[^/]*))?")
    GUEST_METHODS = frozenset({"GET"})
    legacy = False

    async def on_GET(self, request: HomeserverRequest, server_name: str, media_id: str,
                     file_name: str | None = None) -> tuple[int, Any]:
        if not self.legacy:
            await self.auth(request)
        repo = self.hs.media_repository
        media = await repo.get_media(server_name, media_id, parse_integer(request, "timeout_ms"), self.legacy,
                                     _allow_remote(request, self.legacy))
        return 200, FileBody(repo.served_file(media), file_name or media.upload_name)


class LegacyDownloadServlet(DownloadServlet):
    PATTERNS = media_patterns(f"/download{MEDIA_PATH}(?:/(?P<file_name>[^/]*))?")
    legacy = True


class ThumbnailServlet(RestServlet):
    PATTERNS = authed_patterns(f"/thumbnail{MEDIA_PATH}")
    GUEST_METHODS = frozenset({"GET"})
    legacy = False

    async def on_GET(self, request: HomeserverRequest, server_name: str, media_id: str) -> tuple[int, Any]:
        if not self.legacy:
            await self.auth(request)
        width = parse_integer(request, "width", required=True, minimum=1)
        height = parse_integer(request, "height", required=True, minimum=1)
        method = parse_string(request, "method", default="scale", allowed=("crop", "scale"))
        animated = parse_boolean(request, "animated", default=False)
        repo = self.hs.media_repository
        media = await repo.get_media(server_name, media_id, parse_integer(request, "timeout_ms"), self.legacy,
                                     _allow_remote(request, self.legacy))
        served = await repo.get_thumbnail(media, width, height, method, animated)
        extension = _THUMBNAIL_EXTENSIONS.get(served.content_type, "png")
        return 200, FileBody(served, f"thumbnail.{extension}", thumbnail=True)


class LegacyThumbnailServlet(ThumbnailServlet):
    PATTERNS = media_patterns(f"/thumbnail{MEDIA_PATH}")
    legacy = True


class ConfigServlet(RestServlet):
    PATTERNS = authed_patterns("/config") + media_patterns("/config")
    GUEST_METHODS = frozenset({"GET"})

    async def on_GET(self, request: HomeserverRequest) -> tuple[int, Any]:
        await self.auth(request)
        return 200, {"m.upload.size": self.hs.media_repository.config.max_upload_size}


def register_servlets(hs: Any, router: Router) -> None:
    for servlet in (DownloadServlet, LegacyDownloadServlet, ThumbnailServlet, LegacyThumbnailServlet, ConfigServlet):
        router.register(servlet(hs))
