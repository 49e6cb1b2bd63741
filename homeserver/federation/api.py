"""The server-server API as handlers call it: one method per request we make of another server
(spec: data/api/server-server/*.yaml), its path and body built here, the answer's shape checked by
the caller. Requests go through the signed FederationHttpClient; its errors
(FederationClientError) reach the caller."""

from __future__ import annotations

from typing import Any, Protocol

from homeserver.federation.client import FederationError, quote

MEDIA_V3 = "/_matrix/media/v3"

V1 = "/_matrix/federation/v1"
V2 = "/_matrix/federation/v2"


class JsonClient(Protocol):
    async def get_json(self, destination: str, path: str, query: dict[str, Any] | None = None) -> Any: ...

    async def put_json(self, destination: str, path: str, body: Any, query: dict[str, Any] | None = None) -> Any: ...

    async def post_json(self, destination: str, path: str, body: Any) -> Any: ...

    async def get_raw(self, destination: str, path: str, query: dict[str, Any] | None = None, *,
                      max_response_size: int, timeout_s: float | None = None) -> Any: ...


def unknown_endpoint(e: FederationError) -> bool:
    """The peer does not serve the endpoint, or that version of it (an older server): 404, 405 or
    400 without a Matrix error code or with M_UNRECOGNIZED."""
    return e.code in (400, 404, 405) and e.errcode in (None, "M_UNRECOGNIZED")


def _v1_answer(answer: Any) -> Any:
    """v1 send_join/send_leave/invite answer [200, object]."""
    return answer[1] if isinstance(answer, list) and len(answer) == 2 else answer


class FederationApi:
    def __init__(self, client: JsonClient):
        self._client = client

    async def send_transaction(self, destination: str, txn_id: str, body: dict[str, Any]) -> Any:
        return await self._client.put_json(destination, f"{V1}/send/{quote(txn_id)}", body)

    async def get_missing_events(self, destination: str, room_id: str, earliest: list[str], latest: list[str],
                                 limit: int, min_depth: int) -> Any:
        body = {"earliest_events": earliest, "latest_events": latest, "limit": limit, "min_depth": min_depth}
        return await self._client.post_json(destination, f"{V1}/get_missing_events/{quote(room_id)}", body)

    async def make_join(self, destination: str, room_id: str, user_id: str, versions: list[str]) -> Any:
        return await self._client.get_json(destination, f"{V1}/make_join/{quote(room_id)}/{quote(user_id)}",
                                           {"ver": versions})

    async def send_join(self, destination: str, room_id: str, event_id: str, pdu: dict[str, Any]) -> Any:
        """send_join v2 (the answer's object), falling back to v1 (whose answer is [200, object])
        for a server that does not know v2."""
        path = f"/send_join/{quote(room_id)}/{quote(event_id)}"
        try:
            return await self._client.put_json(destination, V2 + path, pdu)
        except FederationError as e:
            if not unknown_endpoint(e):
                raise
        return _v1_answer(await self._client.put_json(destination, V1 + path, pdu))

    async def query_directory(self, destination: str, alias: str) -> Any:
        return await self._client.get_json(destination, f"{V1}/query/directory", {"room_alias": alias})

    async def make_leave(self, destination: str, room_id: str, user_id: str) -> Any:
        return await self._client.get_json(destination, f"{V1}/make_leave/{quote(room_id)}/{quote(user_id)}")

    async def send_leave(self, destination: str, room_id: str, event_id: str, pdu: dict[str, Any]) -> Any:
        path = f"/send_leave/{quote(room_id)}/{quote(event_id)}"
        try:
            return await self._client.put_json(destination, V2 + path, pdu)
        except FederationError as e:
            if not unknown_endpoint(e):
                raise
        return _v1_answer(await self._client.put_json(destination, V1 + path, pdu))

    async def invite(self, destination: str, room_id: str, event_id: str, room_version: str, pdu: dict[str, Any],
                     stripped_state: list[dict[str, Any]]) -> Any:
        """invite v2 (the answer's object), falling back to v1 (the event with its stripped state
        in `unsigned`; the answer [200, object]) for rooms 1-2 on a server that lacks v2."""
        path = f"/invite/{quote(room_id)}/{quote(event_id)}"
        body = {"room_version": room_version, "event": pdu, "invite_room_state": stripped_state}
        try:
            return await self._client.put_json(destination, V2 + path, body)
        except FederationError as e:
            if room_version not in ("1", "2") or not unknown_endpoint(e):
                raise
        return _v1_answer(await self._client.put_json(
            destination, V1 + path, {**pdu, "unsigned": {"invite_room_state": stripped_state}}))

    async def get_hierarchy(self, destination: str, room_id: str, suggested_only: bool) -> Any:
        return await self._client.get_json(destination, f"{V1}/hierarchy/{quote(room_id)}",
                                           {"suggested_only": "true" if suggested_only else "false"})

    async def get_state(self, destination: str, room_id: str, event_id: str) -> Any:
        """The room's state before `event_id`, and its auth chain: {pdus, auth_chain}."""
        return await self._client.get_json(destination, f"{V1}/state/{quote(room_id)}", {"event_id": event_id})

    async def get_event(self, destination: str, event_id: str) -> Any:
        """A transaction holding the one event: {origin, origin_server_ts, pdus: [pdu]}."""
        return await self._client.get_json(destination, f"{V1}/event/{quote(event_id)}")

    async def make_knock(self, destination: str, room_id: str, user_id: str, versions: list[str]) -> Any:
        return await self._client.get_json(destination, f"{V1}/make_knock/{quote(room_id)}/{quote(user_id)}",
                                           {"ver": versions})

    async def send_knock(self, destination: str, room_id: str, event_id: str, pdu: dict[str, Any]) -> Any:
        return await self._client.put_json(destination, f"{V1}/send_knock/{quote(room_id)}/{quote(event_id)}", pdu)

    async def public_rooms(self, destination: str, body: dict[str, Any]) -> Any:
        return await self._client.post_json(destination, f"{V1}/publicRooms", body)

    async def query_profile(self, destination: str, user_id: str, field: str | None = None) -> Any:
        query = {"user_id": user_id, **({"field": field} if field is not None else {})}
        return await self._client.get_json(destination, f"{V1}/query/profile", query)
    async def backfill(self, destination: str, room_id: str, event_ids: list[str], limit: int) -> Any:
        return await self._client.get_json(destination, f"{V1}/backfill/{quote(room_id)}",
                                           {"v": event_ids, "limit": str(limit)})

    async def get_event_auth(self, destination: str, room_id: str, event_id: str) -> Any:
        return await self._client.get_json(destination, f"{V1}/event_auth/{quote(room_id)}/{quote(event_id)}")

    async def query_keys(self, destination: str, device_keys: dict[str, list[str]]) -> Any:
        return await self._client.post_json(destination, f"{V1}/user/keys/query", {"device_keys": device_keys})

    async def get_user_devices(self, destination: str, user_id: str) -> Any:
        return await self._client.get_json(destination, f"{V1}/user/devices/{quote(user_id)}")

    async def claim_keys(self, destination: str, one_time_keys: dict[str, dict[str, str]]) -> Any:
        return await self._client.post_json(destination, f"{V1}/user/keys/claim", {"one_time_keys": one_time_keys})

    async def download_media(self, destination: str, media_id: str, max_size: int,
                             timeout_ms: int | None = None) -> Any:
        """The multipart/mixed answer of `/media/download/{mediaId}` (an OutboundResponse)."""
        query = {"timeout_ms": str(timeout_ms)} if timeout_ms is not None else None
        return await self._client.get_raw(destination, f"{V1}/media/download/{quote(media_id)}", query,
                                          max_response_size=max_size)

    async def download_media_legacy(self, destination: str, media_id: str, max_size: int,
                                    timeout_ms: int | None = None) -> Any:
        """The plain answer of an older server's `/_matrix/media/v3/download/{origin}/{mediaId}`
        (allow_remote=false: it must not fetch from elsewhere on our behalf)."""
        query = {"allow_remote": "false"}
        if timeout_ms is not None:
            query["timeout_ms"] = str(timeout_ms)
        return await self._client.get_raw(destination, f"{MEDIA_V3}/download/{quote(destination)}/{quote(media_id)}",
                                          query, max_response_size=max_size)
