"""Reading events and state over federation: /event, /state, /state_ids, /event_auth, /backfill,
/get_missing_events, /timestamp_to_event (spec: data/api/server-server/events.yaml,
backfill.yaml, event_auth.yaml)."""

from __future__ import annotations

from typing import Any

from homeserver.api.errors import Codes, MatrixError
from homeserver.federation.transport.server import FederationServlet, federation_patterns
from homeserver.rest.http import HomeserverRequest, Validator, parse_integer, parse_json_object, parse_string

ROOM = "(?P<room_id>[^/]+)"
EVENT = "(?P<event_id>[^/]+)"

MISSING_EVENTS_BODY = Validator({
    "type": "object",
    "required": ["earliest_events", "latest_events"],
    "properties": {
        "earliest_events": {"type": "array", "items": {"type": "string"}, "maxItems": 100},
        "latest_events": {"type": "array", "items": {"type": "string"}, "maxItems": 100},
        "limit": {"type": "integer"},
        "min_depth": {"type": "integer"},
    },
})


def transaction(hs: Any, pdus: list[dict]) -> dict[str, Any]:
    return {"origin": hs.config.server_name, "origin_server_ts": hs.clock.time_msec(), "pdus": pdus}


class EventServlet(FederationServlet):
    PATTERNS = federation_patterns(f"/event/{EVENT}")

    async def on_GET(self, request: HomeserverRequest, event_id: str) -> tuple[int, Any]:
        origin = await self.authenticate(request)
        pdu = await self.hs.federation_read_handler.get_event(origin, event_id)
        await self.check_acl(origin, pdu["room_id"])  # not on the spec's list, but the event is a room's
        return 200, transaction(self.hs, [pdu])


class StateIdsServlet(FederationServlet):
    PATTERNS = federation_patterns(f"/state_ids/{ROOM}")

    async def on_GET(self, request: HomeserverRequest, room_id: str) -> tuple[int, Any]:
        origin = await self.authenticate(request)
        await self.check_acl(origin, room_id)
        event_id = parse_string(request, "event_id", required=True)
        state, chain = await self.hs.federation_read_handler.get_state_ids(origin, room_id, event_id)
        return 200, {"pdu_ids": state, "auth_chain_ids": chain}


class StateServlet(FederationServlet):
    PATTERNS = federation_patterns(f"/state/{ROOM}")

    async def on_GET(self, request: HomeserverRequest, room_id: str) -> tuple[int, Any]:
        origin = await self.authenticate(request)
        await self.check_acl(origin, room_id)
        event_id = parse_string(request, "event_id", required=True)
        state, chain = await self.hs.federation_read_handler.get_state(origin, room_id, event_id)
        return 200, {"pdus": state, "auth_chain": chain}


class EventAuthServlet(FederationServlet):
    PATTERNS = federation_patterns(f"/event_auth/{ROOM}/{EVENT}")

    async def on_GET(self, request: HomeserverRequest, room_id: str, event_id: str) -> tuple[int, Any]:
        origin = await self.authenticate(request)
        await self.check_acl(origin, room_id)
        return 200, {"auth_chain": await self.hs.federation_read_handler.get_event_auth(origin, room_id, event_id)}


class BackfillServlet(FederationServlet):
    PATTERNS = federation_patterns(f"/backfill/{ROOM}")

    async def on_GET(self, request: HomeserverRequest, room_id: str) -> tuple[int, Any]:
        origin = await self.authenticate(request)
        await self.check_acl(origin, room_id)
        from_ids = [v.decode("utf-8", "replace") for v in request.args.get(b"v", [])]
        limit = parse_integer(request, "limit", required=True, minimum=0)
        pdus = await self.hs.federation_read_handler.backfill(origin, room_id, from_ids, limit or 0)
        return 200, transaction(self.hs, pdus)


class MissingEventsServlet(FederationServlet):
    PATTERNS = federation_patterns(f"/get_missing_events/{ROOM}")

    async def on_POST(self, request: HomeserverRequest, room_id: str) -> tuple[int, Any]:
        origin = await self.authenticate(request)
        await self.check_acl(origin, room_id)
        body = parse_json_object(request, MISSING_EVENTS_BODY)
        events = await self.hs.federation_read_handler.get_missing_events(
            origin, room_id, body["earliest_events"], body["latest_events"], body.get("limit", 10),
            body.get("min_depth", 0))
        return 200, {"events": events}


class TimestampToEventServlet(FederationServlet):
    PATTERNS = federation_patterns(f"/timestamp_to_event/{ROOM}")

    async def on_GET(self, request: HomeserverRequest, room_id: str) -> tuple[int, Any]:
        origin = await self.authenticate(request)
        await self.check_acl(origin, room_id)
        ts = parse_integer(request, "ts", required=True, minimum=0)
        direction = parse_string(request, "dir", required=True, allowed=("f", "b"))
        if ts is None or ts > 2**63 - 1:
            raise MatrixError(400, Codes.INVALID_PARAM, "ts is out of range")
        return 200, await self.hs.federation_read_handler.timestamp_to_event(origin, room_id, ts, direction == "f")


def register_servlets(hs: Any, router: Any) -> None:
    for servlet in (EventServlet, StateIdsServlet, StateServlet, EventAuthServlet, BackfillServlet,
                    MissingEventsServlet, TimestampToEventServlet):
        router.register(servlet(hs))
