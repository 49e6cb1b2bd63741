"""POST /login: password and token logins, each ending in a new session for a device."""

from __future__ import annotations

from typing import Any

from homeserver.api.errors import Codes, MatrixError, forbidden
from homeserver.config import Config
from homeserver.handlers.identifiers import identify_user
from homeserver.handlers.passwords import PasswordHandler
from homeserver.handlers.sessions import SessionHandler
from homeserver.ratelimit import RateLimiter
from homeserver.storage.users import UsersStore

PASSWORD_LOGIN = "m.login.password"
TOKEN_LOGIN = "m.login.token"


class LoginHandler:
    def __init__(
        self, config: Config, users: UsersStore, passwords: PasswordHandler, sessions: SessionHandler,
        account_limiter: RateLimiter, failed_attempts_limiter: RateLimiter, threepids: Any = None,
    ):
        self._threepids = threepids
        self._config = config
        self._users = users
        self._passwords = passwords
        self._sessions = sessions
        self._account_limiter = account_limiter
        self._failed_limiter = failed_attempts_limiter

    def flows(self) -> list[dict[str, Any]]:
        flows = [{"type": TOKEN_LOGIN, "get_login_token": self._config.login_via_existing_session_enabled}]
        if self._passwords.enabled:
            flows.insert(0, {"type": PASSWORD_LOGIN})
        return flows

    async def login(self, body: dict[str, Any]) -> dict[str, Any]:
        kind = body["type"]
        if kind == PASSWORD_LOGIN and self._passwords.enabled:
            user_id = await self._check_password_login(body)
        elif kind == TOKEN_LOGIN:
            token = body.get("token")
            if not isinstance(token, str):
                raise MatrixError(400, Codes.MISSING_PARAM, "Missing token")
            user_id = await self._sessions.consume_login_token(token)
        else:
            raise MatrixError(400, Codes.UNKNOWN, f"Unknown login type {kind!r}")

        user = await self._users.get_user(user_id)
        if user is None or user.deactivated:
            raise MatrixError(403, Codes.USER_DEACTIVATED, "This account has been deactivated")
        if user.locked:
            raise MatrixError(401, Codes.USER_LOCKED, "This account has been locked", soft_logout=True)
        result = await self._sessions.create_session(
            user_id, body.get("device_id"), body.get("initial_device_display_name"),
            bool(body.get("refresh_token")),
        )
        result["home_server"] = self._config.server_name
        result["well_known"] = {"m.homeserver": {"base_url": self._config.public_baseurl}}
        return result

    async def _check_password_login(self, body: dict[str, Any]) -> str:
        password = body.get("password")
        if not isinstance(password, str):
            raise MatrixError(400, Codes.MISSING_PARAM, "Missing password")
        user_id, key = await identify_user(self._users, self._threepids, self._config.server_name, body)
        self._account_limiter.check(key)
        self._failed_limiter.check(key, update=False)
        user = await self._users.get_user(user_id) if user_id else None
        if user is not None and user.deactivated:
            raise MatrixError(403, Codes.USER_DEACTIVATED, "This account has been deactivated")
        if user is None or not await self._passwords.verify(password, user.password_hash):
            self._failed_limiter.record(key)
            raise forbidden("Invalid username or password")
        return user.user_id
