"""OpenID tokens (spec: client-server API, "OpenID"): a user proves who they are to a third party
(an integration manager, a widget) by handing it a short-lived token, which the third party
exchanges for the user ID at `GET /_matrix/federation/v1/openid/userinfo`. The token is good for
nothing else: it is not an access token."""

from __future__ import annotations

from typing import Any

from homeserver.api.errors import Codes, MatrixError, forbidden
from homeserver.clock import Clock
from homeserver.storage.openid_tokens import OpenIdTokensStore
from homeserver.storage.users import UsersStore
from homeserver.util.secrets import new_token, token_hash

# As Synapse: long enough for a widget to load and check it, short enough not to matter if leaked.
OPENID_TOKEN_LIFETIME_MS = 3600 * 1000


class OpenIdHandler:
    def __init__(self, server_name: str, clock: Clock, store: OpenIdTokensStore, users: UsersStore):
        self._server_name = server_name
        self._clock = clock
        self._store = store
        self._users = users

    async def request_token(self, requester_id: str, user_id: str) -> dict[str, Any]:
        """A new token for `user_id`, who must be the requester."""
        if user_id != requester_id:
            raise forbidden("You may only request OpenID tokens for yourself")
        token = new_token("syo_")
        await self._store.add_token(token_hash(token), user_id, self._clock.time_msec() + OPENID_TOKEN_LIFETIME_MS)
        return {
            "access_token": token,
            "token_type": "Bearer",
            "matrix_server_name": self._server_name,
            "expires_in": OPENID_TOKEN_LIFETIME_MS // 1000,
        }

    async def get_userinfo(self, token: str) -> dict[str, Any]:
        """`{"sub": user_id}` for a valid token; 401 M_UNKNOWN_TOKEN for an unknown or expired one,
        or one whose user has been deactivated since."""
        user_id = await self._store.get_user_for_token(token_hash(token), self._clock.time_msec())
        user = await self._users.get_user(user_id) if user_id is not None else None
        if user is None or user.deactivated:
            raise MatrixError(401, Codes.UNKNOWN_TOKEN, "Access token unknown or expired")
        return {"sub": user.user_id}

    async def delete_expired_tokens(self) -> None:
        await self._store.delete_expired_tokens(self._clock.time_msec())
