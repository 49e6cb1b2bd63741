"""POST /_matrix/media/v3/upload, POST /_matrix/media/v1/create, PUT /_matrix/media/v3/upload/{server}/{id}."""

from __future__ import annotations

import re
from typing import Any

from homeserver.rest.http import HomeserverRequest, RestServlet, Router, parse_string

MEDIA_PREFIX = "/_matrix/media"
# v3 is the spec's; r0 and the older v1 are still used by clients written against earlier versions.
LEGACY_MEDIA_VERSIONS = ("v1", "r0", "v3")


def media_patterns(path_regex: str, versions: tuple[str, ...] = LEGACY_MEDIA_VERSIONS) -> list[re.Pattern[str]]:
    return [re.compile(f"^{MEDIA_PREFIX}/(?:{'|'.join(versions)}){path_regex}$")]


def _upload_args(request: HomeserverRequest) -> tuple[Any, str | None, str | None]:
    content_type = request.getHeader(b"content-type")
    return (request.content, content_type.decode("latin-1").strip() if content_type else None,
            parse_string(request, "filename") or None)


class UploadServlet(RestServlet):
    PATTERNS = media_patterns("/upload")
    SUSPENDED_REFUSED = frozenset({"POST"})

    async def on_POST(self, request: HomeserverRequest) -> tuple[int, Any]:
        requester = await self.auth(request)
        content, content_type, filename = _upload_args(request)
        uri = await self.hs.media_repository.upload(requester.user_id, content, content_type, filename)
        return 200, {"content_uri": uri}


class CreateServlet(RestServlet):
    PATTERNS = media_patterns("/create", versions=("v1",))
    SUSPENDED_REFUSED = frozenset({"POST"})

    async def on_POST(self, request: HomeserverRequest) -> tuple[int, Any]:
        requester = await self.auth(request)
        self.hs.media_create_limiter.check(requester.user_id)
        uri, expires = await self.hs.media_repository.create_pending(requester.user_id)
        return 200, {"content_uri": uri, "unused_expires_at": expires}


class UploadToMxcServlet(RestServlet):
    PATTERNS = media_patterns("/upload/(?P<server_name>[^/]+)/(?P<media_id>[^/]+)")
    SUSPENDED_REFUSED = frozenset({"PUT"})

    async def on_PUT(self, request: HomeserverRequest, server_name: str, media_id: str) -> tuple[int, Any]:
        requester = await self.auth(request)
        content, content_type, filename = _upload_args(request)
        await self.hs.media_repository.upload_pending(requester.user_id, server_name, media_id, content,
                                                      content_type, filename)
        return 200, {}


def register_servlets(hs: Any, router: Router) -> None:
    for servlet in (UploadServlet, CreateServlet, UploadToMxcServlet):
        router.register(servlet(hs))
