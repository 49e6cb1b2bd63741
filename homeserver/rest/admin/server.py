"""Admin API about the server and its reports, with Synapse's paths (docs/admin_api.md): event
reports (list, details, delete), server notices, the server's version, background updates."""

from __future__ import annotations

from typing import Any

from homeserver import __version__
from homeserver.api.errors import Codes, MatrixError
from homeserver.handlers.user_admin import Page
from homeserver.rest.admin.users import admin_patterns
from homeserver.rest.http import (
    HomeserverRequest,
    RestServlet,
    Router,
    Validator,
    parse_integer,
    parse_json_object,
    parse_string,
)

DEFAULT_LIMIT = 100
NOTICE_BODY = Validator({
    "type": "object", "required": ["user_id", "content"],
    "properties": {"user_id": {"type": "string"}, "content": {"type": "object"},
                   "type": {"type": "string", "minLength": 1, "maxLength": 255},
                   "state_key": {"type": "string", "maxLength": 255}},
})


def _report_id(raw: str) -> int:
    if not raw.isdigit() or len(raw) > 18:
        raise MatrixError(400, Codes.INVALID_PARAM, "The report_id parameter must be a string representing a "
                                                    "positive integer.")
    return int(raw)


class EventReportsServlet(RestServlet):
    PATTERNS = admin_patterns("/event_reports")

    async def on_GET(self, request: HomeserverRequest) -> tuple[int, Any]:
        await self.auth_admin(request)
        offset = parse_integer(request, "from", default=0, minimum=0) or 0
        limit = parse_integer(request, "limit", default=DEFAULT_LIMIT, minimum=0)
        backwards = parse_string(request, "dir", default="b", allowed=("f", "b")) == "b"  # newest first
        page = Page(offset, DEFAULT_LIMIT if limit is None else limit, "received_ts", backwards)
        return 200, await self.hs.room_admin_handler.event_reports(
            page, parse_string(request, "room_id"), parse_string(request, "user_id"),
            parse_string(request, "event_sender_user_id"))


class EventReportServlet(RestServlet):
    PATTERNS = admin_patterns("/event_reports/(?P<report_id>[^/]+)")

    async def on_GET(self, request: HomeserverRequest, report_id: str) -> tuple[int, Any]:
        await self.auth_admin(request)
        return 200, await self.hs.room_admin_handler.event_report(_report_id(report_id))

    async def on_DELETE(self, request: HomeserverRequest, report_id: str) -> tuple[int, Any]:
        await self.auth_admin(request)
        await self.hs.room_admin_handler.delete_event_report(_report_id(report_id))
        return 200, {}


class SendServerNoticeServlet(RestServlet):
    PATTERNS = admin_patterns("/send_server_notice(?:/(?P<txn_id>[^/]+))?")

    async def _send(self, request: HomeserverRequest, txn_id: str | None) -> tuple[int, Any]:
        requester = await self.auth_admin(request)
        body = parse_json_object(request, NOTICE_BODY)
        event_id = await self.hs.server_notices_handler.send_notice(
            requester.user_id, body["user_id"], body.get("type", "m.room.message"), body["content"],
            body.get("state_key"), txn_id)
        return 200, {"event_id": event_id}

    async def on_POST(self, request: HomeserverRequest, txn_id: str | None = None) -> tuple[int, Any]:
        return await self._send(request, None)

    async def on_PUT(self, request: HomeserverRequest, txn_id: str | None = None) -> tuple[int, Any]:
        if txn_id is None:
            raise MatrixError(405, Codes.UNRECOGNIZED, "PUT needs a transaction ID")
        return await self._send(request, txn_id)


class ServerVersionServlet(RestServlet):
    """Unauthenticated, as Synapse serves it."""

    PATTERNS = admin_patterns("/server_version")

    async def on_GET(self, request: HomeserverRequest) -> tuple[int, Any]:
        return 200, {"server_version": __version__}


class BackgroundUpdatesStatusServlet(RestServlet):
    """Synapse's database background updates: this server has none (its migrations run at
    start-up, before it serves), so the answer is always an empty list. Room deletions have their
    own status endpoints."""

    PATTERNS = admin_patterns("/background_updates/status")

    async def on_GET(self, request: HomeserverRequest) -> tuple[int, Any]:
        await self.auth_admin(request)
        return 200, {"enabled": True, "current_updates": {}}


def register_servlets(hs: Any, router: Router) -> None:
    for servlet in (EventReportsServlet, EventReportServlet, SendServerNoticeServlet, ServerVersionServlet,
                    BackgroundUpdatesStatusServlet):
        router.register(servlet(hs))
