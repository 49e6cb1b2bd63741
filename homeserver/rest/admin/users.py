"""Admin API: shared-secret registration, registration tokens, login tokens for a user.

Paths and shapes follow Synapse's admin API where Synapse has the same endpoint, so its tools
(register_new_matrix_user, admin scripts) work unchanged."""

from __future__ import annotations

import re
import secrets
import string
from typing import Any

from homeserver.api.errors import Codes, MatrixError, not_found
from homeserver.api.identifiers import UserID
from homeserver.rest.http import HomeserverRequest, RestServlet, Validator, parse_json_object

ADMIN_PREFIX = "/_synapse/admin/v1"

SHARED_SECRET_BODY = Validator({
    "type": "object",
    "required": ["nonce", "username", "password", "mac"],
    "properties": {
        "nonce": {"type": "string"},
        "username": {"type": "string"},
        "password": {"type": "string", "maxLength": 512},
        "mac": {"type": "string"},
        "admin": {"type": "boolean"},
        "user_type": {"type": ["string", "null"]},
        "displayname": {"type": ["string", "null"]},
    },
})
NEW_TOKEN_BODY = Validator({
    "type": "object",
    "properties": {
        "token": {"type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[A-Za-z0-9._~-]+\\Z"},
        "uses_allowed": {"type": ["integer", "null"], "minimum": 0},
        "expiry_time": {"type": ["integer", "null"], "minimum": 0},
        "length": {"type": "integer", "minimum": 1, "maximum": 64},
    },
})
UPDATE_TOKEN_BODY = Validator({
    "type": "object",
    "properties": {
        "uses_allowed": {"type": ["integer", "null"], "minimum": 0},
        "expiry_time": {"type": ["integer", "null"], "minimum": 0},
    },
})
TOKEN_ALPHABET = string.ascii_letters + string.digits + "._~-"


def _admin_path(path: str) -> list[re.Pattern[str]]:
    return [re.compile(f"^{ADMIN_PREFIX}{path}$")]


def admin_patterns(path: str, version: str = "v1") -> list[re.Pattern[str]]:
    """The path under /_synapse/admin/<version>."""
    return [re.compile(f"^/_synapse/admin/{version}{path}$")]


class SharedSecretRegisterServlet(RestServlet):
    PATTERNS = _admin_path("/register")

    async def on_GET(self, request: HomeserverRequest) -> tuple[int, Any]:
        if not self.hs.config.registration_shared_secret:
            raise MatrixError(400, Codes.UNKNOWN, "Shared secret registration is not enabled")
        return 200, {"nonce": self.hs.registration_handler.new_nonce()}

    async def on_POST(self, request: HomeserverRequest) -> tuple[int, Any]:
        body = parse_json_object(request, SHARED_SECRET_BODY)
        return 200, await self.hs.registration_handler.register_with_shared_secret(body)


class RegistrationTokensServlet(RestServlet):
    PATTERNS = _admin_path("/registration_tokens")

    async def on_GET(self, request: HomeserverRequest) -> tuple[int, Any]:
        await self.auth_admin(request)
        tokens = await self.hs.registration_tokens_store.list()
        return 200, {"registration_tokens": [t.to_json() for t in tokens]}


class NewRegistrationTokenServlet(RestServlet):
    PATTERNS = _admin_path("/registration_tokens/new")

    async def on_POST(self, request: HomeserverRequest) -> tuple[int, Any]:
        await self.auth_admin(request)
        body = parse_json_object(request, NEW_TOKEN_BODY, allow_empty=True)
        store = self.hs.registration_tokens_store
        token = body.get("token") or "".join(secrets.choice(TOKEN_ALPHABET) for _ in range(body.get("length", 16)))
        if not await store.create(token, body.get("uses_allowed"), body.get("expiry_time")):
            raise MatrixError(400, Codes.INVALID_PARAM, f"Token already exists: {token}")
        return 200, (await store.get(token)).to_json()


class RegistrationTokenServlet(RestServlet):
    PATTERNS = _admin_path("/registration_tokens/(?P<token>[^/]+)")

    async def on_GET(self, request: HomeserverRequest, token: str) -> tuple[int, Any]:
        await self.auth_admin(request)
        found = await self.hs.registration_tokens_store.get(token)
        if found is None:
            raise not_found("No such registration token")
        return 200, found.to_json()

    async def on_PUT(self, request: HomeserverRequest, token: str) -> tuple[int, Any]:
        await self.auth_admin(request)
        body = parse_json_object(request, UPDATE_TOKEN_BODY)
        store = self.hs.registration_tokens_store
        current = await store.get(token)
        if current is None:
            raise not_found("No such registration token")
        await store.update(token, body.get("uses_allowed", current.uses_allowed),
                           body.get("expiry_time", current.expiry_time))
        return 200, (await store.get(token)).to_json()

    async def on_DELETE(self, request: HomeserverRequest, token: str) -> tuple[int, Any]:
        await self.auth_admin(request)
        if not await self.hs.registration_tokens_store.delete(token):
            raise not_found("No such registration token")
        return 200, {}


class UserLoginTokenServlet(RestServlet):
    """Mint an `m.login.token` for a user (ours; Synapse has no such endpoint)."""

    PATTERNS = _admin_path("/users/(?P<user_id>[^/]+)/login_token")

    async def on_POST(self, request: HomeserverRequest, user_id: str) -> tuple[int, Any]:
        await self.auth_admin(request)
        uid = UserID.parse(user_id)
        user = await self.hs.users_store.get_user(uid.to_string())
        if uid.domain != self.hs.config.server_name or user is None or user.deactivated:
            raise not_found("No such user")
        token, lifetime = await self.hs.session_handler.mint_login_token(
            user.user_id, self.hs.config.login_token_lifetime_ms
        )
        return 200, {"login_token": token, "expires_in_ms": lifetime}


def register_servlets(hs: Any, router: Any) -> None:
    for servlet in (SharedSecretRegisterServlet, RegistrationTokensServlet, NewRegistrationTokenServlet,
                    RegistrationTokenServlet, UserLoginTokenServlet):
        router.register(servlet(hs))
