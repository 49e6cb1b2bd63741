"""Registration tokens (spec: m.login.registration_token), managed through the admin API."""

from __future__ import annotations

from dataclasses import dataclass

from homeserver.storage.database import Database, Transaction


@dataclass(frozen=True)
class RegistrationToken:
    token: str
    uses_allowed: int | None
    pending: int
    completed: int
    expiry_time: int | None

    def to_json(self) -> dict:
        return {"token": self.token, "uses_allowed": self.uses_allowed, "pending": self.pending,
                "completed": self.completed, "expiry_time": self.expiry_time}


_COLUMNS = "token, uses_allowed, pending, completed, expiry_time"


class RegistrationTokensStore:
    def __init__(self, db: Database):
        self._db = db

    async def create(self, token: str, uses_allowed: int | None, expiry_time: int | None) -> bool:
        try:
            await self._db.run(
                "create_registration_token",
                lambda txn: txn.execute(
                    "INSERT INTO registration_tokens (token, uses_allowed, expiry_time) VALUES (?, ?, ?)",
                    (token, uses_allowed, expiry_time),
                ),
            )
            return True
        except self._db.IntegrityError:
            return False

    async def get(self, token: str) -> RegistrationToken | None:
        rows = await self._db.execute(
            "get_registration_token", f"SELECT {_COLUMNS} FROM registration_tokens WHERE token = ?", token
        )
        return RegistrationToken(*rows[0]) if rows else None

    async def is_valid(self, token: str, now_ms: int) -> bool:
        t = await self.get(token)
        return (t is not None and (t.expiry_time is None or t.expiry_time > now_ms)
                and (t.uses_allowed is None or t.pending + t.completed < t.uses_allowed))

    async def list(self) -> list[RegistrationToken]:
        rows = await self._db.execute(
            "list_registration_tokens", f"SELECT {_COLUMNS} FROM registration_tokens ORDER BY token"
        )
        return [RegistrationToken(*r) for r in rows]

    async def update(self, token: str, uses_allowed: int | None, expiry_time: int | None) -> bool:
        def txn_fn(txn: Transaction) -> bool:
            txn.execute(
                "UPDATE registration_tokens SET uses_allowed = ?, expiry_time = ? WHERE token = ?",
                (uses_allowed, expiry_time, token),
            )
            return txn.rowcount > 0

        return await self._db.run("update_registration_token", txn_fn)

    async def delete(self, token: str) -> bool:
        def txn_fn(txn: Transaction) -> bool:
            txn.execute("DELETE FROM registration_tokens WHERE token = ?", (token,))
            return txn.rowcount > 0

        return await self._db.run("delete_registration_token", txn_fn)

    async def reserve_use(self, token: str, now_ms: int) -> bool:
        """Count a pending use if the token is valid now (one atomic check-and-increment)."""

        def txn_fn(txn: Transaction) -> bool:
            txn.execute(
                "UPDATE registration_tokens SET pending = pending + 1 WHERE token = ? "
                "AND (expiry_time IS NULL OR expiry_time > ?) "
                "AND (uses_allowed IS NULL OR pending + completed < uses_allowed)",
                (token, now_ms),
            )
            return txn.rowcount > 0

        return await self._db.run("reserve_registration_token", txn_fn)

    def complete_use_txn(self, txn: Transaction, token: str) -> None:
        txn.execute(
            "UPDATE registration_tokens SET pending = pending - 1, completed = completed + 1 WHERE token = ?",
            (token,),
        )

    async def complete_use(self, token: str) -> None:
        await self._db.run("complete_registration_token", self.complete_use_txn, token)

    async def release_use(self, token: str) -> None:
        await self._db.run(
            "release_registration_token",
            lambda txn: txn.execute(
                "UPDATE registration_tokens SET pending = pending - 1 WHERE token = ? AND pending > 0", (token,)
            ),
        )
