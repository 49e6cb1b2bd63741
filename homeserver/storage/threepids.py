"""Third-party identifiers bound to accounts (user_threepids) and their validation sessions
(threepid_validation_sessions). Only hashes of validation tokens are stored."""

from __future__ import annotations

from typing import NamedTuple

from homeserver.storage.database import Database, Transaction


class Threepid(NamedTuple):
    medium: str
    address: str
    user_id: str
    validated_at: int
    added_at: int


class ValidationSession(NamedTuple):
    session_id: str
    medium: str
    address: str
    client_secret: str
    purpose: str
    last_send_attempt: int
    token_hash: str | None
    token_expires_ts: int
    next_link: str | None
    created_ts: int
    validated_at: int | None


_SESSION_COLUMNS = ("session_id, medium, address, client_secret, purpose, last_send_attempt, token_hash, "
                    "token_expires_ts, next_link, created_ts, validated_at")


class ThreepidsStore:
    def __init__(self, db: Database):
        self._db = db

    # -- bound identifiers ---------------------------------------------------------------------

    async def get_owner(self, medium: str, address: str) -> str | None:
        rows = await self._db.execute(
            "get_threepid_owner", "SELECT user_id FROM user_threepids WHERE medium = ? AND address = ?",
            medium, address)
        return rows[0][0] if rows else None

    async def get_user_threepids(self, user_id: str) -> list[Threepid]:
        rows = await self._db.execute(
            "get_user_threepids",
            "SELECT medium, address, user_id, validated_at, added_at FROM user_threepids WHERE user_id = ? "
            "ORDER BY added_at, address", user_id)
        return [Threepid(*r) for r in rows]

    async def add_threepid(self, user_id: str, medium: str, address: str, validated_at: int, now_ms: int) -> bool:
        """Bind; False (and nothing changed) if the address is bound to another account already.
        Binding again to the same account is a success that changes nothing."""

        def txn_fn(txn: Transaction) -> bool:
            row = txn.execute("SELECT user_id FROM user_threepids WHERE medium = ? AND address = ?",
                              (medium, address)).fetchone()
            if row is not None:
                return row[0] == user_id
            txn.execute("INSERT INTO user_threepids (medium, address, user_id, validated_at, added_at) "
                        "VALUES (?, ?, ?, ?, ?)", (medium, address, user_id, validated_at, now_ms))
            return True

        try:
            return await self._db.run("add_threepid", txn_fn)
        except self._db.IntegrityError:  # a concurrent bind of the same address won
            return False

    async def remove_threepid(self, user_id: str, medium: str, address: str) -> bool:
        def txn_fn(txn: Transaction) -> bool:
            txn.execute("DELETE FROM user_threepids WHERE user_id = ? AND medium = ? AND address = ?",
                        (user_id, medium, address))
            return txn.rowcount > 0

        return await self._db.run("remove_threepid", txn_fn)

    async def remove_all_of_user(self, user_id: str) -> None:
        await self._db.run("remove_user_threepids",
                           lambda txn: txn.execute("DELETE FROM user_threepids WHERE user_id = ?", (user_id,)))

    # -- validation sessions -------------------------------------------------------------------

    async def find_session(self, client_secret: str, medium: str, address: str, purpose: str
                           ) -> ValidationSession | None:
        rows = await self._db.execute(
            "find_validation_session",
            f"SELECT {_SESSION_COLUMNS} FROM threepid_validation_sessions "
            "WHERE client_secret = ? AND medium = ? AND address = ? AND purpose = ?",
            client_secret, medium, address, purpose)
        return ValidationSession(*rows[0]) if rows else None

    async def get_session(self, session_id: str) -> ValidationSession | None:
        rows = await self._db.execute(
            "get_validation_session",
            f"SELECT {_SESSION_COLUMNS} FROM threepid_validation_sessions WHERE session_id = ?", session_id)
        return ValidationSession(*rows[0]) if rows else None

    async def upsert_session(self, s: ValidationSession, previous_attempt: int | None) -> bool:
        """Create the session, or move an existing one to a new send attempt (new token). False if
        another request for the same attempt got there first (its mail is the one sent)."""

        def txn_fn(txn: Transaction) -> bool:
            if previous_attempt is None:
                txn.execute(
                    f"INSERT INTO threepid_validation_sessions ({_SESSION_COLUMNS}) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", tuple(s))
                return True
            txn.execute(
                "UPDATE threepid_validation_sessions SET last_send_attempt = ?, token_hash = ?, "
                "token_expires_ts = ?, next_link = ? WHERE session_id = ? AND last_send_attempt = ?",
                (s.last_send_attempt, s.token_hash, s.token_expires_ts, s.next_link, s.session_id,
                 previous_attempt))
            return txn.rowcount > 0

        try:
            return await self._db.run("upsert_validation_session", txn_fn)
        except self._db.IntegrityError:
            return False

    async def validate_session(self, session_id: str, token_hash: str, now_ms: int) -> bool:
        """Mark validated and use the token up, if the token is the session's live one."""

        def txn_fn(txn: Transaction) -> bool:
            txn.execute(
                "UPDATE threepid_validation_sessions SET validated_at = ?, token_hash = NULL "
                "WHERE session_id = ? AND token_hash = ? AND token_expires_ts > ?",
                (now_ms, session_id, token_hash, now_ms))
            return txn.rowcount > 0

        return await self._db.run("validate_session", txn_fn)

    async def delete_session(self, session_id: str) -> None:
        await self._db.run(
            "delete_validation_session",
            lambda txn: txn.execute("DELETE FROM threepid_validation_sessions WHERE session_id = ?", (session_id,)))

    async def delete_sessions_created_before(self, ts: int) -> None:
        await self._db.run(
            "delete_old_validation_sessions",
            lambda txn: txn.execute("DELETE FROM threepid_validation_sessions WHERE created_ts < ?", (ts,)))
