"""GET /_matrix/client/versions and /capabilities."""

from __future__ import annotations

import re
from typing import Any

from homeserver.events.room_versions import CREATABLE_ROOM_VERSIONS
from homeserver.rest.http import HomeserverRequest, RestServlet, client_patterns

# The spec releases whose client-server API this server speaks.
SUPPORTED_SPEC_VERSIONS = [
    "r0.0.1", "r0.1.0", "r0.2.0", "r0.3.0", "r0.4.0", "r0.5.0", "r0.6.0", "r0.6.1",
    "v1.1", "v1.2", "v1.3", "v1.4", "v1.5", "v1.6", "v1.7", "v1.8", "v1.9", "v1.10", "v1.11", "v1.12",
]

# The unstable features (MSCs) this server implements, advertised in /versions.
UNSTABLE_FEATURES = {
    "org.matrix.msc3266": True,  # room summary: js-sdk uses /v1/room_summary only with this (or v1.15)
    "org.matrix.msc3814": True,  # dehydrated devices
    "org.matrix.msc4143": True,  # MatrixRTC transports (/rtc/transports)
    "org.matrix.msc4222": True,  # state_after in /sync
    # Simplified sliding sync (MSC4186): Element X says "homeserver not supported" without it.
    "org.matrix.simplified_msc3575": True,
}


class VersionsServlet(RestServlet):
    PATTERNS = [re.compile("^/_matrix/client/versions$")]

    async def on_GET(self, request: HomeserverRequest) -> tuple[int, Any]:
        features = dict(UNSTABLE_FEATURES)
        # Delayed events: without this flag matrix-js-sdk joins calls with no delayed "leave".
        features["org.matrix.msc4140"] = self.hs.delayed_events_handler.enabled
        return 200, {"versions": SUPPORTED_SPEC_VERSIONS, "unstable_features": features}


class CapabilitiesServlet(RestServlet):
    PATTERNS = client_patterns("/capabilities")
    GUEST_METHODS = frozenset({"GET"})

    async def on_GET(self, request: HomeserverRequest) -> tuple[int, Any]:
        await self.auth(request)
        config = self.hs.config
        capabilities: dict[str, Any] = {}
        delayed = self.hs.delayed_events_handler
        if delayed.enabled:
            capabilities["org.matrix.msc4140.delayed_events"] = {
                "max_delay_ms": delayed.settings.max_delay_ms, "max_scheduled": delayed.settings.max_per_user}
        return 200, {
            "capabilities": {
                **capabilities,
                "m.room_versions": {
                    "default": config.default_room_version,
                    # Only versions rooms can be created in here: clients offer these for upgrades.
                    "available": {v.identifier: v.stability for v in CREATABLE_ROOM_VERSIONS},
                },
                "m.change_password": {"enabled": config.password_enabled},
                "m.set_displayname": {"enabled": True},
                "m.set_avatar_url": {"enabled": True},
                "m.3pid_changes": {"enabled": self.hs.threepid_handler.email_enabled},
                "m.get_login_token": {"enabled": config.login_via_existing_session_enabled},
            }
        }


def register_servlets(hs: Any, router: Any) -> None:
    for servlet in (VersionsServlet, CapabilitiesServlet):
        router.register(servlet(hs))
