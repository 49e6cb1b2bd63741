"""/.well-known/matrix/client, /server (server discovery) and /support (who runs this server)."""

from __future__ import annotations

import re
from typing import Any

from homeserver.api.errors import not_found
from homeserver.api.identifiers import split_server_name
from homeserver.rest.http import HomeserverRequest, RestServlet

RTC_FOCI = "org.matrix.msc4143.rtc_foci"


class ClientWellKnownServlet(RestServlet):
    PATTERNS = [re.compile("^/.well-known/matrix/client$")]

    async def on_GET(self, request: HomeserverRequest) -> tuple[int, Any]:
        config = self.hs.config
        body: dict[str, Any] = {}
        if config.matrix_rtc_transports:
            # MSC4143's older discovery, still read by Element Web/X and older Element Call (the
            # first entry is used). An operator's own value in extra_well_known_client_content wins.
            body[RTC_FOCI] = [dict(t) for t in config.matrix_rtc_transports]
        body.update(config.extra_well_known_client_content)
        body["m.homeserver"] = {"base_url": config.public_baseurl}
        return 200, body


class ServerWellKnownServlet(RestServlet):
    PATTERNS = [re.compile("^/.well-known/matrix/server$")]

    async def on_GET(self, request: HomeserverRequest) -> tuple[int, Any]:
        if not self.hs.config.serve_server_wellknown:
            raise not_found("No .well-known/matrix/server is configured")
        # Delegation to port 443 of the server name's host, unless the name carries its own port.
        host, port = split_server_name(self.hs.config.server_name)
        return 200, {"m.server": f"{host}:{port or 443}"}


class SupportWellKnownServlet(RestServlet):
    PATTERNS = [re.compile("^/.well-known/matrix/support$")]

    async def on_GET(self, request: HomeserverRequest) -> tuple[int, Any]:
        if self.hs.config.server_support is None:
            raise not_found("No support contacts are configured")
        return 200, self.hs.config.server_support


def register_servlets(hs: Any, router: Any) -> None:
    for servlet in (ClientWellKnownServlet, ServerWellKnownServlet, SupportWellKnownServlet):
        router.register(servlet(hs))
