"""Typing, receipts and read markers."""

from __future__ import annotations

from typing import Any

from homeserver.rest.client.rooms import check_room_id, check_user_id
from homeserver.rest.http import HomeserverRequest, RestServlet, Validator, client_patterns, parse_json_object

TYPING_BODY = Validator({
    "type": "object", "required": ["typing"],
    "properties": {"typing": {"type": "boolean"}, "timeout": {"type": "integer", "minimum": 0}},
})
RECEIPT_BODY = Validator({"type": "object", "properties": {"thread_id": {"type": "string", "minLength": 1}}})


class TypingServlet(RestServlet):
    PATTERNS = client_patterns("/rooms/(?P<room_id>[^/]+)/typing/(?P<user_id>[^/]+)")

    async def on_PUT(self, request: HomeserverRequest, room_id: str, user_id: str) -> tuple[int, Any]:
        requester = await self.auth(request)
        body = parse_json_object(request, TYPING_BODY)
        await self.hs.typing_handler.set_typing(
            requester.user_id, check_user_id(user_id), check_room_id(room_id), body["typing"],
            body.get("timeout", 30_000))
        return 200, {}


class ReceiptServlet(RestServlet):
    PATTERNS = client_patterns("/rooms/(?P<room_id>[^/]+)/receipt/(?P<receipt_type>[^/]+)/(?P<event_id>[^/]+)")

    async def on_POST(self, request: HomeserverRequest, room_id: str, receipt_type: str,
                      event_id: str) -> tuple[int, Any]:
        requester = await self.auth(request)
        body = parse_json_object(request, RECEIPT_BODY, allow_empty=True)
        await self.hs.receipts_handler.receipt(requester.user_id, check_room_id(room_id), receipt_type, event_id,
                                               body.get("thread_id"))
        return 200, {}


class ReadMarkersServlet(RestServlet):
    PATTERNS = client_patterns("/rooms/(?P<room_id>[^/]+)/read_markers")

    async def on_POST(self, request: HomeserverRequest, room_id: str) -> tuple[int, Any]:
        requester = await self.auth(request)
        body = parse_json_object(request)
        await self.hs.receipts_handler.read_markers(requester.user_id, check_room_id(room_id), body)
        return 200, {}


def register_servlets(hs: Any, router: Any) -> None:
    for servlet in (TypingServlet, ReceiptServlet, ReadMarkersServlet):
        router.register(servlet(hs))
