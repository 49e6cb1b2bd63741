"""Login sessions: a device with an access token (and optionally a refresh token); refresh; logout;
short-lived login tokens."""

from __future__ import annotations

from typing import Any

from homeserver.api.errors import Codes, MatrixError
from homeserver.api.identifiers import generate_device_id
from homeserver.clock import Clock
from homeserver.config import Config
from homeserver.handlers.auth import Requester
from homeserver.storage.database import Database, Transaction
from homeserver.storage.devices import DevicesStore
from homeserver.storage.tokens import TokensStore
from homeserver.util.secrets import new_token, token_hash


def _expiry(now_ms: int, lifetime_ms: int | None) -> int | None:
    return now_ms + lifetime_ms if lifetime_ms is not None else None


class SessionHandler:
    def __init__(self, config: Config, clock: Clock, db: Database, tokens: TokensStore, devices: DevicesStore):
        self._config = config
        self._clock = clock
        self._db = db
        self._tokens = tokens
        self._devices = devices

    async def create_session(
        self, user_id: str, device_id: str | None, initial_display_name: str | None, want_refresh: bool,
        expires_at_ms: int | None = None,
    ) -> dict[str, Any]:
        """Make (or reuse) a device and give it fresh tokens; a reused device loses its old tokens.
        `expires_at_ms`: the access token's end (the admin API's login as a user), instead of the
        configured lifetime. Returns the login/register response fields."""
        device_id = device_id or generate_device_id()
        now = self._clock.time_msec()
        access_token = new_token("syt_")
        refresh_token = new_token("syr_") if want_refresh else None
        valid_until = _expiry(now, self._config.refreshable_access_token_lifetime_ms if want_refresh
                              else self._config.nonrefreshable_access_token_lifetime_ms)
        if expires_at_ms is not None:
            valid_until = expires_at_ms

        def txn_fn(txn: Transaction) -> None:
            if not self._devices.ensure_device_txn(txn, user_id, device_id, initial_display_name):
                self._tokens.delete_access_tokens_for_devices_txn(txn, user_id, [device_id])
            refresh_id = None
            if refresh_token is not None:
                refresh_id = self._tokens.add_refresh_token_txn(
                    txn, token_hash(refresh_token), user_id, device_id,
                    _expiry(now, self._config.refresh_token_lifetime_ms),
                )
            self._tokens.add_access_token_txn(txn, token_hash(access_token), user_id, device_id, now,
                                              valid_until, refresh_id)

        await self._db.run("create_session", txn_fn)
        result: dict[str, Any] = {"user_id": user_id, "access_token": access_token, "device_id": device_id}
        if valid_until is not None:
            result["expires_in_ms"] = valid_until - now
        if refresh_token is not None:
            result["refresh_token"] = refresh_token
        return result

    async def refresh(self, refresh_token: str) -> dict[str, Any]:
        old = await self._tokens.get_refresh_token(token_hash(refresh_token))
        now = self._clock.time_msec()
        if old is None:
            raise MatrixError(401, Codes.UNKNOWN_TOKEN, "Unknown refresh token", soft_logout=False)
        if old.expiry_ts is not None and old.expiry_ts <= now:
            raise MatrixError(401, Codes.UNKNOWN_TOKEN, "Refresh token has expired", soft_logout=True)
        access_token = new_token("syt_")
        new_refresh = new_token("syr_")
        valid_until = _expiry(now, self._config.refreshable_access_token_lifetime_ms)
        await self._tokens.replace_refresh_token(
            old, token_hash(new_refresh), _expiry(now, self._config.refresh_token_lifetime_ms),
            token_hash(access_token), valid_until, now,
        )
        result: dict[str, Any] = {"access_token": access_token, "refresh_token": new_refresh}
        if valid_until is not None:
            result["expires_in_ms"] = valid_until - now
        return result

    async def logout(self, requester: Requester) -> None:
        """Spec: the access token is invalidated and its device deleted."""
        await self._devices.delete_devices(requester.user_id, [requester.device_id])

    async def logout_all(self, user_id: str) -> None:
        await self._devices.delete_all_devices(user_id)

    async def mint_login_token(self, user_id: str, lifetime_ms: int) -> tuple[str, int]:
        token = new_token("syl_")
        await self._tokens.add_login_token(token_hash(token), user_id, self._clock.time_msec() + lifetime_ms)
        return token, lifetime_ms

    async def consume_login_token(self, token: str) -> str:
        user_id = await self._tokens.consume_login_token(token_hash(token), self._clock.time_msec())
        if user_id is None:
            raise MatrixError(403, Codes.FORBIDDEN, "Invalid or expired login token")
        return user_id
