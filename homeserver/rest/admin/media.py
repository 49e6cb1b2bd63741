"""Admin API for media, with Synapse's paths: delete one media item or those unused since a date;
quarantine (an item, a room's, a user's) and release; protect; purge the cache of other servers'
media. A user's media are listed and deleted in accounts.py."""

from __future__ import annotations

from typing import Any

from homeserver.api.errors import Codes, MatrixError, not_found
from homeserver.api.identifiers import UserID
from homeserver.handlers.media.repository import check_media_id, check_server_name
from homeserver.rest.admin.users import _admin_path
from homeserver.rest.http import HomeserverRequest, RestServlet, Router, parse_boolean, parse_integer

MEDIA = "(?P<server_name>[^/]+)/(?P<media_id>[^/]+)"


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


class QuarantineMediaServlet(RestServlet):
    PATTERNS = _admin_path(f"/media/(?P<action>quarantine|unquarantine)/{MEDIA}")

    async def on_POST(self, request: HomeserverRequest, action: str, server_name: str,
                      media_id: str) -> tuple[int, Any]:
        requester = await self.auth_admin(request)
        await self.hs.media_admin_handler.quarantine(requester.user_id, server_name, media_id,
                                                     action == "quarantine")
        return 200, {}


class QuarantineRoomMediaServlet(RestServlet):
    PATTERNS = _admin_path("/room/(?P<room_id>[^/]+)/media/quarantine") + \
        _admin_path("/quarantine_media/(?P<room_id>[^/]+)")

    async def on_POST(self, request: HomeserverRequest, room_id: str) -> tuple[int, Any]:
        requester = await self.auth_admin(request)
        return 200, {"num_quarantined": await self.hs.media_admin_handler.quarantine_room(requester.user_id,
                                                                                          room_id)}


class QuarantineUserMediaServlet(RestServlet):
    PATTERNS = _admin_path("/user/(?P<user_id>[^/]+)/media/quarantine")

    async def on_POST(self, request: HomeserverRequest, user_id: str) -> tuple[int, Any]:
        requester = await self.auth_admin(request)
        if UserID.parse(user_id).domain != self.hs.config.server_name:
            raise MatrixError(400, Codes.INVALID_PARAM, "Can only quarantine media of local users")
        return 200, {"num_quarantined": await self.hs.media_admin_handler.quarantine_user(requester.user_id,
                                                                                          user_id)}


class ProtectMediaServlet(RestServlet):
    PATTERNS = _admin_path("/media/(?P<action>protect|unprotect)/(?P<media_id>[^/]+)")

    async def on_POST(self, request: HomeserverRequest, action: str, media_id: str) -> tuple[int, Any]:
        await self.auth_admin(request)
        await self.hs.media_admin_handler.protect(media_id, action == "protect")
        return 200, {}


class DeleteMediaBeforeServlet(RestServlet):
    PATTERNS = _admin_path("/media/delete") + _admin_path("/media/(?P<server_name>[^/]+)/delete")

    async def on_POST(self, request: HomeserverRequest, server_name: str | None = None) -> tuple[int, Any]:
        await self.auth_admin(request)
        before_ts = parse_integer(request, "before_ts", required=True, minimum=0)
        size_gt = parse_integer(request, "size_gt", default=0, minimum=0) or 0
        keep_profiles = parse_boolean(request, "keep_profiles", default=True)
        return 200, await self.hs.media_admin_handler.delete_before(server_name, before_ts, size_gt,
                                                                    bool(keep_profiles))


def register_servlets(hs: Any, router: Router) -> None:
    # Before DeleteMediaServlet, whose /media/<server_name>/<media_id> would match their paths.
    for servlet in (PurgeMediaCacheServlet, QuarantineMediaServlet, QuarantineRoomMediaServlet,
                    QuarantineUserMediaServlet, ProtectMediaServlet, DeleteMediaBeforeServlet, DeleteMediaServlet):
        router.register(servlet(hs))
