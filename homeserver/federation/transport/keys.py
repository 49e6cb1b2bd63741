"""`/_matrix/key/v2/server` (our keys) and the notary API `/_matrix/key/v2/query` (spec:
server-server "Retrieving server keys"). No authentication: key responses are self-signed."""

from __future__ import annotations

import re
from typing import Any

from homeserver.api.errors import Codes, MatrixError
from homeserver.federation.transport.server import KEY_PREFIX, federates_with
from homeserver.rest.http import HomeserverRequest, RestServlet, Validator, parse_integer, parse_json_object

MAX_QUERIED_SERVERS = 100

QUERY_BODY = Validator({
    "type": "object",
    "required": ["server_keys"],
    "properties": {
        "server_keys": {
            "type": "object",
            "maxProperties": MAX_QUERIED_SERVERS,
            "additionalProperties": {
                "type": "object",
                "maxProperties": 100,
                "additionalProperties": {
                    "type": "object",
                    "properties": {"minimum_valid_until_ts": {"type": "integer"}},
                },
            },
        },
    },
})


class ServerKeysServlet(RestServlet):
    PATTERNS = [re.compile(f"^{KEY_PREFIX}/v2/server(?:/(?P<key_id>[^/]*))?$")]

    async def on_GET(self, request: HomeserverRequest, key_id: str | None = None) -> tuple[int, Any]:
        return 200, self.hs.server_keys.response()


class KeyQueryServlet(RestServlet):
    PATTERNS = [re.compile(f"^{KEY_PREFIX}/v2/query/(?P<server_name>[^/]+)(?:/(?P<key_id>[^/]*))?$")]

    async def on_GET(self, request: HomeserverRequest, server_name: str, key_id: str | None = None
                     ) -> tuple[int, Any]:
        minimum = parse_integer(request, "minimum_valid_until_ts", default=0, minimum=0) or 0
        return 200, {"server_keys": await self._query(server_name, minimum)}

    async def _query(self, server_name: str, minimum: int) -> list[dict[str, Any]]:
        if not federates_with(self.hs, server_name):
            return []
        return await self.hs.keyring.query(server_name, minimum)


class BatchKeyQueryServlet(KeyQueryServlet):
    PATTERNS = [re.compile(f"^{KEY_PREFIX}/v2/query$")]

    async def on_POST(self, request: HomeserverRequest) -> tuple[int, Any]:
        body = parse_json_object(request, QUERY_BODY)
        out: list[dict[str, Any]] = []
        for server_name, wanted in body["server_keys"].items():
            if not isinstance(server_name, str) or not server_name or len(server_name) > 255:
                raise MatrixError(400, Codes.INVALID_PARAM, "Invalid server name")
            minimum = max((w.get("minimum_valid_until_ts", 0) for w in wanted.values()), default=0)
            out.extend(await self._query(server_name, minimum))
        return 200, {"server_keys": out}


def register_servlets(hs: Any, router: Any) -> None:
    for servlet in (ServerKeysServlet, KeyQueryServlet, BatchKeyQueryServlet):
        router.register(servlet(hs))
