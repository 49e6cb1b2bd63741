"""Admin API on rooms, with Synapse's paths and shapes (docs/admin_api.md): list, details,
members, state, messages, block, delete (v2, in the background, with its status), make room
admin, forward extremities."""

from __future__ import annotations

from typing import Any

from homeserver.handlers.user_admin import Page
from homeserver.rest.admin.users import admin_patterns
from homeserver.rest.client.rooms import parse_filter
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
from homeserver.storage.room_admin import ROOM_ORDERINGS

ROOM = "(?P<room_id>[^/]+)"
DEFAULT_LIMIT = 100

BLOCK_BODY = Validator({"type": "object", "required": ["block"], "properties": {"block": {"type": "boolean"}}})
DELETE_BODY = Validator({
    "type": "object",
    "properties": {
        "new_room_user_id": {"type": "string"},
        "room_name": {"type": "string", "maxLength": 255},
        "message": {"type": "string", "maxLength": 65536},
        "block": {"type": "boolean"},
        "purge": {"type": "boolean"},
        "force_purge": {"type": "boolean"},
    },
})
REDACT_BODY = Validator({
    "type": "object", "required": ["rooms"],
    "properties": {"rooms": {"type": "array", "items": {"type": "string"}, "maxItems": 10000},
                   "reason": {"type": "string", "maxLength": 1000},
                   "limit": {"type": "integer", "minimum": 1, "maximum": 100000},
                   "use_admin": {"type": "boolean"},
                   "after_ts": {"type": "integer", "minimum": 0}, "before_ts": {"type": "integer", "minimum": 0}},
})
JOIN_BODY = Validator({"type": "object", "required": ["user_id"], "properties": {"user_id": {"type": "string"}}})
MAKE_ADMIN_BODY = Validator({"type": "object", "properties": {"user_id": {"type": "string"}}})


class RoomsServlet(RestServlet):
    PATTERNS = admin_patterns("/rooms")

    async def on_GET(self, request: HomeserverRequest) -> tuple[int, Any]:
        await self.auth_admin(request)
        offset = parse_integer(request, "from", default=0, minimum=0) or 0
        limit = parse_integer(request, "limit", default=DEFAULT_LIMIT, minimum=0)
        order_by = parse_string(request, "order_by", default="name", allowed=tuple(ROOM_ORDERINGS)) or "name"
        backwards = parse_string(request, "dir", default="f", allowed=("f", "b")) == "b"
        page = Page(offset, DEFAULT_LIMIT if limit is None else limit, order_by, backwards)
        return 200, await self.hs.room_admin_handler.list_rooms(
            parse_string(request, "search_term"), page, parse_boolean(request, "public_rooms"),
            parse_boolean(request, "empty_rooms"))


class RoomServlet(RestServlet):
    PATTERNS = admin_patterns(f"/rooms/{ROOM}")

    async def on_GET(self, request: HomeserverRequest, room_id: str) -> tuple[int, Any]:
        await self.auth_admin(request)
        return 200, await self.hs.room_admin_handler.room_details(room_id)

    async def on_DELETE(self, request: HomeserverRequest, room_id: str) -> tuple[int, Any]:
        """v1: synchronous, answers with the result."""
        requester = await self.auth_admin(request)
        body = parse_json_object(request, DELETE_BODY)
        return 200, await self.hs.room_admin_handler.delete_now(requester.user_id, room_id, body)


class DeleteRoomServlet(RestServlet):
    PATTERNS = admin_patterns(f"/rooms/{ROOM}", "v2")

    async def on_DELETE(self, request: HomeserverRequest, room_id: str) -> tuple[int, Any]:
        requester = await self.auth_admin(request)
        body = parse_json_object(request, DELETE_BODY)  # "The body must be at least {}"
        return 200, {"delete_id": await self.hs.room_admin_handler.schedule_deletion(requester.user_id, room_id,
                                                                                      body)}


class RoomDeleteStatusServlet(RestServlet):
    PATTERNS = admin_patterns(f"/rooms/{ROOM}/delete_status", "v2")

    async def on_GET(self, request: HomeserverRequest, room_id: str) -> tuple[int, Any]:
        await self.auth_admin(request)
        return 200, await self.hs.room_admin_handler.deletions_of_room(room_id)


class DeleteStatusServlet(RestServlet):
    PATTERNS = admin_patterns("/rooms/delete_status/(?P<delete_id>[^/]+)", "v2")

    async def on_GET(self, request: HomeserverRequest, delete_id: str) -> tuple[int, Any]:
        await self.auth_admin(request)
        return 200, await self.hs.room_admin_handler.deletion_status(delete_id)


class MembersServlet(RestServlet):
    PATTERNS = admin_patterns(f"/rooms/{ROOM}/members")

    async def on_GET(self, request: HomeserverRequest, room_id: str) -> tuple[int, Any]:
        await self.auth_admin(request)
        return 200, await self.hs.room_admin_handler.members(room_id)


class StateServlet(RestServlet):
    PATTERNS = admin_patterns(f"/rooms/{ROOM}/state")

    async def on_GET(self, request: HomeserverRequest, room_id: str) -> tuple[int, Any]:
        await self.auth_admin(request)
        return 200, await self.hs.room_admin_handler.state(room_id, parse_string(request, "type"))


class MessagesServlet(RestServlet):
    PATTERNS = admin_patterns(f"/rooms/{ROOM}/messages")

    async def on_GET(self, request: HomeserverRequest, room_id: str) -> tuple[int, Any]:
        requester = await self.auth_admin(request)
        backwards = parse_string(request, "dir", default="f", allowed=("f", "b")) == "b"
        limit = parse_integer(request, "limit", default=10, minimum=0) or 10
        return 200, await self.hs.room_admin_handler.messages(
            requester.user_id, room_id, parse_string(request, "from"), parse_string(request, "to"), backwards,
            limit, parse_filter(request))


class BlockServlet(RestServlet):
    PATTERNS = admin_patterns(f"/rooms/{ROOM}/block")

    async def on_GET(self, request: HomeserverRequest, room_id: str) -> tuple[int, Any]:
        await self.auth_admin(request)
        return 200, await self.hs.room_admin_handler.block_status(room_id)

    async def on_PUT(self, request: HomeserverRequest, room_id: str) -> tuple[int, Any]:
        requester = await self.auth_admin(request)
        body = parse_json_object(request, BLOCK_BODY)
        return 200, await self.hs.room_admin_handler.set_blocked(requester.user_id, room_id, body["block"])


class MakeRoomAdminServlet(RestServlet):
    PATTERNS = admin_patterns(f"/rooms/{ROOM}/make_room_admin")

    async def on_POST(self, request: HomeserverRequest, room_id: str) -> tuple[int, Any]:
        requester = await self.auth_admin(request)
        body = parse_json_object(request, MAKE_ADMIN_BODY, allow_empty=True)
        await self.hs.room_admin_handler.make_room_admin(requester.user_id, room_id, body.get("user_id"))
        return 200, {}


class ForwardExtremitiesServlet(RestServlet):
    PATTERNS = admin_patterns(f"/rooms/{ROOM}/forward_extremities")

    async def on_GET(self, request: HomeserverRequest, room_id: str) -> tuple[int, Any]:
        await self.auth_admin(request)
        return 200, await self.hs.room_admin_handler.forward_extremities(room_id)

    async def on_DELETE(self, request: HomeserverRequest, room_id: str) -> tuple[int, Any]:
        await self.auth_admin(request)
        return 200, await self.hs.room_admin_handler.delete_forward_extremities(room_id)


class JoinRoomServlet(RestServlet):
    PATTERNS = admin_patterns("/join/(?P<room_id>[^/]+)")

    async def on_POST(self, request: HomeserverRequest, room_id: str) -> tuple[int, Any]:
        requester = await self.auth_admin(request)
        body = parse_json_object(request, JOIN_BODY)
        return 200, {"room_id": await self.hs.room_admin_handler.join_user(requester.user_id, room_id,
                                                                            body["user_id"])}


class RedactUserServlet(RestServlet):
    PATTERNS = admin_patterns("/user/(?P<user_id>[^/]+)/redact")

    async def on_POST(self, request: HomeserverRequest, user_id: str) -> tuple[int, Any]:
        requester = await self.auth_admin(request)
        body = parse_json_object(request, REDACT_BODY)
        redact_id = await self.hs.room_admin_handler.redact_user_events(
            requester.user_id, user_id, body["rooms"], body.get("reason"), body.get("limit", 1000),
            body.get("use_admin", False), body.get("after_ts"), body.get("before_ts"))
        return 200, {"redact_id": redact_id}


class RedactStatusServlet(RestServlet):
    PATTERNS = admin_patterns("/user/redact_status/(?P<redact_id>[^/]+)")

    async def on_GET(self, request: HomeserverRequest, redact_id: str) -> tuple[int, Any]:
        await self.auth_admin(request)
        return 200, self.hs.room_admin_handler.user_redaction_status(redact_id)


def register_servlets(hs: Any, router: Router) -> None:
    for servlet in (RedactStatusServlet, RedactUserServlet, JoinRoomServlet, RoomsServlet, RoomServlet, DeleteRoomServlet, DeleteStatusServlet, RoomDeleteStatusServlet,
                    MembersServlet, StateServlet, MessagesServlet, BlockServlet, MakeRoomAdminServlet,
                    ForwardExtremitiesServlet):
        router.register(servlet(hs))
