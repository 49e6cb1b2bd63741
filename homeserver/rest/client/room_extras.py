"""Room endpoints beyond the basics: event context, timestamp_to_event, reporting events,
rooms and users, forgetting, knocking, and room upgrades."""

from __future__ import annotations

from typing import Any

from homeserver.rest.client.rooms import ROOM, check_room_id, check_user_id, parse_filter
from homeserver.rest.http import (
    HomeserverRequest,
    RestServlet,
    Validator,
    client_patterns,
    parse_integer,
    parse_json_object,
    parse_string,
)

EVENT = "(?P<event_id>[^/]+)"
MAX_CONTEXT_LIMIT = 1000

REPORT_EVENT_BODY = Validator({
    "type": "object",
    "properties": {
        "reason": {"type": "string"},
        # Removed in v1.18; still accepted (and stored) from older clients.
        "score": {"type": "integer", "minimum": -100, "maximum": 0},
    },
})
REPORT_ROOM_BODY = Validator({"type": "object", "required": ["reason"], "properties": {"reason": {"type": "string"}}})
KNOCK_BODY = Validator({"type": "object", "properties": {"reason": {"type": "string"}}})
UPGRADE_BODY = Validator({
    "type": "object", "required": ["new_version"],
    "properties": {
        "new_version": {"type": "string"},
        "additional_creators": {"type": "array", "items": {"type": "string"}},
    },
})



class ContextServlet(RestServlet):
    PATTERNS = client_patterns(f"/rooms/{ROOM}/context/{EVENT}")
    GUEST_METHODS = frozenset({"GET"})

    async def on_GET(self, request: HomeserverRequest, room_id: str, event_id: str) -> tuple[int, Any]:
        requester = await self.auth(request)
        check_room_id(room_id)
        limit = min(parse_integer(request, "limit", default=10, minimum=0) or 0, MAX_CONTEXT_LIMIT)
        return 200, await self.hs.room_extras_handler.get_context(
            requester.user_id, room_id, event_id, limit, parse_filter(request))


class TimestampToEventServlet(RestServlet):
    PATTERNS = client_patterns(f"/rooms/{ROOM}/timestamp_to_event", releases=(), v1=True)

    async def on_GET(self, request: HomeserverRequest, room_id: str) -> tuple[int, Any]:
        requester = await self.auth(request)
        check_room_id(room_id)
        ts = parse_integer(request, "ts", required=True)
        direction = parse_string(request, "dir", required=True, allowed=("b", "f"))
        return 200, await self.hs.room_extras_handler.timestamp_to_event(
            requester.user_id, room_id, ts, direction == "f")


class ReportEventServlet(RestServlet):
    PATTERNS = client_patterns(f"/rooms/{ROOM}/report/{EVENT}")

    async def on_POST(self, request: HomeserverRequest, room_id: str, event_id: str) -> tuple[int, Any]:
        requester = await self.auth(request)
        check_room_id(room_id)
        body = parse_json_object(request, REPORT_EVENT_BODY, allow_empty=True)
        await self.hs.room_extras_handler.report_event(
            requester.user_id, room_id, event_id, body.get("reason"), body.get("score"))
        return 200, {}


class ReportUserServlet(RestServlet):
    PATTERNS = client_patterns("/users/(?P<user_id>[^/]+)/report")

    async def on_POST(self, request: HomeserverRequest, user_id: str) -> tuple[int, Any]:
        requester = await self.auth(request)
        check_user_id(user_id)
        body = parse_json_object(request, REPORT_ROOM_BODY)  # the same body: a required reason
        await self.hs.room_extras_handler.report_user(requester.user_id, user_id, body["reason"])
        return 200, {}


class ReportRoomServlet(RestServlet):
    PATTERNS = client_patterns(f"/rooms/{ROOM}/report")

    async def on_POST(self, request: HomeserverRequest, room_id: str) -> tuple[int, Any]:
        requester = await self.auth(request)
        check_room_id(room_id)
        body = parse_json_object(request, REPORT_ROOM_BODY)
        await self.hs.room_extras_handler.report_room(requester.user_id, room_id, body["reason"])
        return 200, {}


class ForgetServlet(RestServlet):
    PATTERNS = client_patterns(f"/rooms/{ROOM}/forget")

    async def on_POST(self, request: HomeserverRequest, room_id: str) -> tuple[int, Any]:
        requester = await self.auth(request)
        check_room_id(room_id)
        parse_json_object(request, allow_empty=True)
        await self.hs.room_extras_handler.forget(requester.user_id, room_id)
        return 200, {}


class KnockServlet(RestServlet):
    PATTERNS = client_patterns("/knock/(?P<room_id>[^/]+)")
    SUSPENDED_REFUSED = frozenset({"POST"})

    async def on_POST(self, request: HomeserverRequest, room_id: str) -> tuple[int, Any]:
        requester = await self.auth(request)
        body = parse_json_object(request, KNOCK_BODY, allow_empty=True)
        room_id = check_room_id(await self.hs.directory_handler.resolve_room_id_or_alias(room_id))
        servers = [v.decode("utf-8", "replace") for key in (b"server_name", b"via") for v in request.args.get(key, [])]
        room_id = await self.hs.room_extras_handler.knock(requester.user_id, room_id, body.get("reason"), servers)
        return 200, {"room_id": room_id}


class UpgradeServlet(RestServlet):
    PATTERNS = client_patterns(f"/rooms/{ROOM}/upgrade")

    async def on_POST(self, request: HomeserverRequest, room_id: str) -> tuple[int, Any]:
        requester = await self.auth(request)
        check_room_id(room_id)
        body = parse_json_object(request, UPGRADE_BODY)
        new_room_id = await self.hs.room_extras_handler.upgrade_room(
            requester.user_id, room_id, body["new_version"], body.get("additional_creators"))
        return 200, {"replacement_room": new_room_id}


def register_servlets(hs: Any, router: Any) -> None:
    for servlet in (ContextServlet, TimestampToEventServlet, ReportEventServlet, ReportRoomServlet, ReportUserServlet,
                    ForgetServlet, KnockServlet, UpgradeServlet):
        router.register(servlet(hs))
