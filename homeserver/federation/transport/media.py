"""Our media as other servers fetch it: `/media/download/{mediaId}` and `/media/thumbnail/{mediaId}`
(spec: data/api/server-server/content_repository.yaml). Answers are multipart/mixed (metadata `{}`,
then the bytes); only media uploaded here is served, never our cached copies of other servers'."""

from __future__ import annotations

from typing import Any

from homeserver.federation.transport.server import FederationServlet, federation_patterns
from homeserver.rest.http import HomeserverRequest, parse_boolean, parse_integer, parse_string
from homeserver.rest.media.responses import MultipartFileBody


class MediaDownloadServlet(FederationServlet):
    PATTERNS = federation_patterns("/media/download/(?P<media_id>[^/]+)")

    async def on_GET(self, request: HomeserverRequest, media_id: str) -> tuple[int, Any]:
        await self.authenticate(request)
        repo = self.hs.media_repository
        media = await repo.get_local_media(self.hs.config.server_name, media_id,
                                           parse_integer(request, "timeout_ms"), legacy=False)
        return 200, MultipartFileBody(repo.served_file(media), media.upload_name)


class MediaThumbnailServlet(FederationServlet):
    PATTERNS = federation_patterns("/media/thumbnail/(?P<media_id>[^/]+)")

    async def on_GET(self, request: HomeserverRequest, media_id: str) -> tuple[int, Any]:
        await self.authenticate(request)
        width = parse_integer(request, "width", required=True, minimum=1)
        height = parse_integer(request, "height", required=True, minimum=1)
        method = parse_string(request, "method", default="scale", allowed=("crop", "scale"))
        animated = bool(parse_boolean(request, "animated", default=False))
        repo = self.hs.media_repository
        media = await repo.get_local_media(self.hs.config.server_name, media_id,
                                           parse_integer(request, "timeout_ms"), legacy=False)
        served = await repo.get_thumbnail(media, width, height, method, animated)
        return 200, MultipartFileBody(served, None, thumbnail=True)


def register_servlets(hs: Any, router: Any) -> None:
    for servlet in (MediaDownloadServlet, MediaThumbnailServlet):
        router.register(servlet(hs))
