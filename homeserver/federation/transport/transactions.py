"""`PUT /_matrix/federation/v1/send/{txnId}`: a transaction of PDUs and EDUs pushed to us by
another server (spec: data/api/server-server/transactions.yaml)."""

from __future__ import annotations

from typing import Any

from homeserver.federation.transport.server import FederationServlet, federation_body, federation_patterns
from homeserver.rest.http import HomeserverRequest, Validator

TRANSACTION_BODY = Validator({
    "type": "object",
    "required": ["pdus"],
    "properties": {
        "origin": {"type": "string"},
        "origin_server_ts": {"type": "integer"},
        "pdus": {"type": "array"},
        "edus": {"type": "array"},
    },
})


class TransactionServlet(FederationServlet):
    PATTERNS = federation_patterns("/send/(?P<txn_id>[^/]+)")

    async def on_PUT(self, request: HomeserverRequest, txn_id: str) -> tuple[int, Any]:
        origin = await self.authenticate(request)
        body = federation_body(request, TRANSACTION_BODY)
        return 200, await self.hs.federation_event_handler.on_transaction(origin, txn_id, body)


def register_servlets(hs: Any, router: Any) -> None:
    router.register(TransactionServlet(hs))
