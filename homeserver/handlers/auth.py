"""Who is making this request: access tokens to a Requester, with expiry and refresh rotation."""

from __future__ import annotations

from dataclasses import dataclass

from homeserver.api.errors import Codes, MatrixError
from homeserver.clock import Clock
from homeserver.storage.devices import DevicesStore
from homeserver.storage.tokens import TokensStore
from homeserver.storage.users import UsersStore
from homeserver.util.secrets import token_hash


@dataclass(frozen=True)
class Requester:
    user_id: str
    device_id: str
    access_token_hash: str
    is_guest: bool = False
    # Set by an admin (admin API): the user may read and leave but not act (403 M_USER_SUSPENDED
    # where the servlets say), or acts without anyone seeing it (handlers/room_send.py).
    suspended: bool = False
    shadow_banned: bool = False


class AuthHandler:
    def __init__(self, clock: Clock, tokens: TokensStore, devices: DevicesStore, users: UsersStore):
        self._clock = clock
        self._tokens = tokens
        self._devices = devices
        self._users = users

    async def get_requester(self, access_token: str, ip: str = "", user_agent: str = "",
                            allow_locked: bool = False) -> Requester:
        """The token's user; a locked account is refused on every request (401 M_USER_LOCKED)
        but logging out (`allow_locked`)."""
        h = token_hash(access_token)
        info = await self._tokens.get_access_token(h)
        if info is None:
            raise MatrixError(401, Codes.UNKNOWN_TOKEN, "Unknown access token", soft_logout=False)
        now = self._clock.time_msec()
        if info.valid_until_ms is not None and info.valid_until_ms <= now:
            raise MatrixError(401, Codes.UNKNOWN_TOKEN, "Access token has expired", soft_logout=True)
        if not info.used and info.refresh_token_id is not None:
            await self._tokens.mark_access_token_used(h, info)
        status = await self._users.get_account_status(info.user_id)
        if status.locked and not allow_locked:
            raise MatrixError(401, Codes.USER_LOCKED, "This account has been locked", soft_logout=True)
        self._devices.record_last_seen(info.user_id, info.device_id, ip, user_agent, now)
        return Requester(info.user_id, info.device_id, h, info.is_guest, status.suspended, status.shadow_banned)

    async def is_admin(self, user_id: str) -> bool:
        user = await self._users.get_user(user_id)
        return bool(user and user.admin and not user.deactivated)
