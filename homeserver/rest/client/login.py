"""/login, /login/get_token, /refresh, /logout, /logout/all."""

from __future__ import annotations

from typing import Any

from homeserver.api.errors import forbidden
from homeserver.handlers.uia import PASSWORD
from homeserver.rest.http import (
    HomeserverRequest,
    RestServlet,
    Validator,
    client_patterns,
    operation_path,
    parse_json_object,
)

LOGIN_BODY = Validator({
    "type": "object",
    "required": ["type"],
    "properties": {
        "type": {"type": "string"},
        "identifier": {"type": "object", "properties": {"type": {"type": "string"}}, "required": ["type"]},
        "user": {"type": "string"},
        "password": {"type": "string"},
        "token": {"type": "string"},
        "device_id": {"type": "string", "minLength": 1, "maxLength": 255},
        "initial_device_display_name": {"type": "string", "maxLength": 512},
        "refresh_token": {"type": "boolean"},
    },
})
REFRESH_BODY = Validator({
    "type": "object", "required": ["refresh_token"], "properties": {"refresh_token": {"type": "string"}},
})
AUTH_ONLY_BODY = Validator({"type": "object", "properties": {"auth": {"type": "object"}}})


class LoginServlet(RestServlet):
    PATTERNS = client_patterns("/login")

    async def on_GET(self, request: HomeserverRequest) -> tuple[int, Any]:
        return 200, {"flows": self.hs.login_handler.flows()}

    async def on_POST(self, request: HomeserverRequest) -> tuple[int, Any]:
        body = parse_json_object(request, LOGIN_BODY)
        self.hs.login_address_limiter.check(request.client_ip())
        return 200, await self.hs.login_handler.login(body)


class LoginTokenServlet(RestServlet):
    PATTERNS = client_patterns("/login/get_token", releases=(), v1=True)

    async def on_POST(self, request: HomeserverRequest) -> tuple[int, Any]:
        config = self.hs.config
        if not config.login_via_existing_session_enabled:
            raise forbidden("Login via an existing session is disabled")
        requester = await self.auth(request)
        body = parse_json_object(request, AUTH_ONLY_BODY, allow_empty=True)
        session_id = None
        if config.login_via_existing_session_require_ui_auth:
            session_id, _, _ = await self.hs.uia_handler.check(
                body, "POST", operation_path(request), [[PASSWORD]], requester.user_id
            )
        token, lifetime = await self.hs.session_handler.mint_login_token(
            requester.user_id, config.login_via_existing_session_token_timeout_ms
        )
        if session_id:
            await self.hs.uia_handler.finish(session_id)
        return 200, {"login_token": token, "expires_in_ms": lifetime}


class RefreshServlet(RestServlet):
    PATTERNS = client_patterns("/refresh", releases=("v3",), v1=True)

    async def on_POST(self, request: HomeserverRequest) -> tuple[int, Any]:
        body = parse_json_object(request, REFRESH_BODY)
        return 200, await self.hs.session_handler.refresh(body["refresh_token"])


class LogoutServlet(RestServlet):
    PATTERNS = client_patterns("/logout")
    GUEST_METHODS = frozenset({"POST"})
    ALLOW_LOCKED = True

    async def on_POST(self, request: HomeserverRequest) -> tuple[int, Any]:
        requester = await self.auth(request)
        await self.hs.session_handler.logout(requester)
        return 200, {}


class LogoutAllServlet(RestServlet):
    PATTERNS = client_patterns("/logout/all")
    ALLOW_LOCKED = True

    async def on_POST(self, request: HomeserverRequest) -> tuple[int, Any]:
        requester = await self.auth(request)
        await self.hs.session_handler.logout_all(requester.user_id)
        return 200, {}


def register_servlets(hs: Any, router: Any) -> None:
    for servlet in (LoginServlet, LoginTokenServlet, RefreshServlet, LogoutServlet, LogoutAllServlet):
        router.register(servlet(hs))
