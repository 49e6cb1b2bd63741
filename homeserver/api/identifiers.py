"""User IDs and the rules for their localparts (spec appendices: identifier grammar).

Every grammar here is checked with `fullmatch`: `re.match` with `^...$` lets a trailing newline
through (`$` matches before a final "\n"), so "alice\n" would pass for "alice"."""

from __future__ import annotations

import re
import secrets
import string
from dataclasses import dataclass

from homeserver.api.errors import Codes, MatrixError

# Characters a newly registered localpart may use (spec: "user identifiers").
_LOCALPART_RE = re.compile(r"[a-z0-9._=\-/+]+")
# Server name grammar (appendices, "Server Name"): a DNS name, an IPv4 address or a bracketed IPv6
# literal, with an optional port.
SERVER_NAME_RE = re.compile(r"(?:\[[0-9A-Fa-f:.]{2,45}\]|[A-Za-z0-9.\-]{1,255})(?::[0-9]{1,5})?")
# Control characters: no identifier has them, not even a historical user ID.
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


def is_valid_server_name(server_name: object) -> bool:
    return isinstance(server_name, str) and SERVER_NAME_RE.fullmatch(server_name) is not None
MAX_USER_ID_LENGTH = 255


@dataclass(frozen=True)
class UserID:
    localpart: str
    domain: str

    @classmethod
    def parse(cls, s: str) -> UserID:
        if not isinstance(s, str) or len(s) < 3 or s[0] != "@" or ":" not in s:
            raise MatrixError(400, Codes.INVALID_PARAM, f"Invalid user ID: {s!r}")
        localpart, _, domain = s[1:].partition(":")
        if not localpart or not is_valid_server_name(domain) or _CONTROL_RE.search(localpart):
            raise MatrixError(400, Codes.INVALID_PARAM, f"Invalid user ID: {s!r}")
        return cls(localpart, domain)

    def to_string(self) -> str:
        return f"@{self.localpart}:{self.domain}"

    __str__ = to_string


def split_server_name(server_name: str) -> tuple[str, int | None]:
    """`host[:port]` -> (host, port or None); an IPv6 literal keeps its brackets."""
    host, sep, port = server_name.rpartition(":")
    if not sep or host.endswith(":") or (host.startswith("[") and not host.endswith("]")) or \
            server_name.endswith("]") or not port.isdigit():
        return server_name, None
    return host, int(port)


def check_new_localpart(localpart: str, server_name: str) -> None:
    """Raise M_INVALID_USERNAME unless `localpart` may be registered (it must be lowercase already)."""
    if not localpart:
        raise MatrixError(400, Codes.INVALID_USERNAME, "User ID cannot be empty")
    if not _LOCALPART_RE.fullmatch(localpart):
        raise MatrixError(
            400, Codes.INVALID_USERNAME, "User ID can only contain characters a-z, 0-9, or '=_-./+'"
        )
    if localpart.startswith("_"):
        raise MatrixError(400, Codes.INVALID_USERNAME, "User ID may not begin with '_'")
    if localpart.isdigit():
        raise MatrixError(400, Codes.INVALID_USERNAME, "Numeric user IDs are reserved")
    if len(f"@{localpart}:{server_name}") > MAX_USER_ID_LENGTH:
        raise MatrixError(
            400, Codes.INVALID_USERNAME, f"User ID may not be longer than {MAX_USER_ID_LENGTH} characters"
        )


def random_string(length: int, alphabet: str = string.ascii_letters) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def generate_localpart() -> str:
    """A localpart for a user who did not choose one: lowercase, never all digits."""
    return "u" + random_string(11, string.ascii_lowercase + string.digits)


def generate_guest_localpart() -> str:
    """A guest's localpart: all digits, which is reserved for guests (check_new_localpart refuses it)."""
    return random_string(12, string.digits)


def generate_device_id() -> str:
    return random_string(10, string.ascii_uppercase)
