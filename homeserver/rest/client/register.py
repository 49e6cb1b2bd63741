"""POST /register (and its helpers /register/available, registration token validity)."""

from __future__ import annotations

from typing import Any

from homeserver.api.errors import Codes, MatrixError, forbidden
from homeserver.rest.http import (
    HomeserverRequest,
    RestServlet,
    Validator,
    client_patterns,
    operation_path,
    parse_json_object,
    parse_string,
)

REGISTER_BODY = Validator({
    "type": "object",
    "properties": {
        "username": {"type": "string"},
        "password": {"type": "string", "maxLength": 512},
        "device_id": {"type": "string", "minLength": 1, "maxLength": 255},
        "initial_device_display_name": {"type": "string", "maxLength": 512},
        "inhibit_login": {"type": "boolean"},
        "refresh_token": {"type": "boolean"},
        "auth": {"type": "object"},
        "guest_access_token": {"type": "string", "maxLength": 1024},
    },
})


class RegisterServlet(RestServlet):
    PATTERNS = client_patterns("/register")

    async def on_GET(self, request: HomeserverRequest) -> tuple[int, Any]:
        """Not in the spec: tells a client which flows POST will ask for, without starting a session."""
        if not self.hs.config.enable_registration:
            raise forbidden("Registration has been disabled")
        return 200, {"flows": [{"stages": f} for f in self.hs.registration_handler.flows()], "params": {}}

    async def on_POST(self, request: HomeserverRequest) -> tuple[int, Any]:
        kind = parse_string(request, "kind", default="user", allowed=("user", "guest"))
        body = parse_json_object(request, REGISTER_BODY)
        if kind == "guest":
            if not self.hs.config.allow_guest_access:
                raise MatrixError(403, Codes.GUEST_ACCESS_FORBIDDEN, "Guest access is disabled")
            self.hs.registration_limiter.check(request.client_ip())
            return 200, await self.hs.registration_handler.register_guest(body)
        self.hs.registration_limiter.check(request.client_ip())
        result = await self.hs.registration_handler.register_via_uia(body, "POST", operation_path(request))
        return 200, result


class UsernameAvailableServlet(RestServlet):
    PATTERNS = client_patterns("/register/available")

    async def on_GET(self, request: HomeserverRequest) -> tuple[int, Any]:
        self.hs.registration_limiter.check(request.client_ip())
        username = parse_string(request, "username", required=True)
        await self.hs.registration_handler.check_username_available(username)
        return 200, {"available": True}


class RegistrationTokenValidityServlet(RestServlet):
    PATTERNS = client_patterns("/register/m.login.registration_token/validity", releases=(), v1=True)

    async def on_GET(self, request: HomeserverRequest) -> tuple[int, Any]:
        self.hs.registration_token_validity_limiter.check(request.client_ip())
        token = parse_string(request, "token", required=True)
        if not self.hs.config.enable_registration:
            raise forbidden("Registration has been disabled")
        valid = await self.hs.registration_tokens_store.is_valid(token, self.hs.clock.time_msec())
        return 200, {"valid": valid}


def register_servlets(hs: Any, router: Any) -> None:
    for servlet in (RegisterServlet, UsernameAvailableServlet, RegistrationTokenValidityServlet):
        router.register(servlet(hs))
