"""Random tokens and their stored form."""

from __future__ import annotations

import hashlib
import secrets


def new_token(prefix: str) -> str:
    """A 256-bit random token; the prefix tells token kinds apart in a bug report (`syt_`, `syr_`...)."""
    return prefix + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """What the database keeps instead of a token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
