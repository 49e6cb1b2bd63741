"""HTTP to push gateways: POST a notification to `/_matrix/push/v1/notify`, read back `rejected`."""

from __future__ import annotations

import json
import logging
from typing import Any

import treq
from twisted.internet import defer
from twisted.web.client import Agent, HTTPConnectionPool

from homeserver.events.hashing import encode_canonical_json

logger = logging.getLogger(__name__)

MAX_RESPONSE_SIZE = 64 * 1024
USER_AGENT = b"MatrixHomeserver push"


class PushGatewayError(Exception):
    """The gateway could not be reached, timed out, or answered with an error: worth a retry."""


class _TooBig(Exception):
    pass


class PushGatewayClient:
    """One connection pool for every pusher (gateways are few; connections are kept alive)."""

    def __init__(self, reactor: Any, timeout_s: float):
        self._reactor = reactor
        self._timeout_s = timeout_s
        self._pool = HTTPConnectionPool(reactor, persistent=True)
        self._pool.maxPersistentPerHost = 5
        self._client = treq.client.HTTPClient(Agent(reactor, connectTimeout=timeout_s, pool=self._pool))

    async def notify(self, url: str, body: dict[str, Any]) -> list[str]:
        """POST `body`; the pushkeys the gateway rejected. Raises PushGatewayError."""
        try:
            response = await defer.ensureDeferred(self._post(url, body)).addTimeout(self._timeout_s, self._reactor)
        except PushGatewayError:
            raise
        except Exception as e:  # refused, reset, DNS, timeout, TLS...
            raise PushGatewayError(f"{type(e).__name__}: {e}") from None
        code, raw = response
        if not 200 <= code < 300:
            raise PushGatewayError(f"HTTP {code}")
        try:
            answer = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            logger.info("Push gateway %s answered %s with a body that is not JSON", url, code)
            return []
        rejected = answer.get("rejected") if isinstance(answer, dict) else None
        return [k for k in rejected if isinstance(k, str)] if isinstance(rejected, list) else []

    async def _post(self, url: str, body: dict[str, Any]) -> tuple[int, bytes]:
        response = await self._client.post(
            url, data=encode_canonical_json(body),
            headers={b"Content-Type": [b"application/json"], b"User-Agent": [USER_AGENT]})
        chunks: list[bytes] = []
        size = [0]

        def collect(data: bytes) -> None:
            size[0] += len(data)
            if size[0] > MAX_RESPONSE_SIZE:
                raise _TooBig()
            chunks.append(data)

        try:
            await treq.collect(response, collect)
        except _TooBig:
            raise PushGatewayError("The answer is too large") from None
        return response.code, b"".join(chunks)

    async def close(self) -> None:
        """Close the kept-alive connections (at shutdown)."""
        await self._pool.closeCachedConnections()
