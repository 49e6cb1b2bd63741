"""User-interactive authentication (spec: client-server API, "User-interactive authentication API").

An endpoint asks for `flows` (lists of stage types). The first request without `auth` gets a 401
with a new session; each further request completes a stage; when a whole flow is done, the
operation goes ahead and the session is used up."""

from __future__ import annotations

import secrets
from typing import Any, NamedTuple

from homeserver.api.errors import AuthRequired, Codes, MatrixError, forbidden
from homeserver.clock import Clock
from homeserver.config import Config
from homeserver.handlers.identifiers import identify_user
from homeserver.handlers.passwords import PasswordHandler
from homeserver.handlers.threepids import PASSWORD_RESET, ThreepidHandler
from homeserver.ratelimit import RateLimiter
from homeserver.storage.registration_tokens import RegistrationTokensStore
from homeserver.storage.uia import UIASession, UIAStore
from homeserver.storage.users import UsersStore

DUMMY = "m.login.dummy"
PASSWORD = "m.login.password"
REGISTRATION_TOKEN = "m.login.registration_token"
EMAIL_IDENTITY = "m.login.email.identity"

SESSION_LIFETIME_MS = 24 * 3600 * 1000


class UIAResult(NamedTuple):
    session_id: str
    params: dict[str, Any]  # the request body the session started with (or this one, if not empty)
    user_id: str | None  # who authenticated: the logged-in user, or the one a password stage proved


class UIAHandler:
    def __init__(
        self, config: Config, clock: Clock, store: UIAStore, users: UsersStore, passwords: PasswordHandler,
        registration_tokens: RegistrationTokensStore, failed_login_limiter: RateLimiter,
        threepids: ThreepidHandler | None = None,
    ):
        self._threepids = threepids
        self._config = config
        self._clock = clock
        self._store = store
        self._users = users
        self._passwords = passwords
        self._registration_tokens = registration_tokens
        self._failed_login_limiter = failed_login_limiter

    async def check(
        self, body: dict[str, Any], method: str, uri: str, flows: list[list[str]], user_id: str | None = None,
    ) -> UIAResult:
        """Return once a flow is complete; else raise the 401 that tells the client what to do next.
        `user_id`: the logged-in user who must prove themselves; None when registering, or when an
        unauthenticated request names its user in the password stage."""
        auth = body.get("auth")
        if auth is not None and not isinstance(auth, dict):
            raise MatrixError(400, Codes.BAD_JSON, "'auth' must be an object")
        clientdict = {k: v for k, v in body.items() if k != "auth"}
        session_id = auth.get("session") if auth else None
        if session_id is None:
            session_id = secrets.token_urlsafe(18)
            await self._store.create_session(session_id, self._clock.time_msec(), method, uri, clientdict, user_id,
                                             flows)
            if auth and auth.get("type"):
                # A client may complete a stage in its very first request.
                await self._complete_stage(session_id, auth, flows, user_id)
        else:
            session = await self._live_session(session_id)
            if session.method != method or session.uri != uri or session.user_id != user_id:
                raise forbidden("Requested operation has changed during the UI authentication session")
            if not clientdict:
                clientdict = session.clientdict
            if auth.get("type"):
                await self._complete_stage(session_id, auth, flows, user_id)

        completed = await self._store.get_completed_stages(session_id)
        if any(all(stage in completed for stage in flow) for flow in flows):
            email = completed.get(EMAIL_IDENTITY)
            proven = completed.get(PASSWORD) or (email.get("user_id") if isinstance(email, dict) else None)
            return UIAResult(session_id, clientdict, user_id or proven)
        raise AuthRequired(self._state(flows, session_id, completed))

    async def _live_session(self, session_id: Any) -> UIASession:
        session = await self._store.get_session(session_id) if isinstance(session_id, str) else None
        if session is None or session.creation_time + SESSION_LIFETIME_MS < self._clock.time_msec():
            raise MatrixError(400, Codes.UNKNOWN, "Unknown or expired user-interactive auth session")
        return session

    async def complete_stage_out_of_band(self, session_id: str, auth: dict[str, Any]) -> None:
        """A fallback web page completes one stage of a session; the client then resubmits its
        request with only the session ID."""
        session = await self._live_session(session_id)
        await self._complete_stage(session_id, auth, session.flows, session.user_id)

    async def session_user(self, session_id: str) -> str | None:
        return (await self._live_session(session_id)).user_id

    def _state(self, flows: list[list[str]], session_id: str, completed: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {"flows": [{"stages": f} for f in flows], "params": {}, "session": session_id}
        if completed:
            body["completed"] = sorted(completed)
        return body

    async def _complete_stage(
        self, session_id: str, auth: dict[str, Any], flows: list[list[str]], user_id: str | None
    ) -> None:
        stage = auth["type"]
        if not any(stage in flow for flow in flows):
            raise MatrixError(400, Codes.UNRECOGNIZED, f"Authentication type {stage!r} is not offered here")
        try:
            if stage == DUMMY:
                result: Any = True
            elif stage == PASSWORD:
                result = await self._check_password(auth, user_id)
            elif stage == REGISTRATION_TOKEN:
                result = await self._check_registration_token(session_id, auth)
            elif stage == EMAIL_IDENTITY and self._threepids is not None:
                result = await self._check_email_identity(auth, user_id)
            else:
                raise MatrixError(400, Codes.UNRECOGNIZED, f"Unsupported authentication type {stage!r}")
        except MatrixError as e:
            if e.code in (401, 403):
                completed = await self._store.get_completed_stages(session_id)
                raise AuthRequired(self._state(flows, session_id, completed), e) from None
            raise
        await self._store.mark_stage_completed(session_id, stage, result)

    async def _check_password(self, auth: dict[str, Any], user_id: str | None) -> str:
        password = auth.get("password")
        if not isinstance(password, str):
            raise MatrixError(400, Codes.MISSING_PARAM, "Missing auth.password")
        if "identifier" in auth or "user" in auth or "medium" in auth:
            named, _ = await identify_user(self._users, self._threepids, self._config.server_name, auth)
            if user_id is None:
                user_id = named
            elif named != user_id:
                raise forbidden("The password must be the logged-in user's")
        if user_id is None:
            raise forbidden("Invalid username or password")
        self._failed_login_limiter.check(user_id, update=False)
        user = await self._users.get_user(user_id)
        if user is None or user.deactivated or not await self._passwords.verify(password, user.password_hash):
            self._failed_login_limiter.record(user_id)
            raise forbidden("Invalid username or password")
        return user_id

    async def _check_email_identity(self, auth: dict[str, Any], user_id: str | None) -> dict[str, Any]:
        """A session whose mailed link was opened. For a password reset it also names the account
        the address belongs to (the logged-in user's, if someone is logged in)."""
        assert self._threepids is not None
        creds = auth.get("threepid_creds", auth.get("threepidCreds"))
        if not isinstance(creds, dict):
            raise MatrixError(400, Codes.MISSING_PARAM, "Missing auth.threepid_creds")
        v = await self._threepids.validated_address(creds.get("sid"), creds.get("client_secret"))
        if v is None:
            raise MatrixError(401, Codes.UNAUTHORIZED, "That e-mail address has not been validated "
                                                       "(open the link in the mail first)")
        result: dict[str, Any] = {"medium": v.medium, "address": v.address, "validated_at": v.validated_at,
                                  "purpose": v.purpose, "sid": v.session_id}
        if v.purpose == PASSWORD_RESET:
            owner = await self._threepids.owner_of(v.medium, v.address)
            if owner is None or (user_id is not None and owner != user_id):
                raise forbidden("That e-mail address is not bound to this account")
            result["user_id"] = owner
        return result

    async def completed_stage(self, session_id: str, stage: str) -> Any:
        return (await self._store.get_completed_stages(session_id)).get(stage)

    async def _check_registration_token(self, session_id: str, auth: dict[str, Any]) -> str:
        token = auth.get("token")
        if not isinstance(token, str):
            raise MatrixError(400, Codes.MISSING_PARAM, "Missing auth.token")
        previous = await self._store.get_session_data(session_id, "registration_token")
        if previous == token:
            return token  # already counted for this session
        if not await self._registration_tokens.reserve_use(token, self._clock.time_msec()):
            raise MatrixError(401, Codes.UNAUTHORIZED, "Invalid registration token")
        await self._store.set_session_data(session_id, "registration_token", token)
        if previous:
            await self._registration_tokens.release_use(previous)
        return token

    async def get_session_data(self, session_id: str, key: str) -> Any:
        return await self._store.get_session_data(session_id, key)

    async def finish(self, session_id: str) -> None:
        """The operation succeeded: the session cannot authorise anything else."""
        await self._store.delete_session(session_id)

    async def expire_old_sessions(self) -> None:
        expired = await self._store.delete_sessions_older_than(self._clock.time_msec() - SESSION_LIFETIME_MS)
        for _, token in expired:
            if token:
                await self._registration_tokens.release_use(token)
