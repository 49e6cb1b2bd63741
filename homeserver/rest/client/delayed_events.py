"""Managing delayed events (MSC4140): cancel, restart or send one (by path, or the older form with
the action in the body), list one's own. Scheduling is a query parameter of the ordinary send and
state endpoints (rooms.py). The management endpoints take an access token but do not need one:
the delay ID is the capability (lk-jwt-service restarts and sends without a token)."""

from __future__ import annotations

from typing import Any

from homeserver.api.errors import Codes, MatrixError, missing_param
from homeserver.handlers.auth import Requester
from homeserver.handlers.delayed_events import ACTIONS
from homeserver.rest.http import (
    HomeserverRequest,
    RestServlet,
    client_patterns,
    parse_json_object,
    parse_string,
)

PREFIX = "/org.matrix.msc4140/delayed_events"
DELAY_ID = "(?P<delay_id>[^/]+)"
ALL_METHODS = frozenset({"GET", "POST"})


def _patterns(path: str) -> list:
    return client_patterns(PREFIX + path, releases=(), unstable=True)


def _rate_limit_key(request: HomeserverRequest, requester: Requester | None) -> str:
    return requester.user_id if requester is not None else f"ip:{request.client_ip()}"


class DelayedEventActionServlet(RestServlet):
    PATTERNS = _patterns(f"/{DELAY_ID}/(?P<action>{'|'.join(ACTIONS)})")
    GUEST_METHODS = ALL_METHODS

    async def on_POST(self, request: HomeserverRequest, delay_id: str, action: str) -> tuple[int, Any]:
        requester = await self.optional_auth(request)
        parse_json_object(request, allow_empty=True)  # {} (or nothing, as matrix-js-sdk sends)
        await self.hs.delayed_events_handler.update(delay_id, action, _rate_limit_key(request, requester))
        return 200, {}


class DelayedEventServlet(RestServlet):
    """POST with {"action": ...}: the form before the action moved into the path."""

    PATTERNS = _patterns(f"/{DELAY_ID}")
    GUEST_METHODS = ALL_METHODS

    async def on_POST(self, request: HomeserverRequest, delay_id: str) -> tuple[int, Any]:
        requester = await self.optional_auth(request)
        body = parse_json_object(request, allow_empty=True)
        action = body.get("action")
        if action is None:
            raise missing_param("action")
        if action not in ACTIONS:
            raise MatrixError(400, Codes.INVALID_PARAM, f"action must be one of {', '.join(ACTIONS)}")
        await self.hs.delayed_events_handler.update(delay_id, action, _rate_limit_key(request, requester))
        return 200, {}

    async def on_GET(self, request: HomeserverRequest, delay_id: str) -> tuple[int, Any]:
        requester = await self.auth(request)
        found = await self.hs.delayed_events_handler.get_for_user(requester.user_id, delay_id)
        if not found:
            raise MatrixError(404, Codes.NOT_FOUND, "No delayed event with that ID")
        return 200, found[0]


class DelayedEventsServlet(RestServlet):
    PATTERNS = _patterns("")
    GUEST_METHODS = ALL_METHODS

    async def on_GET(self, request: HomeserverRequest) -> tuple[int, Any]:
        requester = await self.auth(request)
        # Only scheduled events are kept: a query for finalised ones finds none.
        status = parse_string(request, "status", allowed=("scheduled", "finalised"))
        events = [] if status == "finalised" else await self.hs.delayed_events_handler.get_for_user(
            requester.user_id, parse_string(request, "delay_id"))
        return 200, {"delayed_events": events}


def register_servlets(hs: Any, router: Any) -> None:
    for servlet in (DelayedEventActionServlet, DelayedEventServlet, DelayedEventsServlet):
        router.register(servlet(hs))
