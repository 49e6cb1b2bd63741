"""Access, refresh and login tokens. Only SHA-256 hashes of tokens are stored."""

from __future__ import annotations

from dataclasses import dataclass

from homeserver.storage.database import Database, Transaction
from homeserver.storage.ids import IdGenerator
from homeserver.util.caches import LruCache


@dataclass
class AccessTokenInfo:
    token_id: int
    user_id: str
    device_id: str
    valid_until_ms: int | None
    refresh_token_id: int | None
    used: bool
    is_guest: bool = False  # the token's user is a guest account


@dataclass(frozen=True)
class RefreshTokenInfo:
    token_id: int
    user_id: str
    device_id: str
    expiry_ts: int | None
    next_token_id: int | None


class TokensStore:
    def __init__(self, db: Database):
        self._db = db
        self.access_token_ids = IdGenerator("access_tokens", "id")
        self.refresh_token_ids = IdGenerator("refresh_tokens", "id")
        self._access_cache: LruCache[str, AccessTokenInfo] = LruCache("access_tokens", 50_000)

    async def load(self) -> None:
        await self.access_token_ids.load(self._db)
        await self.refresh_token_ids.load(self._db)

    # -- access tokens --------------------------------------------------------------------------

    async def get_access_token(self, token_hash: str) -> AccessTokenInfo | None:
        """The token's row, through a cache that a revocation empties at its commit (and that a
        read racing with the revocation cannot fill again: see LruCache)."""

        async def load() -> AccessTokenInfo | None:
            rows = await self._db.execute(
                "get_access_token",
                "SELECT t.id, t.user_id, t.device_id, t.valid_until_ms, t.refresh_token_id, t.used, u.is_guest "
                "FROM access_tokens t LEFT JOIN users u ON u.user_id = t.user_id WHERE t.token_hash = ?",
                token_hash,
            )
            if not rows:
                return None
            r = rows[0]
            return AccessTokenInfo(r[0], r[1], r[2], r[3], r[4], bool(r[5]), bool(r[6]))

        return await self._access_cache.get_or_load(token_hash, load)

    def add_access_token_txn(
        self, txn: Transaction, token_hash: str, user_id: str, device_id: str, now_ms: int,
        valid_until_ms: int | None, refresh_token_id: int | None = None,
    ) -> int:
        token_id = self.access_token_ids.next()
        txn.execute(
            "INSERT INTO access_tokens (id, token_hash, user_id, device_id, valid_until_ms, refresh_token_id, "
            "used, created_ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (token_id, token_hash, user_id, device_id, valid_until_ms, refresh_token_id, False, now_ms),
        )
        return token_id

    def forget_cached_tokens_of_user_txn(self, txn: Transaction, user_id: str) -> None:
        """After the commit, the cache forgets the user's tokens (what it holds of the user changed)."""
        txn.call_after_commit(lambda: self._access_cache.pop_where(
            lambda _, info: info is not None and info.user_id == user_id))

    def delete_access_tokens_for_devices_txn(self, txn: Transaction, user_id: str, device_ids: list[str]) -> None:
        for device_id in device_ids:
            hashes = txn.execute(
                "SELECT token_hash FROM access_tokens WHERE user_id = ? AND device_id = ?", (user_id, device_id)
            ).fetchall()
            txn.execute("DELETE FROM access_tokens WHERE user_id = ? AND device_id = ?", (user_id, device_id))
            txn.execute("DELETE FROM refresh_tokens WHERE user_id = ? AND device_id = ?", (user_id, device_id))
            for (h,) in hashes:
                txn.call_after_commit(lambda h=h: self._access_cache.pop(h))

    async def mark_access_token_used(self, token_hash: str, info: AccessTokenInfo) -> None:
        """First use of an access token minted by /refresh: the refresh token it replaced is revoked."""

        def txn_fn(txn: Transaction) -> None:
            txn.execute("UPDATE access_tokens SET used = ? WHERE id = ?", (True, info.token_id))
            if info.refresh_token_id is not None:
                self._revoke_replaced_refresh_tokens_txn(txn, info.refresh_token_id)

        await self._db.run("mark_access_token_used", txn_fn)
        info.used = True

    def _revoke_replaced_refresh_tokens_txn(self, txn: Transaction, new_refresh_token_id: int) -> None:
        """Delete the refresh token(s) replaced by `new_refresh_token_id`, and their access tokens."""
        old = txn.execute(
            "SELECT id FROM refresh_tokens WHERE next_token_id = ?", (new_refresh_token_id,)
        ).fetchall()
        for (old_id,) in old:
            self._delete_refresh_token_txn(txn, old_id)

    def _delete_access_tokens_of_refresh_token_txn(self, txn: Transaction, refresh_id: int) -> None:
        hashes = txn.execute(
            "SELECT token_hash FROM access_tokens WHERE refresh_token_id = ?", (refresh_id,)
        ).fetchall()
        txn.execute("DELETE FROM access_tokens WHERE refresh_token_id = ?", (refresh_id,))
        for (h,) in hashes:
            txn.call_after_commit(lambda h=h: self._access_cache.pop(h))

    def _delete_refresh_token_txn(self, txn: Transaction, refresh_id: int) -> None:
        self._delete_access_tokens_of_refresh_token_txn(txn, refresh_id)
        txn.execute("DELETE FROM refresh_tokens WHERE id = ?", (refresh_id,))

    # -- refresh tokens -------------------------------------------------------------------------

    def add_refresh_token_txn(
        self, txn: Transaction, token_hash: str, user_id: str, device_id: str, expiry_ts: int | None
    ) -> int:
        token_id = self.refresh_token_ids.next()
        txn.execute(
            "INSERT INTO refresh_tokens (id, token_hash, user_id, device_id, expiry_ts) VALUES (?, ?, ?, ?, ?)",
            (token_id, token_hash, user_id, device_id, expiry_ts),
        )
        return token_id

    async def get_refresh_token(self, token_hash: str) -> RefreshTokenInfo | None:
        rows = await self._db.execute(
            "get_refresh_token",
            "SELECT id, user_id, device_id, expiry_ts, next_token_id FROM refresh_tokens WHERE token_hash = ?",
            token_hash,
        )
        return RefreshTokenInfo(*rows[0]) if rows else None

    async def replace_refresh_token(
        self, old: RefreshTokenInfo, new_refresh_hash: str, new_refresh_expiry_ts: int | None,
        new_access_hash: str, access_valid_until_ms: int | None, now_ms: int,
    ) -> None:
        """Mint a new refresh + access token pair from `old`."""

        def txn_fn(txn: Transaction) -> None:
            # Using a refresh token revokes the one it replaced; re-using a refreshed one discards
            # its unused successor (the client never got it).
            self._revoke_replaced_refresh_tokens_txn(txn, old.token_id)
            if old.next_token_id is not None:
                self._delete_refresh_token_txn(txn, old.next_token_id)
            new_id = self.add_refresh_token_txn(txn, new_refresh_hash, old.user_id, old.device_id,
                                                new_refresh_expiry_ts)
            txn.execute("UPDATE refresh_tokens SET next_token_id = ? WHERE id = ?", (new_id, old.token_id))
            # The access token that came with the old refresh token stops working now.
            self._delete_access_tokens_of_refresh_token_txn(txn, old.token_id)
            self.add_access_token_txn(txn, new_access_hash, old.user_id, old.device_id, now_ms,
                                      access_valid_until_ms, new_id)

        await self._db.run("replace_refresh_token", txn_fn)

    # -- login tokens ---------------------------------------------------------------------------

    async def add_login_token(self, token_hash: str, user_id: str, expiry_ts: int) -> None:
        await self._db.run(
            "add_login_token",
            lambda txn: txn.execute(
                "INSERT INTO login_tokens (token_hash, user_id, expiry_ts) VALUES (?, ?, ?)",
                (token_hash, user_id, expiry_ts),
            ),
        )

    async def consume_login_token(self, token_hash: str, now_ms: int) -> str | None:
        """The user the token logs in, if it exists and has not expired; it can be used once."""

        def txn_fn(txn: Transaction) -> str | None:
            row = txn.execute(
                "SELECT user_id, expiry_ts FROM login_tokens WHERE token_hash = ?", (token_hash,)
            ).fetchone()
            if row is None or row[1] < now_ms:
                return None
            txn.execute("DELETE FROM login_tokens WHERE token_hash = ?", (token_hash,))
            return row[0]

        return await self._db.run("consume_login_token", txn_fn)

    async def delete_expired_login_tokens(self, now_ms: int) -> None:
        await self._db.run(
            "delete_expired_login_tokens",
            lambda txn: txn.execute("DELETE FROM login_tokens WHERE expiry_ts < ?", (now_ms,)),
        )

    def delete_login_tokens_for_user_txn(self, txn: Transaction, user_id: str) -> None:
        txn.execute("DELETE FROM login_tokens WHERE user_id = ?", (user_id,))
