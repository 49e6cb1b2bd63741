"""HTTP to push gateways: POST a notification to `/_matrix/push/v1/notify`, read back `rejected`.

The requests go through the outgoing-HTTP guard (homeserver/outbound): a pusher's URL is chosen by
a user, so it may only reach addresses `ip_range_blacklist`/`ip_range_whitelist` allow. Redirects
are not followed."""

from __future__ import annotations

import json
import logging
from typing import Any

from homeserver.events.hashing import encode_canonical_json
from homeserver.outbound import (
    AddressRefused,
    IpRangePolicy,
    OutboundError,
    OutboundHttp,
    ResponseTooLarge,
    TlsSettings,
)

logger = logging.getLogger(__name__)

MAX_RESPONSE_SIZE = 64 * 1024
USER_AGENT = b"MatrixHomeserver push"


class PushGatewayError(Exception):
    """The gateway could not be reached, timed out, or answered with an error: worth a retry."""


class PushGatewayClient:
    """One connection pool for every pusher (gateways are few; connections are kept alive)."""

    def __init__(self, outbound: OutboundHttp, policy: IpRangePolicy, timeout_s: float,
                 tls: TlsSettings | None = None):
        self._client = outbound.client(policy=policy, tls=tls, timeout_s=timeout_s,
                                       max_response_size=MAX_RESPONSE_SIZE, max_redirects=0,
                                       user_agent=USER_AGENT, persistent=True)

    async def notify(self, url: str, body: dict[str, Any]) -> list[str]:
        """POST `body`; the pushkeys the gateway rejected. Raises PushGatewayError."""
        try:
            response = await self._client.post(url, encode_canonical_json(body),
                                               headers={"Content-Type": "application/json"})
        except AddressRefused as e:
            raise PushGatewayError(f"Refused: {e}") from None
        except ResponseTooLarge:
            raise PushGatewayError("The answer is too large") from None
        except OutboundError as e:
            raise PushGatewayError(str(e)) from None
        if not 200 <= response.code < 300:
            raise PushGatewayError(f"HTTP {response.code}")
        try:
            answer = json.loads(response.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            logger.info("Push gateway %s answered %s with a body that is not JSON", url, response.code)
            return []
        rejected = answer.get("rejected") if isinstance(answer, dict) else None
        return [k for k in rejected if isinstance(k, str)] if isinstance(rejected, list) else []

    async def close(self) -> None:
        """Close the kept-alive connections (at shutdown)."""
        await self._client.close()
