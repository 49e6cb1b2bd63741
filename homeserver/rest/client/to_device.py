"""PUT /sendToDevice/{eventType}/{txnId}."""

from __future__ import annotations

from typing import Any

from homeserver.rest.http import HomeserverRequest, RestServlet, Validator, client_patterns, parse_json_object

SEND_TO_DEVICE_BODY = Validator({
    "type": "object", "required": ["messages"],
    "properties": {"messages": {
        "type": "object",
        # user ID -> device ID (or "*") -> content
        "additionalProperties": {"type": "object", "additionalProperties": {"type": "object"}},
    }},
})


class SendToDeviceServlet(RestServlet):
    PATTERNS = client_patterns("/sendToDevice/(?P<event_type>[^/]+)/(?P<txn_id>[^/]+)")
    GUEST_METHODS = frozenset({"PUT"})

    async def on_PUT(self, request: HomeserverRequest, event_type: str, txn_id: str) -> tuple[int, Any]:
        requester = await self.auth(request)
        body = parse_json_object(request, SEND_TO_DEVICE_BODY)
        await self.hs.to_device_handler.send(requester.user_id, requester.device_id, txn_id, event_type,
                                             body["messages"])
        return 200, {}


def register_servlets(hs: Any, router: Any) -> None:
    router.register(SendToDeviceServlet(hs))
