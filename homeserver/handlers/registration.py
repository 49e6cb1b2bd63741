"""Creating accounts: open registration (UIA), registration tokens, and shared-secret registration."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from homeserver.api.errors import Codes, MatrixError, forbidden
from homeserver.api.identifiers import check_new_localpart, generate_guest_localpart, generate_localpart
from homeserver.clock import Clock
from homeserver.config import Config
from homeserver.handlers.passwords import PasswordHandler
from homeserver.handlers.sessions import SessionHandler
from homeserver.handlers.threepids import REGISTER, ThreepidHandler, ValidatedAddress
from homeserver.handlers.uia import DUMMY, EMAIL_IDENTITY, REGISTRATION_TOKEN, UIAHandler
from homeserver.storage.registration_tokens import RegistrationTokensStore
from homeserver.storage.tokens import TokensStore
from homeserver.storage.users import UsersStore
from homeserver.util.secrets import token_hash

NONCE_LIFETIME_S = 60
# Where an upgrade's UIA session keeps the guest's token: as its hash, never the token itself (the
# session's parameters are stored). Not a name a client can set: it is dropped from their body.
GUEST_TOKEN_HASH = "_guest_access_token_hash"


class RegistrationHandler:
    def __init__(
        self, config: Config, clock: Clock, users: UsersStore, passwords: PasswordHandler,
        sessions: SessionHandler, uia: UIAHandler, registration_tokens: RegistrationTokensStore,
        tokens: TokensStore, threepids: ThreepidHandler | None = None,
    ):
        self._threepids = threepids
        self._tokens = tokens
        self._config = config
        self._clock = clock
        self._users = users
        self._passwords = passwords
        self._sessions = sessions
        self._uia = uia
        self._registration_tokens = registration_tokens
        self._nonces: dict[str, float] = {}

    def flows(self) -> list[list[str]]:
        email = self._threepids is not None and self._threepids.email_enabled
        if "email" in self._config.registrations_require_3pid:
            return [[REGISTRATION_TOKEN, EMAIL_IDENTITY]] if self._config.registration_requires_token \
                else [[EMAIL_IDENTITY]]
        if self._config.registration_requires_token:
            return [[REGISTRATION_TOKEN]]
        # With e-mail on, a client may confirm an address at sign-up (it is then bound to the account).
        return [[DUMMY], [EMAIL_IDENTITY]] if email else [[DUMMY]]

    def user_id_for(self, localpart: str) -> str:
        return f"@{localpart}:{self._config.server_name}"

    async def check_username(self, username: str) -> str:
        """Validate a requested username; returns the localpart it will be (lowercased)."""
        localpart = username.lower()
        check_new_localpart(localpart, self._config.server_name)
        if await self._users.user_exists(self.user_id_for(localpart)):
            raise MatrixError(400, Codes.USER_IN_USE, "User ID already taken.")
        return localpart

    async def check_username_available(self, username: str) -> None:
        if self._config.inhibit_user_in_use_error:
            check_new_localpart(username.lower(), self._config.server_name)
        else:
            await self.check_username(username)

    async def register_via_uia(self, body: dict[str, Any], method: str, uri: str) -> dict[str, Any]:
        """POST /register for a normal user: checks, UIA, then the account and (unless
        `inhibit_login`) a first device. With `guest_access_token`, the guest account becomes a
        full one instead, keeping its user ID (spec: guest access)."""
        if not self._config.enable_registration:
            raise forbidden("Registration has been disabled")
        guest_token = body.get("guest_access_token")
        body = {k: v for k, v in body.items() if k not in ("guest_access_token", GUEST_TOKEN_HASH)}
        if isinstance(guest_token, str):
            guest_id = await self._guest_for(token_hash(guest_token), body.get("username"))
            body[GUEST_TOKEN_HASH] = token_hash(guest_token)
        elif isinstance(body.get("username"), str):
            await self.check_username(body["username"])  # tell the client before any auth dance
        if isinstance(body.get("password"), str):
            self._passwords.check_policy(body["password"])

        session_id, params, _ = await self._uia.check(body, method, uri, self.flows())
        username = params.get("username")
        password = params.get("password")
        if isinstance(password, str):
            self._passwords.check_policy(password)
        address = await self._validated_address(session_id)
        if isinstance(params.get(GUEST_TOKEN_HASH), str):
            guest_id = await self._guest_for(params[GUEST_TOKEN_HASH], username)
            result = await self._upgrade_guest(
                guest_id, password if isinstance(password, str) else None, device_id=params.get("device_id"),
                device_name=params.get("initial_device_display_name"),
                inhibit_login=bool(params.get("inhibit_login")), want_refresh=bool(params.get("refresh_token")))
        else:
            localpart = await self.check_username(username) if isinstance(username, str) else None
            result = await self._create_account(
                localpart, password if isinstance(password, str) else None, admin=False, user_type=None,
                displayname=None, device_id=params.get("device_id"),
                device_name=params.get("initial_device_display_name"),
                inhibit_login=bool(params.get("inhibit_login")), want_refresh=bool(params.get("refresh_token")),
            )
        if address is not None and self._threepids is not None:
            await self._threepids.bind(result["user_id"], address)
        token = await self._uia.get_session_data(session_id, "registration_token")
        if token:
            await self._registration_tokens.complete_use(token)
        await self._uia.finish(session_id)
        return result

    async def _validated_address(self, session_id: str) -> ValidatedAddress | None:
        """The address the e-mail stage proved (to bind to the new account), checked still free."""
        done = await self._uia.completed_stage(session_id, EMAIL_IDENTITY)
        if not isinstance(done, dict) or self._threepids is None:
            return None
        if done.get("purpose") != REGISTER:
            raise forbidden("That e-mail validation was not started for registration")
        if await self._threepids.owner_of(done["medium"], done["address"]) is not None:
            raise MatrixError(400, Codes.THREEPID_IN_USE, "That e-mail address is already in use")
        return ValidatedAddress(done["medium"], done["address"], done["validated_at"], done["purpose"],
                                done["sid"])

    # -- guests ---------------------------------------------------------------------------------

    async def register_guest(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST /register?kind=guest: a guest account (numeric user ID, no password) and its
        device; no UIA. Only with allow_guest_access."""
        if not self._config.allow_guest_access:
            raise MatrixError(403, Codes.GUEST_ACCESS_FORBIDDEN, "Guest access is disabled")
        now = self._clock.time_msec()
        for _ in range(10):  # a generated name is almost never taken; retry if it is
            user_id = self.user_id_for(generate_guest_localpart())
            if await self._users.create_user(user_id, None, now, is_guest=True):
                break
        else:
            raise MatrixError(500, Codes.UNKNOWN, "Could not generate a free user ID")
        result: dict[str, Any] = {"user_id": user_id, "home_server": self._config.server_name}
        result.update(await self._sessions.create_session(
            user_id, body.get("device_id"), body.get("initial_device_display_name"),
            bool(body.get("refresh_token"))))
        return result

    async def _guest_for(self, access_token_hash: str, username: Any) -> str:
        """The guest account a guest access token (by its hash) belongs to; 403 unless it is a live
        token of a guest, and the username (when given) is that guest's."""
        info = await self._tokens.get_access_token(access_token_hash)
        if info is None or not info.is_guest or (
                info.valid_until_ms is not None and info.valid_until_ms <= self._clock.time_msec()):
            raise forbidden("Invalid guest access token")
        if username is not None and (not isinstance(username, str)
                                     or self.user_id_for(username.lower()) != info.user_id):
            raise forbidden("The username must be the guest's own")
        return info.user_id

    async def _upgrade_guest(self, user_id: str, password: str | None, device_id: str | None,
                             device_name: str | None, inhibit_login: bool, want_refresh: bool) -> dict[str, Any]:
        password_hash = await self._passwords.hash(password) if password is not None else None
        if not await self._users.upgrade_guest(user_id, password_hash):
            raise forbidden("This account is no guest account")
        result: dict[str, Any] = {"user_id": user_id, "home_server": self._config.server_name}
        if not inhibit_login:
            result.update(await self._sessions.create_session(user_id, device_id, device_name, want_refresh))
        return result

    async def _create_account(
        self, localpart: str | None, password: str | None, admin: bool, user_type: str | None,
        displayname: str | None, device_id: str | None, device_name: str | None, inhibit_login: bool,
        want_refresh: bool,
    ) -> dict[str, Any]:
        password_hash = await self._passwords.hash(password) if password is not None else None
        now = self._clock.time_msec()
        if localpart is None:
            for _ in range(10):  # a generated name is almost never taken; retry if it is
                localpart = generate_localpart()
                if await self._users.create_user(self.user_id_for(localpart), password_hash, now, admin,
                                                 user_type, displayname or localpart):
                    break
            else:
                raise MatrixError(500, Codes.UNKNOWN, "Could not generate a free user ID")
        elif not await self._users.create_user(self.user_id_for(localpart), password_hash, now, admin,
                                               user_type, displayname or localpart):
            raise MatrixError(400, Codes.USER_IN_USE, "User ID already taken.")
        user_id = self.user_id_for(localpart)
        result: dict[str, Any] = {"user_id": user_id, "home_server": self._config.server_name}
        if not inhibit_login:
            result.update(await self._sessions.create_session(user_id, device_id, device_name, want_refresh))
        return result

    # -- shared-secret registration (/_synapse/admin/v1/register) -------------------------------

    def new_nonce(self) -> str:
        now = self._clock.time()
        self._nonces = {n: t for n, t in self._nonces.items() if now - t < NONCE_LIFETIME_S}
        nonce = secrets.token_hex(32)
        self._nonces[nonce] = now
        return nonce

    async def register_with_shared_secret(self, body: dict[str, Any]) -> dict[str, Any]:
        secret = self._config.registration_shared_secret
        if not secret:
            raise MatrixError(400, Codes.UNKNOWN, "Shared secret registration is not enabled")
        nonce = body["nonce"]
        issued = self._nonces.pop(nonce, None)
        if issued is None or self._clock.time() - issued >= NONCE_LIFETIME_S:
            raise MatrixError(400, Codes.UNKNOWN, "Unrecognised or expired nonce")
        username, password, admin = body["username"], body["password"], bool(body.get("admin", False))
        user_type = body.get("user_type")
        if "\x00" in username or "\x00" in password:
            raise MatrixError(400, Codes.INVALID_PARAM, "Invalid username or password")
        message = b"\x00".join(
            [nonce.encode(), username.encode(), password.encode(), b"admin" if admin else b"notadmin"]
            + ([user_type.encode()] if user_type else [])
        )
        want = hmac.new(secret.encode(), message, hashlib.sha1).hexdigest()
        if not hmac.compare_digest(want, str(body["mac"]).lower()):
            raise forbidden("HMAC incorrect")
        self._passwords.check_policy(password)
        localpart = await self.check_username(username)
        return await self._create_account(
            localpart, password, admin=admin, user_type=user_type, displayname=body.get("displayname"),
            device_id=None, device_name=None, inhibit_login=False, want_refresh=False,
        )
