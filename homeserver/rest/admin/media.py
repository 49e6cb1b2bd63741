"""Admin API for media, with Synapse's paths: delete one media item, or all of a user's; purge
the cache of other servers' media."""

from __future__ import annotations

from typing import Any

from homeserver.api.errors import Codes, MatrixError, not_found
from homeserver.handlers.media.repository import check_media_id, check_server_name
from homeserver.rest.admin.users import _admin_path
from homeserver.rest.http import HomeserverRequest, RestServlet, Router, parse_integer


class DeleteMediaServlet(RestServlet):
    PATTERNS = _admin_path("/media/(?P<server_name>[^/]+)/(?P<media_id>[^/]+)")

    async def on_DELETE(self, request: HomeserverRequest, server_name: str, media_id: str) -> tuple[int, Any]:
        await self.auth_admin(request)
        check_server_name(server_name)
        check_media_id(media_id)
        if server_name != self.hs.config.server_name:
            raise MatrixError(400, Codes.INVALID_PARAM, "Can only delete local media")
        if not await self.hs.media_repository.delete_local_media([media_id]):
            raise not_found("Unknown media")
        return 200, {"deleted_media": [media_id], "total": 1}


class PurgeMediaCacheServlet(RestServlet):
    """Drop cached copies of other servers' media last used before `before_ts` (ms); they are
    fetched again when next asked for. Local media is never touched."""

    PATTERNS = _admin_path("/purge_media_cache")

    async def on_POST(self, request: HomeserverRequest) -> tuple[int, Any]:
        await self.auth_admin(request)
        before_ts = parse_integer(request, "before_ts", required=True, minimum=0)
        return 200, {"deleted": await self.hs.media_repository.purge_remote_cache(before_ts)}


def register_servlets(hs: Any, router: Router) -> None:
    router.register(PurgeMediaCacheServlet(hs))
    router.register(DeleteMediaServlet(hs))
