"""Joining and leaving our rooms from another server: make_join, send_join (v1, v2), make_leave,
send_leave (v1, v2) (spec: data/api/server-server/joins-v*.yaml, leaving-v*.yaml)."""

from __future__ import annotations

from typing import Any

from homeserver.federation.transport.server import FederationServlet, federation_body, federation_patterns
from homeserver.rest.http import HomeserverRequest, Validator, parse_boolean, parse_json

ROOM = "(?P<room_id>[^/]+)"
USER = "(?P<user_id>[^/]+)"
EVENT = "(?P<event_id>[^/]+)"

INVITE_BODY = Validator({
    "type": "object",
    "required": ["room_version", "event"],
    "properties": {
        "room_version": {"type": "string"},
        "event": {"type": "object"},
        "invite_room_state": {"type": "array"},
    },
})


class MakeJoinServlet(FederationServlet):
    PATTERNS = federation_patterns(f"/make_join/{ROOM}/{USER}")

    async def on_GET(self, request: HomeserverRequest, room_id: str, user_id: str) -> tuple[int, Any]:
        origin = await self.authenticate(request)
        await self.check_acl(origin, room_id)
        versions = [v.decode("utf-8", "replace") for v in request.args.get(b"ver", [])] or ["1"]
        return 200, await self.hs.federation_membership_handler.make(origin, room_id, user_id, "join", versions)


class MakeLeaveServlet(FederationServlet):
    PATTERNS = federation_patterns(f"/make_leave/{ROOM}/{USER}")

    async def on_GET(self, request: HomeserverRequest, room_id: str, user_id: str) -> tuple[int, Any]:
        origin = await self.authenticate(request)
        await self.check_acl(origin, room_id)
        return 200, await self.hs.federation_membership_handler.make(origin, room_id, user_id, "leave")


class SendJoinServlet(FederationServlet):
    PATTERNS = federation_patterns(f"/send_join/{ROOM}/{EVENT}", ("v2",))
    V1 = False

    async def on_PUT(self, request: HomeserverRequest, room_id: str, event_id: str) -> tuple[int, Any]:
        origin = await self.authenticate(request)
        await self.check_acl(origin, room_id)
        handler = self.hs.federation_membership_handler
        accepted = await handler.send(origin, room_id, event_id, parse_json(request), "join")
        omit = False if self.V1 else bool(parse_boolean(request, "omit_members", default=False))
        answer = await handler.join_response(accepted, omit)
        return 200, ([200, answer] if self.V1 else answer)


class SendJoinV1Servlet(SendJoinServlet):
    PATTERNS = federation_patterns(f"/send_join/{ROOM}/{EVENT}", ("v1",))
    V1 = True


class SendLeaveServlet(FederationServlet):
    PATTERNS = federation_patterns(f"/send_leave/{ROOM}/{EVENT}", ("v2",))
    V1 = False

    async def on_PUT(self, request: HomeserverRequest, room_id: str, event_id: str) -> tuple[int, Any]:
        origin = await self.authenticate(request)
        await self.check_acl(origin, room_id)
        await self.hs.federation_membership_handler.send(origin, room_id, event_id, parse_json(request), "leave")
        return 200, ([200, {}] if self.V1 else {})


class SendLeaveV1Servlet(SendLeaveServlet):
    PATTERNS = federation_patterns(f"/send_leave/{ROOM}/{EVENT}", ("v1",))
    V1 = True


class MakeKnockServlet(FederationServlet):
    PATTERNS = federation_patterns(f"/make_knock/{ROOM}/{USER}")

    async def on_GET(self, request: HomeserverRequest, room_id: str, user_id: str) -> tuple[int, Any]:
        origin = await self.authenticate(request)
        await self.check_acl(origin, room_id)
        versions = [v.decode("utf-8", "replace") for v in request.args.get(b"ver", [])]
        return 200, await self.hs.federation_membership_handler.make(origin, room_id, user_id, "knock", versions)


class SendKnockServlet(FederationServlet):
    PATTERNS = federation_patterns(f"/send_knock/{ROOM}/{EVENT}")

    async def on_PUT(self, request: HomeserverRequest, room_id: str, event_id: str) -> tuple[int, Any]:
        origin = await self.authenticate(request)
        await self.check_acl(origin, room_id)
        handler = self.hs.federation_membership_handler
        accepted = await handler.send(origin, room_id, event_id, parse_json(request), "knock")
        return 200, await handler.knock_response(accepted)


class InviteServlet(FederationServlet):
    PATTERNS = federation_patterns(f"/invite/{ROOM}/{EVENT}", ("v2",))

    async def on_PUT(self, request: HomeserverRequest, room_id: str, event_id: str) -> tuple[int, Any]:
        origin = await self.authenticate(request)
        await self.check_acl(origin, room_id)
        body = federation_body(request, INVITE_BODY)
        return 200, await self.hs.federation_membership_handler.invite(
            origin, room_id, event_id, body["room_version"], body["event"], body.get("invite_room_state"))


class InviteV1Servlet(FederationServlet):
    """v1: the body is the event itself, its stripped state in `unsigned` (rooms 1 and 2)."""

    PATTERNS = federation_patterns(f"/invite/{ROOM}/{EVENT}", ("v1",))

    async def on_PUT(self, request: HomeserverRequest, room_id: str, event_id: str) -> tuple[int, Any]:
        origin = await self.authenticate(request)
        await self.check_acl(origin, room_id)
        pdu = federation_body(request)
        unsigned = pdu.get("unsigned") if isinstance(pdu.get("unsigned"), dict) else {}
        answer = await self.hs.federation_membership_handler.invite(
            origin, room_id, event_id, "1", pdu, unsigned.get("invite_room_state"))
        return 200, [200, answer]


def register_servlets(hs: Any, router: Any) -> None:
    for servlet in (MakeJoinServlet, MakeLeaveServlet, SendJoinServlet, SendJoinV1Servlet, SendLeaveServlet,
                    SendLeaveV1Servlet, InviteServlet, InviteV1Servlet, MakeKnockServlet, SendKnockServlet):
        router.register(servlet(hs))
