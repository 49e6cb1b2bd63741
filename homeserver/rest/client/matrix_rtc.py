"""GET /_matrix/client/v1/rtc/transports (MSC4143, also at its unstable path): the RTC transports
(media back ends such as a LiveKit SFU behind lk-jwt-service) this server offers for MatrixRTC
calls, from the `matrix_rtc.transports` config, as the operator wrote them."""

from __future__ import annotations

import re
from typing import Any

from homeserver.rest.http import CLIENT_PREFIX, HomeserverRequest, RestServlet, client_patterns

UNSTABLE_PREFIX = f"{CLIENT_PREFIX}/unstable/org\\.matrix\\.msc4143"


class RtcTransportsServlet(RestServlet):
    PATTERNS = [*client_patterns("/rtc/transports", releases=(), v1=True),
                re.compile(f"^{UNSTABLE_PREFIX}/rtc/transports$")]
    # Guests join calls too, and the same list is in /.well-known/matrix/client for anyone.
    GUEST_METHODS = frozenset({"GET"})

    async def on_GET(self, request: HomeserverRequest) -> tuple[int, Any]:
        await self.auth(request)
        # None configured: an empty list (not a missing key), which clients read as "no transports".
        return 200, {"rtc_transports": [dict(t) for t in self.hs.config.matrix_rtc_transports]}


def register_servlets(hs: Any, router: Any) -> None:
    router.register(RtcTransportsServlet(hs))
