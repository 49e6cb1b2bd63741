"""The server-server API as handlers call it: one method per request we make of another server
(spec: data/api/server-server/*.yaml), its path and body built here, the answer's shape checked by
the caller. Requests go through the signed FederationHttpClient; its errors
(FederationClientError) reach the caller."""

from __future__ import annotations

from typing import Any, Protocol

from homeserver.federation.client import FederationError, quote

V1 = "/_matrix/federation/v1"
V2 = "/_matrix/federation/v2"


class JsonClient(Protocol):
    async def get_json(self, destination: str, path: str, query: dict[str, Any] | None = None) -> Any: ...

    async def put_json(self, destination: str, path: str, body: Any, query: dict[str, Any] | None = None) -> Any: ...

    async def post_json(self, destination: str, path: str, body: Any) -> Any: ...


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
            if e.code not in (400, 404) or e.errcode not in (None, "M_UNRECOGNIZED"):
                raise
        answer = await self._client.put_json(destination, V1 + path, pdu)
        return answer[1] if isinstance(answer, list) and len(answer) == 2 else answer

    async def query_directory(self, destination: str, alias: str) -> Any:
        return await self._client.get_json(destination, f"{V1}/query/directory", {"room_alias": alias})

    async def backfill(self, destination: str, room_id: str, event_ids: list[str], limit: int) -> Any:
        return await self._client.get_json(destination, f"{V1}/backfill/{quote(room_id)}",
                                           {"v": event_ids, "limit": str(limit)})

    async def get_event_auth(self, destination: str, room_id: str, event_id: str) -> Any:
        return await self._client.get_json(destination, f"{V1}/event_auth/{quote(room_id)}/{quote(event_id)}")
