"""Integers from clients: the range every one of them must fit before it reaches a handler.

Canonical JSON (spec appendices, "Canonical JSON") allows integers in [-(2**53)+1, 2**53-1], the
range every JSON implementation represents exactly. Database integer columns hold 64 bits: a bigger
number in a query parameter, a pagination token or a body used to overflow there and answer 500.
So each integer a client hands us is checked against this range (or a narrower one) where it is
parsed, and refused with 400: M_INVALID_PARAM for query parameters and tokens, M_BAD_JSON for
bodies."""

from __future__ import annotations

import re
from typing import Any

from homeserver.api.errors import Codes, MatrixError

MAX_SAFE_INTEGER = 2**53 - 1
MIN_SAFE_INTEGER = -(2**53) + 1

# Decimal digits only: int() would also take "+5", " 5", "1_000" and non-ASCII digits.
_DECIMAL = re.compile(r"-?[0-9]{1,16}")
_DIGITS = re.compile(r"[0-9]{1,16}")


def is_safe_integer(value: Any) -> bool:
    """A JSON integer in the canonical range (booleans are not integers)."""
    return isinstance(value, int) and not isinstance(value, bool) and MIN_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER


def parse_decimal(text: str, what: str, minimum: int | None = None, maximum: int | None = None) -> int:
    """A decimal integer written by a client (query parameter, path segment): 400 M_INVALID_PARAM
    unless it is one, within [minimum, maximum] and the canonical range."""
    low = MIN_SAFE_INTEGER if minimum is None else max(minimum, MIN_SAFE_INTEGER)
    high = MAX_SAFE_INTEGER if maximum is None else min(maximum, MAX_SAFE_INTEGER)
    if not _DECIMAL.fullmatch(text):
        raise MatrixError(400, Codes.INVALID_PARAM, f"{what} must be an integer between {low} and {high}")
    number = int(text)
    if number < low:
        raise MatrixError(400, Codes.INVALID_PARAM, f"{what} must be at least {low}")
    if number > high:
        raise MatrixError(400, Codes.INVALID_PARAM, f"{what} must be at most {high}")
    return number


def parse_position(text: str) -> int | None:
    """A non-negative stream position inside a token this server gave out ("123"), or None when
    the text is not one (not ASCII digits, or beyond the canonical range)."""
    if not _DIGITS.fullmatch(text):
        return None
    number = int(text)
    return number if number <= MAX_SAFE_INTEGER else None

