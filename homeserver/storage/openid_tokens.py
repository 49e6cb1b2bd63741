"""OpenID tokens (table openid_tokens): only SHA-256 hashes of the tokens are stored."""

from __future__ import annotations

from homeserver.storage.database import Database


class OpenIdTokensStore:
    def __init__(self, db: Database):
        self._db = db

    async def add_token(self, token_hash: str, user_id: str, expiry_ts: int) -> None:
        await self._db.run(
            "add_openid_token",
            lambda txn: txn.execute(
                "INSERT INTO openid_tokens (token_hash, user_id, expiry_ts) VALUES (?, ?, ?)",
                (token_hash, user_id, expiry_ts),
            ),
        )

    async def get_user_for_token(self, token_hash: str, now_ms: int) -> str | None:
        """The user who made the token, if it exists and has not expired."""
        rows = await self._db.execute(
            "get_openid_token_user",
            "SELECT user_id FROM openid_tokens WHERE token_hash = ? AND expiry_ts > ?",
            token_hash, now_ms,
        )
        return rows[0][0] if rows else None

    async def delete_expired_tokens(self, now_ms: int) -> None:
        await self._db.run(
            "delete_expired_openid_tokens",
            lambda txn: txn.execute("DELETE FROM openid_tokens WHERE expiry_ts <= ?", (now_ms,)),
        )
