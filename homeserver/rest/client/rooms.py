"""Rooms: createRoom, membership, sending events and state, reading state, events and history."""

from __future__ import annotations

from typing import Any

from homeserver.api.errors import Codes, MatrixError, forbidden, invalid_param, not_found
from homeserver.api.identifiers import UserID
from homeserver.rest.http import (
    HomeserverRequest,
    RestServlet,
    Validator,
    client_patterns,
    parse_integer,
    parse_json_object,
    parse_json_text,
    parse_string,
    raise_suspended,
)

ROOM = "(?P<room_id>[^/]+)"

CREATE_ROOM_BODY = Validator({
    "type": "object",
    "properties": {
        "visibility": {"enum": ["public", "private"]},
        "room_alias_name": {"type": "string"},
        "name": {"type": "string"},
        "topic": {"type": "string"},
        "invite": {"type": "array", "items": {"type": "string"}},
        "invite_3pid": {"type": "array"},
        "room_version": {"type": "string"},
        "creation_content": {"type": "object"},
        "initial_state": {"type": "array", "items": {
            "type": "object", "required": ["type", "content"],
            "properties": {"type": {"type": "string"}, "state_key": {"type": "string"},
                           "content": {"type": "object"}}}},
        "preset": {"enum": ["private_chat", "public_chat", "trusted_private_chat"]},
        "is_direct": {"type": "boolean"},
        "power_level_content_override": {"type": "object"},
    },
})
REASON_BODY = Validator({"type": "object", "properties": {"reason": {"type": "string"}}})
TARGET_BODY = Validator({
    "type": "object", "required": ["user_id"],
    "properties": {"user_id": {"type": "string"}, "reason": {"type": "string"}},
})


def check_room_id(room_id: str) -> str:
    if not room_id.startswith("!") or len(room_id.encode()) > 255:
        raise invalid_param(f"Invalid room ID {room_id!r}")
    return room_id


def check_user_id(user_id: str) -> str:
    UserID.parse(user_id)
    if len(user_id.encode()) > 255:
        raise invalid_param("User ID too long")
    return user_id



def parse_filter(request: HomeserverRequest) -> dict[str, Any]:
    """The `filter` query parameter of /messages and /context: a JSON object, or {}."""
    raw = parse_string(request, "filter")
    if not raw:
        return {}
    event_filter = parse_json_text(raw, "filter")
    if not isinstance(event_filter, dict):
        raise invalid_param("filter must be a JSON object")
    return event_filter


class CreateRoomServlet(RestServlet):
    PATTERNS = client_patterns("/createRoom")
    SUSPENDED_REFUSED = frozenset({"POST"})

    async def on_POST(self, request: HomeserverRequest) -> tuple[int, Any]:
        requester = await self.auth(request)
        body = parse_json_object(request, CREATE_ROOM_BODY, allow_empty=True)
        room_id = await self.hs.room_creation_handler.create_room(requester.user_id, body)
        return 200, {"room_id": room_id}


class JoinedRoomsServlet(RestServlet):
    PATTERNS = client_patterns("/joined_rooms")

    async def on_GET(self, request: HomeserverRequest) -> tuple[int, Any]:
        requester = await self.auth(request)
        return 200, {"joined_rooms": await self.hs.events_store.get_rooms_for_user(requester.user_id)}


class JoinServlet(RestServlet):
    PATTERNS = client_patterns(f"/rooms/{ROOM}/join") + client_patterns("/join/(?P<room_id>[^/]+)")
    GUEST_METHODS = frozenset({"POST"})
    SUSPENDED_REFUSED = frozenset({"POST"})

    async def on_POST(self, request: HomeserverRequest, room_id: str) -> tuple[int, Any]:
        requester = await self.auth(request)
        body = parse_json_object(request, REASON_BODY, allow_empty=True)
        if not room_id.startswith("#"):
            check_room_id(room_id)
        servers = [v.decode("utf-8", "replace") for key in (b"server_name", b"via") for v in request.args.get(key, [])]
        room_id = await self.hs.room_member_handler.join(requester.user_id, room_id, servers, body.get("reason"),
                                                         guest=requester.is_guest)
        return 200, {"room_id": room_id}


class MembershipServlet(RestServlet):
    """invite, kick, ban, unban (a target user) and leave (oneself)."""

    PATTERNS = client_patterns(f"/rooms/{ROOM}/(?P<action>invite|kick|ban|unban|leave)")
    GUEST_METHODS = frozenset({"POST"})
    MEMBERSHIP = {"invite": "invite", "kick": "leave", "ban": "ban", "unban": "leave", "leave": "leave"}

    async def on_POST(self, request: HomeserverRequest, room_id: str, action: str) -> tuple[int, Any]:
        requester = await self.auth(request)
        if requester.is_guest and action != "leave":
            raise MatrixError(403, Codes.GUEST_ACCESS_FORBIDDEN, "Guests may only leave rooms")
        if requester.suspended and action != "leave":
            raise_suspended()
        check_room_id(room_id)
        if action == "leave":
            body = parse_json_object(request, REASON_BODY, allow_empty=True)
            target = requester.user_id
            await self.hs.server_notices_handler.check_may_leave(target, room_id)
        else:
            body = parse_json_object(request, TARGET_BODY)
            target = check_user_id(body["user_id"])
            if action == "invite" and UserID.parse(target).domain == self.hs.config.server_name:
                if not await self.hs.users_store.user_exists(target):
                    raise not_found("Unknown user")
            if action == "unban":
                current = await self.hs.events_store.get_membership(room_id, target)
                if not current or current[0] != "ban":
                    raise forbidden("That user is not banned")
            if action == "kick":
                current = await self.hs.events_store.get_membership(room_id, target)
                if not current or current[0] not in ("join", "invite", "knock"):
                    raise forbidden("That user is not in the room")
        await self.hs.room_member_handler.update_membership(
            requester.user_id, room_id, target, self.MEMBERSHIP[action], body.get("reason"), ratelimit=True)
        return 200, {}


DELAY_PARAM = "org.matrix.msc4140.delay"
PARENT_DELAY_PARAM = "org.matrix.msc4140.parent_delay_id"


def parse_delay(request: HomeserverRequest) -> int | None:
    """The delay (ms) a send or state request asks for (MSC4140), or None for an ordinary one.
    Never ignored: a client that asked for a delay and got its event sent at once would, for a
    call, post its "left the call" membership the moment it joined."""
    if parse_string(request, PARENT_DELAY_PARAM) is not None:
        raise invalid_param(f"{PARENT_DELAY_PARAM} is not supported by this server")
    return parse_integer(request, DELAY_PARAM, minimum=0)


class SendEventServlet(RestServlet):
    PATTERNS = client_patterns(f"/rooms/{ROOM}/send/(?P<event_type>[^/]+)/(?P<txn_id>[^/]+)")
    GUEST_METHODS = frozenset({"PUT"})
    SUSPENDED_REFUSED = frozenset({"PUT"})

    async def on_PUT(self, request: HomeserverRequest, room_id: str, event_type: str, txn_id: str) -> tuple[int, Any]:
        requester = await self.auth(request)
        check_room_id(room_id)
        delay = parse_delay(request)
        content = parse_json_object(request)
        self.hs.message_limiter.check(requester.user_id)
        if delay is not None:
            delay_id = await self.hs.delayed_events_handler.schedule(
                requester.user_id, requester.device_id, room_id, event_type, None, content, delay, txn_id)
            return 200, {"delay_id": delay_id}
        event = await self.hs.room_send_handler.send_message(
            requester.user_id, room_id, event_type, content, (requester.user_id, requester.device_id, txn_id))
        return 200, {"event_id": event.event_id}


class LegacySendEventServlet(RestServlet):
    """POST /rooms/{roomId}/send/{eventType}: the form before transaction IDs, still used by old
    clients and scripts (the reference server serves it too). Each request sends a new event."""

    PATTERNS = client_patterns(f"/rooms/{ROOM}/send/(?P<event_type>[^/]+)")
    GUEST_METHODS = frozenset({"POST"})
    SUSPENDED_REFUSED = frozenset({"POST"})

    async def on_POST(self, request: HomeserverRequest, room_id: str, event_type: str) -> tuple[int, Any]:
        requester = await self.auth(request)
        check_room_id(room_id)
        delay = parse_delay(request)
        content = parse_json_object(request)
        self.hs.message_limiter.check(requester.user_id)
        if delay is not None:
            delay_id = await self.hs.delayed_events_handler.schedule(
                requester.user_id, requester.device_id, room_id, event_type, None, content, delay)
            return 200, {"delay_id": delay_id}
        event = await self.hs.room_send_handler.send_message(requester.user_id, room_id, event_type, content)
        return 200, {"event_id": event.event_id}


class RoomStateEventServlet(RestServlet):
    PATTERNS = client_patterns(f"/rooms/{ROOM}/state/(?P<event_type>[^/]+)(?:/(?P<state_key>.*))?")
    GUEST_METHODS = frozenset({"GET", "PUT"})
    SUSPENDED_REFUSED = frozenset({"PUT"})

    async def on_GET(self, request: HomeserverRequest, room_id: str, event_type: str,
                     state_key: str | None = None) -> tuple[int, Any]:
        requester = await self.auth(request)
        check_room_id(room_id)
        event = await self.hs.room_read_handler.get_state_event(
            requester.user_id, room_id, event_type, state_key or "")
        if parse_string(request, "format", default="content", allowed=("content", "event")) == "event":
            return 200, (await self.hs.room_read_handler.serialize([event]))[0]
        return 200, event.content

    async def on_PUT(self, request: HomeserverRequest, room_id: str, event_type: str,
                     state_key: str | None = None) -> tuple[int, Any]:
        requester = await self.auth(request)
        check_room_id(room_id)
        delay = parse_delay(request)
        content = parse_json_object(request)
        if delay is not None:
            self.hs.message_limiter.check(requester.user_id)
            delay_id = await self.hs.delayed_events_handler.schedule(
                requester.user_id, requester.device_id, room_id, event_type, state_key or "", content, delay)
            return 200, {"delay_id": delay_id}
        event = await self.hs.room_send_handler.set_state(requester.user_id, room_id, event_type, state_key or "",
                                                          content)
        return 200, {"event_id": event.event_id}


class RoomStateServlet(RestServlet):
    PATTERNS = client_patterns(f"/rooms/{ROOM}/state")
    GUEST_METHODS = frozenset({"GET"})

    async def on_GET(self, request: HomeserverRequest, room_id: str) -> tuple[int, Any]:
        requester = await self.auth(request)
        check_room_id(room_id)
        return 200, await self.hs.room_read_handler.get_state(requester.user_id, room_id)


class RoomEventServlet(RestServlet):
    PATTERNS = client_patterns(f"/rooms/{ROOM}/event/(?P<event_id>[^/]+)")
    GUEST_METHODS = frozenset({"GET"})

    async def on_GET(self, request: HomeserverRequest, room_id: str, event_id: str) -> tuple[int, Any]:
        requester = await self.auth(request)
        check_room_id(room_id)
        return 200, await self.hs.room_read_handler.get_event(requester.user_id, room_id, event_id)


class MembersServlet(RestServlet):
    PATTERNS = client_patterns(f"/rooms/{ROOM}/members")
    GUEST_METHODS = frozenset({"GET"})
    MEMBERSHIPS = ("join", "invite", "knock", "leave", "ban")

    async def on_GET(self, request: HomeserverRequest, room_id: str) -> tuple[int, Any]:
        requester = await self.auth(request)
        check_room_id(room_id)
        chunk = await self.hs.room_read_handler.get_members(
            requester.user_id, room_id,
            parse_string(request, "membership", allowed=self.MEMBERSHIPS),
            parse_string(request, "not_membership", allowed=self.MEMBERSHIPS),
            parse_string(request, "at"))
        return 200, {"chunk": chunk}


class JoinedMembersServlet(RestServlet):
    PATTERNS = client_patterns(f"/rooms/{ROOM}/joined_members")

    async def on_GET(self, request: HomeserverRequest, room_id: str) -> tuple[int, Any]:
        requester = await self.auth(request)
        check_room_id(room_id)
        return 200, {"joined": await self.hs.room_read_handler.get_joined_members(requester.user_id, room_id)}


class MessagesServlet(RestServlet):
    PATTERNS = client_patterns(f"/rooms/{ROOM}/messages")
    GUEST_METHODS = frozenset({"GET"})

    async def on_GET(self, request: HomeserverRequest, room_id: str) -> tuple[int, Any]:
        requester = await self.auth(request)
        check_room_id(room_id)
        direction = parse_string(request, "dir", required=True, allowed=("b", "f"))
        event_filter = parse_filter(request)
        return 200, await self.hs.room_read_handler.get_messages(
            requester.user_id, room_id, parse_string(request, "from"), parse_string(request, "to"),
            direction == "b", parse_integer(request, "limit", default=10, minimum=0) or 10, event_filter,
            backfill=True)


class RedactServlet(RestServlet):
    PATTERNS = client_patterns(f"/rooms/{ROOM}/redact/(?P<event_id>[^/]+)/(?P<txn_id>[^/]+)")

    async def on_PUT(self, request: HomeserverRequest, room_id: str, event_id: str, txn_id: str) -> tuple[int, Any]:
        requester = await self.auth(request)
        check_room_id(room_id)
        body = parse_json_object(request, REASON_BODY, allow_empty=True)
        event = await self.hs.redaction_handler.redact(
            requester.user_id, room_id, event_id, body.get("reason"),
            (requester.user_id, requester.device_id, txn_id), suspended=requester.suspended)
        return 200, {"event_id": event.event_id}


def register_servlets(hs: Any, router: Any) -> None:
    for servlet in (CreateRoomServlet, JoinedRoomsServlet, JoinServlet, MembershipServlet, SendEventServlet,
                    LegacySendEventServlet, RoomStateEventServlet, RoomStateServlet, RoomEventServlet, MembersServlet,
                    JoinedMembersServlet, MessagesServlet, RedactServlet):
        router.register(servlet(hs))
