"""Joining and leaving our rooms from another server: make_join, send_join (v1, v2), make_leave,
send_leave (v1, v2) (spec: data/api/server-server/joins-v*.yaml, leaving-v*.yaml)."""

from __future__ import annotations

from typing import Any

from homeserver.federation.transport.server import FederationServlet, federation_patterns
from homeserver.rest.http import HomeserverRequest, parse_boolean, parse_json

ROOM = "(?P<room_id>[^/]+)"
USER = "(?P<user_id>[^/]+)"
EVENT = "(?P<event_id>[^/]+)"


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


def register_servlets(hs: Any, router: Any) -> None:
    for servlet in (MakeJoinServlet, MakeLeaveServlet, SendJoinServlet, SendJoinV1Servlet, SendLeaveServlet,
                    SendLeaveV1Servlet):
        router.register(servlet(hs))
