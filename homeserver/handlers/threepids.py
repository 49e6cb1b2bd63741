"""E-mail addresses on accounts: validation sessions (spec: `/requestToken`), the links the
server mails, and binding, listing and removing addresses.

A validation session belongs to one purpose (registration, password reset, adding an address)
and can prove an address only for it. `send_attempt` makes retries idempotent: a request with an
attempt no newer than the session's last one sends nothing and answers the same `sid`. Each mail
carries a new random token (stored hashed) valid for `validation_token_lifetime`; opening the link
validates the session and uses the token up. A validated session can be used once, within
VALIDATED_SESSION_LIFETIME_MS."""

from __future__ import annotations

import logging
import re
import secrets
from string import Template
from typing import Any, NamedTuple
from urllib.parse import urlencode, urlsplit

from homeserver.api.errors import Codes, MatrixError, forbidden
from homeserver.clock import Clock
from homeserver.config import Config
from homeserver.mail.outbox import Mailer
from homeserver.storage.threepids import Threepid, ThreepidsStore, ValidationSession
from homeserver.util.secrets import token_hash

logger = logging.getLogger(__name__)

REGISTER = "register"
PASSWORD_RESET = "password_reset"
ADD_THREEPID = "add_threepid"
# The path segment of each purpose's link (Synapse's: `registration`, `add_threepid`, `password_reset`).
LINK_KIND = {REGISTER: "registration", PASSWORD_RESET: "password_reset", ADD_THREEPID: "add_threepid"}
PURPOSE_OF_KIND = {v: k for k, v in LINK_KIND.items()}
VALIDATED_SESSION_LIFETIME_MS = 24 * 3600 * 1000
SESSION_RETENTION_MS = 7 * 24 * 3600 * 1000
CLIENT_SECRET_RE = re.compile(r"[0-9a-zA-Z.=_\-]{1,255}")
MAX_EMAIL_LENGTH = 254

TEXTS = {
    "registration.txt": (
        "Hello,\n\nYou (or someone) asked to register an account on $server_name with this e-mail "
        "address.\nTo confirm it is yours, open this link:\n\n$link\n\nIf it was not you, ignore this "
        "mail: no account is created without it.\n\n-- $app_name\n"),
    "add_threepid.txt": (
        "Hello,\n\nYou (or someone) asked to add this e-mail address to an account on $server_name.\n"
        "To confirm it is yours, open this link:\n\n$link\n\nIf it was not you, ignore this mail.\n\n"
        "-- $app_name\n"),
    "password_reset.txt": (
        "Hello,\n\nA password reset was requested for your account on $server_name.\nTo allow it, open "
        "this link and confirm:\n\n$link\n\nIf you did not ask for it, ignore this mail: your password "
        "stays as it is.\n\n-- $app_name\n"),
}
TEMPLATE_OF = {REGISTER: "registration.txt", ADD_THREEPID: "add_threepid.txt", PASSWORD_RESET: "password_reset.txt"}
SUBJECT_OF = {REGISTER: "email_validation", ADD_THREEPID: "email_validation", PASSWORD_RESET: "password_reset"}


class ValidatedAddress(NamedTuple):
    medium: str
    address: str
    validated_at: int
    purpose: str
    session_id: str


class SubmitResult(NamedTuple):
    ok: bool
    message: str
    next_link: str | None


def canonical_email(address: str) -> str:
    """Lowercased and trimmed; 400 M_INVALID_PARAM unless it looks like `local@domain`."""
    address = address.strip().lower()
    local, at, domain = address.rpartition("@")
    if (not at or not local or not domain or len(address) > MAX_EMAIL_LENGTH or "@" in domain
            or re.search(r"[\s<>,;\"]", address) or "." not in domain.strip(".")):
        raise MatrixError(400, Codes.INVALID_PARAM, "Not a valid e-mail address")
    return address


def email_not_supported() -> MatrixError:
    return MatrixError(400, Codes.THREEPID_MEDIUM_NOT_SUPPORTED,
                       "This server does not send e-mail (no email section in its configuration)")


class ThreepidHandler:
    def __init__(self, config: Config, clock: Clock, store: ThreepidsStore, mailer: Mailer | None):
        self._config = config
        self._email = config.email
        self._clock = clock
        self._store = store
        self._mailer = mailer
        # Listeners told of each address bound to an account (e-mail notification pushers).
        self.bound_listeners: list[Any] = []
        self.unbound_listeners: list[Any] = []

    @property
    def email_enabled(self) -> bool:
        return self._email is not None and self._mailer is not None

    def is_allowed(self, medium: str, address: str) -> bool:
        allowed = self._config.allowed_local_3pids
        if allowed is None:
            return True
        return any(e["medium"] == medium and re.fullmatch(e["pattern"], address) for e in allowed)

    # -- requestToken ---------------------------------------------------------------------------

    async def request_email_token(self, purpose: str, body: dict[str, Any]) -> str:
        if not self.email_enabled:
            raise email_not_supported()
        client_secret = body["client_secret"]
        if not CLIENT_SECRET_RE.fullmatch(client_secret):
            raise MatrixError(400, Codes.INVALID_PARAM, "'client_secret' must be 1 to 255 of [0-9a-zA-Z.=_-]")
        send_attempt = body["send_attempt"]
        if send_attempt < 0 or send_attempt > 2**53:
            raise MatrixError(400, Codes.INVALID_PARAM, "'send_attempt' out of range")
        next_link = body.get("next_link")
        if next_link is not None and (urlsplit(next_link).scheme not in ("http", "https")
                                      or not urlsplit(next_link).netloc):
            raise MatrixError(400, Codes.INVALID_PARAM, "'next_link' must be an http(s) URL")
        address = canonical_email(body["email"])
        owner = await self._store.get_owner("email", address)
        if purpose == PASSWORD_RESET:
            if not self._config.password_enabled:
                raise forbidden("Password changes are disabled on this server")
            if owner is None:
                raise MatrixError(400, Codes.THREEPID_NOT_FOUND, "No account has that e-mail address")
        else:
            if purpose == REGISTER and not self._config.enable_registration:
                raise forbidden("Registration has been disabled")
            if not self.is_allowed("email", address):
                raise MatrixError(403, Codes.THREEPID_DENIED, "This server does not allow that e-mail address")
            if owner is not None:
                raise MatrixError(400, Codes.THREEPID_IN_USE, "That e-mail address is already in use")

        now = self._clock.time_msec()
        existing = await self._store.find_session(client_secret, "email", address, purpose)
        if existing is not None and send_attempt <= existing.last_send_attempt:
            return existing.session_id  # the mail for this attempt was sent already
        token = secrets.token_urlsafe(24)
        session_id = existing.session_id if existing else secrets.token_urlsafe(12)
        session = ValidationSession(
            session_id, "email", address, client_secret, purpose, send_attempt, token_hash(token),
            now + self._email.validation_token_lifetime_ms, next_link, now, None)
        if not await self._store.upsert_session(session, existing.last_send_attempt if existing else None):
            # Another request for this attempt won the race: it sends the mail.
            again = await self._store.find_session(client_secret, "email", address, purpose)
            if again is None:
                raise MatrixError(400, Codes.UNKNOWN, "Could not start a validation session; try again")
            return again.session_id
        await self._send_validation_mail(purpose, address, session_id, client_secret, token)
        return session_id

    def validation_link(self, purpose: str, session_id: str, client_secret: str, token: str) -> str:
        query = urlencode({"token": token, "client_secret": client_secret, "sid": session_id})
        return (f"{self._config.public_baseurl}_matrix/client/unstable/{LINK_KIND[purpose]}/email/submit_token"
                f"?{query}")

    async def _send_validation_mail(self, purpose: str, address: str, session_id: str, client_secret: str,
                                    token: str) -> None:
        assert self._email is not None and self._mailer is not None
        link = self.validation_link(purpose, session_id, client_secret, token)
        name = TEMPLATE_OF[purpose]
        values = {"link": link, "server_name": self._config.server_name, "app_name": self._email.app_name}
        text = Template(self._email.templates.get(name, TEXTS[name])).safe_substitute(values)
        subject = self._email.subject(SUBJECT_OF[purpose], server_name=self._config.server_name)
        await self._mailer.queue(address, subject, text)

    # -- the link -------------------------------------------------------------------------------

    async def submit_token(self, kind: str, session_id: str, client_secret: str, token: str) -> SubmitResult:
        purpose = PURPOSE_OF_KIND.get(kind)
        session = await self._store.get_session(session_id)
        if purpose is None or session is None or session.purpose != purpose or not secrets.compare_digest(
                session.client_secret, client_secret):
            return SubmitResult(False, "This validation link is not valid.", None)
        now = self._clock.time_msec()
        if session.token_hash is None or not secrets.compare_digest(session.token_hash, token_hash(token)):
            if session.validated_at is not None:
                return SubmitResult(False, "This link was used already: your e-mail address is confirmed.", None)
            return SubmitResult(False, "This validation link is not valid (a newer mail may have replaced it).",
                                None)
        if session.token_expires_ts <= now:
            return SubmitResult(False, "This validation link has expired. Ask for a new mail.", None)
        if not await self._store.validate_session(session_id, token_hash(token), now):
            return SubmitResult(False, "This link was used already.", None)
        return SubmitResult(True, "Your e-mail address is confirmed. You can go back to your application.",
                            session.next_link)

    # -- using validated sessions ---------------------------------------------------------------

    async def validated_address(self, session_id: Any, client_secret: Any) -> ValidatedAddress | None:
        if not isinstance(session_id, str) or not isinstance(client_secret, str):
            raise MatrixError(400, Codes.MISSING_PARAM, "Missing sid or client_secret")
        session = await self._store.get_session(session_id)
        now = self._clock.time_msec()
        if (session is None or session.validated_at is None
                or not secrets.compare_digest(session.client_secret, client_secret)
                or session.validated_at + VALIDATED_SESSION_LIFETIME_MS <= now):
            return None
        return ValidatedAddress(session.medium, session.address, session.validated_at, session.purpose,
                                session.session_id)

    async def use_up(self, session_id: str) -> None:
        await self._store.delete_session(session_id)

    async def owner_of(self, medium: str, address: str) -> str | None:
        if medium == "email":
            try:
                address = canonical_email(address)
            except MatrixError:
                return None
        return await self._store.get_owner(medium, address)

    async def bind(self, user_id: str, v: ValidatedAddress) -> None:
        if not self.is_allowed(v.medium, v.address):
            raise MatrixError(403, Codes.THREEPID_DENIED, "This server does not allow that e-mail address")
        if not await self._store.add_threepid(user_id, v.medium, v.address, v.validated_at,
                                              self._clock.time_msec()):
            raise MatrixError(400, Codes.THREEPID_IN_USE, "That e-mail address is already in use")
        await self._store.delete_session(v.session_id)
        for listener in self.bound_listeners:
            await listener(user_id, v.medium, v.address)

    async def add_threepid(self, user_id: str, client_secret: str, session_id: str) -> None:
        """POST /account/3pid/add, after UIA."""
        if not self.email_enabled:
            raise email_not_supported()
        v = await self.validated_address(session_id, client_secret)
        if v is None or v.purpose != ADD_THREEPID:
            raise MatrixError(400, Codes.THREEPID_AUTH_FAILED,
                              "No validated session with that sid and client_secret (open the mailed link first)")
        await self.bind(user_id, v)

    async def list_threepids(self, user_id: str) -> list[Threepid]:
        return await self._store.get_user_threepids(user_id)

    async def remove(self, user_id: str, medium: str, address: str) -> None:
        if medium == "email":
            try:
                address = canonical_email(address)
            except MatrixError:
                return  # no such address can be bound
        if await self._store.remove_threepid(user_id, medium, address):
            for listener in self.unbound_listeners:
                await listener(user_id, medium, address)

    async def remove_all(self, user_id: str) -> None:
        for t in await self._store.get_user_threepids(user_id):
            await self.remove(user_id, t.medium, t.address)

    # -- for the admin API -----------------------------------------------------------------------

    async def checked_for_admin(self, user_id: str, wanted: list[dict[str, str]]) -> list[tuple[str, str]]:
        """(medium, address) of an admin's `threepids` list, each an e-mail address no other
        account holds (400 otherwise); allowed_local_3pids does not bind an admin."""
        checked = []
        for item in wanted:
            if item["medium"] != "email":
                raise MatrixError(400, Codes.INVALID_PARAM, f"Unsupported medium {item['medium']!r}: only email")
            address = canonical_email(item["address"])
            owner = await self._store.get_owner("email", address)
            if owner is not None and owner != user_id:
                raise MatrixError(400, Codes.THREEPID_IN_USE, f"{address} is bound to another account")
            checked.append(("email", address))
        return checked

    async def set_by_admin(self, user_id: str, wanted: list[tuple[str, str]]) -> None:
        """Make the account's third-party IDs exactly `wanted` (from checked_for_admin)."""
        now = self._clock.time_msec()
        for t in await self._store.get_user_threepids(user_id):
            if (t.medium, t.address) not in wanted:
                await self.remove(user_id, t.medium, t.address)
        held = {(t.medium, t.address) for t in await self._store.get_user_threepids(user_id)}
        for medium, address in wanted:
            if (medium, address) in held:
                continue
            if not await self._store.add_threepid(user_id, medium, address, now, now):
                raise MatrixError(400, Codes.THREEPID_IN_USE, f"{address} is bound to another account")
            for listener in self.bound_listeners:
                await listener(user_id, medium, address)

    async def expire_old_sessions(self) -> None:
        await self._store.delete_sessions_created_before(self._clock.time_msec() - SESSION_RETENTION_MS)
