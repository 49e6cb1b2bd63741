"""Matrix errors: raise MatrixError(...) anywhere; the HTTP layer turns it into
``{"errcode": ..., "error": ...}`` with the right status."""

from __future__ import annotations

from typing import Any


class Codes:
    BAD_JSON = "M_BAD_JSON"
    NOT_JSON = "M_NOT_JSON"
    FORBIDDEN = "M_FORBIDDEN"
    NOT_FOUND = "M_NOT_FOUND"
    UNKNOWN = "M_UNKNOWN"
    UNRECOGNIZED = "M_UNRECOGNIZED"
    MISSING_TOKEN = "M_MISSING_TOKEN"
    UNKNOWN_TOKEN = "M_UNKNOWN_TOKEN"
    UNKNOWN_POS = "M_UNKNOWN_POS"  # sliding sync (MSC4186): the connection position is gone
    MISSING_PARAM = "M_MISSING_PARAM"
    INVALID_PARAM = "M_INVALID_PARAM"
    TOO_LARGE = "M_TOO_LARGE"
    LIMIT_EXCEEDED = "M_LIMIT_EXCEEDED"
    USER_IN_USE = "M_USER_IN_USE"
    INVALID_USERNAME = "M_INVALID_USERNAME"
    EXCLUSIVE = "M_EXCLUSIVE"
    WEAK_PASSWORD = "M_WEAK_PASSWORD"
    USER_DEACTIVATED = "M_USER_DEACTIVATED"
    USER_LOCKED = "M_USER_LOCKED"
    USER_SUSPENDED = "M_USER_SUSPENDED"
    GUEST_ACCESS_FORBIDDEN = "M_GUEST_ACCESS_FORBIDDEN"
    UNAUTHORIZED = "M_UNAUTHORIZED"
    THREEPID_NOT_FOUND = "M_THREEPID_NOT_FOUND"
    THREEPID_IN_USE = "M_THREEPID_IN_USE"
    THREEPID_DENIED = "M_THREEPID_DENIED"
    THREEPID_AUTH_FAILED = "M_THREEPID_AUTH_FAILED"
    THREEPID_MEDIUM_NOT_SUPPORTED = "M_THREEPID_MEDIUM_NOT_SUPPORTED"
    SERVER_NOT_TRUSTED = "M_SERVER_NOT_TRUSTED"
    UNKNOWN_DEVICE = "M_UNKNOWN_DEVICE"
    INCOMPATIBLE_ROOM_VERSION = "M_INCOMPATIBLE_ROOM_VERSION"
    UNABLE_TO_AUTHORISE_JOIN = "M_UNABLE_TO_AUTHORISE_JOIN"


class MatrixError(Exception):
    """An error with a Matrix errcode, returned to the client as JSON."""

    def __init__(self, code: int, errcode: str, msg: str, **extra: Any):
        super().__init__(msg)
        self.code = code
        self.errcode = errcode
        self.msg = msg
        self.extra = extra

    def to_json(self) -> dict[str, Any]:
        return {"errcode": self.errcode, "error": self.msg, **self.extra}

    def __repr__(self) -> str:
        return f"MatrixError({self.code}, {self.errcode!r}, {self.msg!r})"


class LimitExceeded(MatrixError):
    def __init__(self, retry_after_ms: int):
        super().__init__(429, Codes.LIMIT_EXCEEDED, "Too many requests", retry_after_ms=retry_after_ms)
        self.retry_after_ms = retry_after_ms


class AuthRequired(MatrixError):
    """401 carrying a user-interactive auth state (flows, params, session, completed)."""

    def __init__(self, body: dict[str, Any], error: MatrixError | None = None):
        super().__init__(401, error.errcode if error else Codes.UNAUTHORIZED, error.msg if error else "")
        self.body = body
        self.error = error

    def to_json(self) -> dict[str, Any]:
        body = dict(self.body)
        if self.error is not None:
            body.update(self.error.to_json())
        return body


def forbidden(msg: str = "Forbidden") -> MatrixError:
    return MatrixError(403, Codes.FORBIDDEN, msg)


def not_found(msg: str = "Not found") -> MatrixError:
    return MatrixError(404, Codes.NOT_FOUND, msg)


def missing_param(name: str) -> MatrixError:
    return MatrixError(400, Codes.MISSING_PARAM, f"Missing parameter: {name}")


def invalid_param(msg: str) -> MatrixError:
    return MatrixError(400, Codes.INVALID_PARAM, msg)
