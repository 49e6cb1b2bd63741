"""/profile/{userId}[/{keyName}] and /user/{userId}[/rooms/{roomId}]/account_data/{type}."""

from __future__ import annotations

from typing import Any

from homeserver.api.errors import Codes, MatrixError
from homeserver.handlers.auth import Requester
from homeserver.rest.client.rooms import check_room_id, check_user_id
from homeserver.rest.http import HomeserverRequest, RestServlet, client_patterns, parse_json_object


def guest_only_displayname(requester: Requester, field: str) -> None:
    """Guests may change their display name, no other profile field (spec: guest access)."""
    if requester.is_guest and field != "displayname":
        raise MatrixError(403, Codes.GUEST_ACCESS_FORBIDDEN, "Guests may only change their display name")


class ProfileServlet(RestServlet):
    PATTERNS = client_patterns("/profile/(?P<user_id>[^/]+)")
    GUEST_METHODS = frozenset({"GET"})

    async def on_GET(self, request: HomeserverRequest, user_id: str) -> tuple[int, Any]:
        requester = await self.optional_auth(request)  # the spec needs no token here
        return 200, await self.hs.profile_handler.get_visible_profile(requester and requester.user_id,
                                                                      check_user_id(user_id))


class ProfileFieldServlet(RestServlet):
    PATTERNS = client_patterns("/profile/(?P<user_id>[^/]+)/(?P<field>[^/]+)")
    GUEST_METHODS = frozenset({"GET", "PUT", "DELETE"})
    SUSPENDED_REFUSED = frozenset({"PUT", "DELETE"})

    async def on_GET(self, request: HomeserverRequest, user_id: str, field: str) -> tuple[int, Any]:
        requester = await self.optional_auth(request)  # the spec needs no token here
        return 200, await self.hs.profile_handler.get_visible_field(requester and requester.user_id,
                                                                    check_user_id(user_id), field)

    async def on_PUT(self, request: HomeserverRequest, user_id: str, field: str) -> tuple[int, Any]:
        requester = await self.auth(request)
        guest_only_displayname(requester, field)
        body = parse_json_object(request)
        if field not in body:
            raise MatrixError(400, Codes.MISSING_PARAM, f"Missing {field!r} in the body")
        await self.hs.profile_handler.set_field(requester.user_id, check_user_id(user_id), field, body[field])
        return 200, {}

    async def on_DELETE(self, request: HomeserverRequest, user_id: str, field: str) -> tuple[int, Any]:
        requester = await self.auth(request)
        guest_only_displayname(requester, field)
        await self.hs.profile_handler.delete_field(requester.user_id, check_user_id(user_id), field)
        return 200, {}


class AccountDataServlet(RestServlet):
    PATTERNS = client_patterns("/user/(?P<user_id>[^/]+)(?:/rooms/(?P<room_id>[^/]+))?/account_data/(?P<data_type>[^/]+)")

    async def on_PUT(self, request: HomeserverRequest, user_id: str, data_type: str,
                     room_id: str = "") -> tuple[int, Any]:
        requester = await self.auth(request)
        content = parse_json_object(request)
        await self.hs.account_data_handler.put(requester.user_id, user_id, room_id and check_room_id(room_id),
                                               data_type, content)
        return 200, {}

    async def on_GET(self, request: HomeserverRequest, user_id: str, data_type: str,
                     room_id: str = "") -> tuple[int, Any]:
        requester = await self.auth(request)
        return 200, await self.hs.account_data_handler.get(requester.user_id, user_id,
                                                           room_id and check_room_id(room_id), data_type)


class TagsServlet(RestServlet):
    PATTERNS = client_patterns("/user/(?P<user_id>[^/]+)/rooms/(?P<room_id>[^/]+)/tags")

    async def on_GET(self, request: HomeserverRequest, user_id: str, room_id: str) -> tuple[int, Any]:
        requester = await self.auth(request)
        return 200, await self.hs.tags_handler.get_tags(requester.user_id, user_id, check_room_id(room_id))


class TagServlet(RestServlet):
    PATTERNS = client_patterns("/user/(?P<user_id>[^/]+)/rooms/(?P<room_id>[^/]+)/tags/(?P<tag>[^/]+)")

    async def on_PUT(self, request: HomeserverRequest, user_id: str, room_id: str, tag: str) -> tuple[int, Any]:
        requester = await self.auth(request)
        body = parse_json_object(request)
        await self.hs.tags_handler.set_tag(requester.user_id, user_id, check_room_id(room_id), tag, body)
        return 200, {}

    async def on_DELETE(self, request: HomeserverRequest, user_id: str, room_id: str, tag: str) -> tuple[int, Any]:
        requester = await self.auth(request)
        await self.hs.tags_handler.delete_tag(requester.user_id, user_id, check_room_id(room_id), tag)
        return 200, {}


def register_servlets(hs: Any, router: Any) -> None:
    for servlet in (ProfileServlet, ProfileFieldServlet, AccountDataServlet, TagsServlet, TagServlet):
        router.register(servlet(hs))
