"""Admin API on user accounts, with Synapse's paths and shapes (docs/admin_api.md). Each servlet
checks the caller is a server admin, parses, and makes one call to UserAdminHandler."""

from __future__ import annotations

from typing import Any

from homeserver.handlers.user_admin import Page
from homeserver.rest.admin.users import admin_patterns
from homeserver.rest.http import (
    HomeserverRequest,
    RestServlet,
    Router,
    Validator,
    parse_boolean,
    parse_integer,
    parse_json_object,
    parse_string,
)
from homeserver.storage.user_admin import MEDIA_ORDERINGS, MEDIA_STATS_ORDERINGS, USER_ORDERINGS, UserFilter

USER = "(?P<user_id>[^/]+)"
DEVICE = "(?P<device_id>[^/]+)"
DEFAULT_LIMIT = 100

USER_BODY = Validator({
    "type": "object",
    "properties": {
        "password": {"type": "string", "maxLength": 512},
        "logout_devices": {"type": "boolean"},
        "displayname": {"type": ["string", "null"], "maxLength": 256},
        "avatar_url": {"type": ["string", "null"], "maxLength": 1000},
        "threepids": {"type": "array", "maxItems": 100, "items": {
            "type": "object", "required": ["medium", "address"],
            "properties": {"medium": {"type": "string"}, "address": {"type": "string", "maxLength": 320}}}},
        "external_ids": {"type": "array"},
        "admin": {"type": "boolean"},
        "deactivated": {"type": "boolean"},
        "locked": {"type": "boolean"},
        "user_type": {"enum": ["bot", "support", None]},
    },
})
DEACTIVATE_BODY = Validator({"type": "object", "properties": {"erase": {"type": "boolean"}}})
RESET_PASSWORD_BODY = Validator({
    "type": "object", "required": ["new_password"],
    "properties": {"new_password": {"type": "string", "maxLength": 512}, "logout_devices": {"type": "boolean"}},
})
ADMIN_BODY = Validator({"type": "object", "required": ["admin"], "properties": {"admin": {"type": "boolean"}}})
SUSPEND_BODY = Validator({"type": "object", "required": ["suspend"], "properties": {"suspend": {"type": "boolean"}}})
LOGIN_BODY = Validator({"type": "object", "properties": {"valid_until_ms": {"type": ["integer", "null"],
                                                                              "minimum": 0}}})
NEW_DEVICE_BODY = Validator({
    "type": "object", "required": ["device_id"],
    "properties": {"device_id": {"type": "string", "minLength": 1, "maxLength": 255}},
})
DEVICE_BODY = Validator({"type": "object", "properties": {"display_name": {"type": ["string", "null"],
                                                                           "maxLength": 1000}}})
DELETE_DEVICES_BODY = Validator({
    "type": "object", "required": ["devices"],
    "properties": {"devices": {"type": "array", "items": {"type": "string"}, "maxItems": 1000}},
})


def parse_page(request: HomeserverRequest, orderings: Any, default_order: str, default_dir: str = "f") -> Page:
    offset = parse_integer(request, "from", default=0, minimum=0) or 0
    limit = parse_integer(request, "limit", default=DEFAULT_LIMIT, minimum=0)
    order_by = parse_string(request, "order_by", default=default_order, allowed=tuple(orderings)) or default_order
    direction = parse_string(request, "dir", default=default_dir, allowed=("f", "b"))
    return Page(offset, DEFAULT_LIMIT if limit is None else limit, order_by, direction == "b")


def _media_page(request: HomeserverRequest) -> Page:
    """Newest first unless the request orders otherwise (Synapse's default)."""
    explicit = parse_string(request, "order_by") is not None or parse_string(request, "dir") is not None
    return parse_page(request, MEDIA_ORDERINGS, "created_ts", "f" if explicit else "b")


class UsersServlet(RestServlet):
    PATTERNS = admin_patterns("/users", "v2")

    async def on_GET(self, request: HomeserverRequest) -> tuple[int, Any]:
        await self.auth_admin(request)
        not_types = tuple(v.decode("utf-8", "replace") for v in request.args.get(b"not_user_type", []))
        user_filter = UserFilter(
            user_id=parse_string(request, "user_id"), name=parse_string(request, "name"),
            guests=bool(parse_boolean(request, "guests", default=True)),
            deactivated=bool(parse_boolean(request, "deactivated", default=False)),
            admins=parse_boolean(request, "admins"), locked=bool(parse_boolean(request, "locked", default=False)),
            not_user_types=not_types)
        page = parse_page(request, USER_ORDERINGS, "name")
        return 200, await self.hs.user_admin_handler.list_users(user_filter, page)


class UserServlet(RestServlet):
    PATTERNS = admin_patterns(f"/users/{USER}", "v2")

    async def on_GET(self, request: HomeserverRequest, user_id: str) -> tuple[int, Any]:
        await self.auth_admin(request)
        return 200, await self.hs.user_admin_handler.user_details(user_id)

    async def on_PUT(self, request: HomeserverRequest, user_id: str) -> tuple[int, Any]:
        requester = await self.auth_admin(request)
        body = parse_json_object(request, USER_BODY)
        return await self.hs.user_admin_handler.upsert_user(requester.user_id, user_id, body)


class DeactivateServlet(RestServlet):
    PATTERNS = admin_patterns(f"/deactivate/{USER}")

    async def on_POST(self, request: HomeserverRequest, user_id: str) -> tuple[int, Any]:
        requester = await self.auth_admin(request)
        body = parse_json_object(request, DEACTIVATE_BODY, allow_empty=True)
        await self.hs.user_admin_handler.deactivate(requester.user_id, user_id, body.get("erase", False))
        return 200, {"id_server_unbind_result": "success"}


class ResetPasswordServlet(RestServlet):
    PATTERNS = admin_patterns(f"/reset_password/{USER}")

    async def on_POST(self, request: HomeserverRequest, user_id: str) -> tuple[int, Any]:
        await self.auth_admin(request)
        body = parse_json_object(request, RESET_PASSWORD_BODY)
        await self.hs.user_admin_handler.reset_password(user_id, body["new_password"],
                                                        body.get("logout_devices", True))
        return 200, {}


class UserAdminFlagServlet(RestServlet):
    PATTERNS = admin_patterns(f"/users/{USER}/admin")

    async def on_GET(self, request: HomeserverRequest, user_id: str) -> tuple[int, Any]:
        await self.auth_admin(request)
        return 200, {"admin": await self.hs.user_admin_handler.is_admin(user_id)}

    async def on_PUT(self, request: HomeserverRequest, user_id: str) -> tuple[int, Any]:
        requester = await self.auth_admin(request)
        body = parse_json_object(request, ADMIN_BODY)
        await self.hs.user_admin_handler.set_admin(requester.user_id, user_id, body["admin"])
        return 200, {}


class WhoisServlet(RestServlet):
    PATTERNS = admin_patterns(f"/whois/{USER}")

    async def on_GET(self, request: HomeserverRequest, user_id: str) -> tuple[int, Any]:
        await self.auth_admin(request)
        return 200, await self.hs.user_admin_handler.whois(user_id)


class JoinedRoomsServlet(RestServlet):
    PATTERNS = admin_patterns(f"/users/{USER}/joined_rooms")

    async def on_GET(self, request: HomeserverRequest, user_id: str) -> tuple[int, Any]:
        await self.auth_admin(request)
        return 200, await self.hs.user_admin_handler.joined_rooms(user_id)


class MembershipsServlet(RestServlet):
    PATTERNS = admin_patterns(f"/users/{USER}/memberships")

    async def on_GET(self, request: HomeserverRequest, user_id: str) -> tuple[int, Any]:
        await self.auth_admin(request)
        return 200, await self.hs.user_admin_handler.memberships(user_id)


class DevicesServlet(RestServlet):
    PATTERNS = admin_patterns(f"/users/{USER}/devices", "v2")

    async def on_GET(self, request: HomeserverRequest, user_id: str) -> tuple[int, Any]:
        await self.auth_admin(request)
        return 200, await self.hs.user_admin_handler.list_devices(user_id)

    async def on_POST(self, request: HomeserverRequest, user_id: str) -> tuple[int, Any]:
        await self.auth_admin(request)
        body = parse_json_object(request, NEW_DEVICE_BODY)
        await self.hs.user_admin_handler.create_device(user_id, body["device_id"])
        return 200, {}


class DeviceServlet(RestServlet):
    PATTERNS = admin_patterns(f"/users/{USER}/devices/{DEVICE}", "v2")

    async def on_GET(self, request: HomeserverRequest, user_id: str, device_id: str) -> tuple[int, Any]:
        await self.auth_admin(request)
        return 200, await self.hs.user_admin_handler.get_device(user_id, device_id)

    async def on_PUT(self, request: HomeserverRequest, user_id: str, device_id: str) -> tuple[int, Any]:
        await self.auth_admin(request)
        body = parse_json_object(request, DEVICE_BODY, allow_empty=True)
        if "display_name" in body:
            await self.hs.user_admin_handler.rename_device(user_id, device_id, body["display_name"])
        else:
            await self.hs.user_admin_handler.get_device(user_id, device_id)
        return 200, {}

    async def on_DELETE(self, request: HomeserverRequest, user_id: str, device_id: str) -> tuple[int, Any]:
        await self.auth_admin(request)
        await self.hs.user_admin_handler.delete_devices(user_id, [device_id])
        return 200, {}


class DeleteDevicesServlet(RestServlet):
    PATTERNS = admin_patterns(f"/users/{USER}/delete_devices", "v2")

    async def on_POST(self, request: HomeserverRequest, user_id: str) -> tuple[int, Any]:
        await self.auth_admin(request)
        body = parse_json_object(request, DELETE_DEVICES_BODY)
        await self.hs.user_admin_handler.delete_devices(user_id, body["devices"])
        return 200, {}


class UserMediaServlet(RestServlet):
    PATTERNS = admin_patterns(f"/users/{USER}/media")

    async def on_GET(self, request: HomeserverRequest, user_id: str) -> tuple[int, Any]:
        await self.auth_admin(request)
        return 200, await self.hs.user_admin_handler.list_media(user_id, _media_page(request))

    async def on_DELETE(self, request: HomeserverRequest, user_id: str) -> tuple[int, Any]:
        await self.auth_admin(request)
        return 200, await self.hs.user_admin_handler.delete_media(user_id, _media_page(request))


class LoginAsUserServlet(RestServlet):
    PATTERNS = admin_patterns(f"/users/{USER}/login")

    async def on_POST(self, request: HomeserverRequest, user_id: str) -> tuple[int, Any]:
        requester = await self.auth_admin(request)
        body = parse_json_object(request, LOGIN_BODY, allow_empty=True)
        return 200, await self.hs.user_admin_handler.login_as(requester.user_id, user_id, body.get("valid_until_ms"))


class ShadowBanServlet(RestServlet):
    PATTERNS = admin_patterns(f"/users/{USER}/shadow_ban")

    async def on_POST(self, request: HomeserverRequest, user_id: str) -> tuple[int, Any]:
        await self.auth_admin(request)
        await self.hs.user_admin_handler.set_flag(user_id, "shadow_banned", True)
        return 200, {}

    async def on_DELETE(self, request: HomeserverRequest, user_id: str) -> tuple[int, Any]:
        await self.auth_admin(request)
        await self.hs.user_admin_handler.set_flag(user_id, "shadow_banned", False)
        return 200, {}


class SuspendServlet(RestServlet):
    PATTERNS = admin_patterns(f"/suspend/{USER}")

    async def on_PUT(self, request: HomeserverRequest, user_id: str) -> tuple[int, Any]:
        requester = await self.auth_admin(request)
        body = parse_json_object(request, SUSPEND_BODY)
        await self.hs.user_admin_handler.suspend(requester.user_id, user_id, body["suspend"])
        return 200, {f"user_{user_id}_suspended": body["suspend"]}


class PushersServlet(RestServlet):
    PATTERNS = admin_patterns(f"/users/{USER}/pushers")

    async def on_GET(self, request: HomeserverRequest, user_id: str) -> tuple[int, Any]:
        await self.auth_admin(request)
        return 200, await self.hs.user_admin_handler.pushers(user_id)


class AccountDataServlet(RestServlet):
    PATTERNS = admin_patterns(f"/users/{USER}/accountdata")

    async def on_GET(self, request: HomeserverRequest, user_id: str) -> tuple[int, Any]:
        await self.auth_admin(request)
        return 200, await self.hs.user_admin_handler.account_data(user_id)


class UsernameAvailableServlet(RestServlet):
    PATTERNS = admin_patterns("/username_available")

    async def on_GET(self, request: HomeserverRequest) -> tuple[int, Any]:
        await self.auth_admin(request)
        username = parse_string(request, "username", required=True) or ""
        return 200, await self.hs.user_admin_handler.username_available(username)


class UserMediaStatisticsServlet(RestServlet):
    PATTERNS = admin_patterns("/statistics/users/media")

    async def on_GET(self, request: HomeserverRequest) -> tuple[int, Any]:
        await self.auth_admin(request)
        page = parse_page(request, MEDIA_STATS_ORDERINGS, "user_id")
        from_ts = parse_integer(request, "from_ts", default=0, minimum=0) or 0
        until_ts = parse_integer(request, "until_ts", minimum=0)
        return 200, await self.hs.user_admin_handler.media_statistics(
            from_ts, until_ts, parse_string(request, "search_term"), page)


def register_servlets(hs: Any, router: Router) -> None:
    for servlet in (PushersServlet, AccountDataServlet, UsernameAvailableServlet, UserMediaStatisticsServlet,
                    UsersServlet, UserServlet, DeactivateServlet, ResetPasswordServlet, UserAdminFlagServlet,
                    WhoisServlet, JoinedRoomsServlet, MembershipsServlet, DevicesServlet, DeviceServlet,
                    DeleteDevicesServlet, UserMediaServlet, LoginAsUserServlet, ShadowBanServlet, SuspendServlet):
        router.register(servlet(hs))
