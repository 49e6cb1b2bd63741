"""Users and their profiles (the rows created at registration)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from homeserver.storage.database import Database, Transaction
from homeserver.storage.devices import DevicesStore
from homeserver.storage.tokens import TokensStore
from homeserver.util.caches import LruCache


@dataclass(frozen=True)
class UserRecord:
    user_id: str
    password_hash: str | None
    created_ts: int
    admin: bool
    user_type: str | None
    deactivated: bool
    is_guest: bool = False
    locked: bool = False
    suspended: bool = False
    shadow_banned: bool = False


@dataclass(frozen=True)
class AccountStatus:
    """What every authenticated request checks (cached: read on each request)."""

    locked: bool
    suspended: bool
    shadow_banned: bool


ACCOUNT_FLAGS = ("locked", "suspended", "shadow_banned")


class UsersStore:
    def __init__(self, db: Database, devices: DevicesStore, tokens: TokensStore):
        self._db = db
        self._devices = devices
        self._tokens = tokens
        # Called in the transaction that creates a user, changes their profile or deactivates
        # them (the user directory): fn(txn, user_id).
        self.user_changed_hooks: list[Callable[[Transaction, str], None]] = []
        # user_id -> the events stream position of their erasure, or None: read for the senders of
        # every batch of events served to clients. Erasure is forever, so entries never go stale
        # but for the one write (which pops after its commit).
        self._erasures: LruCache[str, int | None] = LruCache("erased_users", 100_000)
        self._status: LruCache[str, AccountStatus] = LruCache("account_status", 100_000)

    def _user_changed_txn(self, txn: Transaction, user_id: str) -> None:
        for hook in self.user_changed_hooks:
            hook(txn, user_id)

    async def create_user(
        self, user_id: str, password_hash: str | None, now_ms: int, admin: bool = False,
        user_type: str | None = None, displayname: str | None = None, is_guest: bool = False,
    ) -> bool:
        """Create the user; False if the ID is already taken (by a live or deactivated account)."""

        def txn_fn(txn: Transaction) -> bool:
            if txn.execute("SELECT 1 FROM users WHERE user_id = ?", (user_id,)).fetchone():
                return False
            txn.execute(
                "INSERT INTO users (user_id, password_hash, created_ts, admin, user_type, is_guest) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (user_id, password_hash, now_ms, admin, user_type, is_guest),
            )
            txn.execute("INSERT INTO profiles (user_id, displayname) VALUES (?, ?)", (user_id, displayname))
            self._user_changed_txn(txn, user_id)
            return True

        try:
            return await self._db.run("create_user", txn_fn)
        except self._db.IntegrityError:
            return False  # lost a race with another registration of the same name

    async def get_user(self, user_id: str) -> UserRecord | None:
        rows = await self._db.execute(
            "get_user",
            "SELECT user_id, password_hash, created_ts, admin, user_type, deactivated, is_guest, locked, suspended, "
            "shadow_banned FROM users WHERE user_id = ?",
            user_id,
        )
        if not rows:
            return None
        r = rows[0]
        return UserRecord(r[0], r[1], r[2], bool(r[3]), r[4], bool(r[5]), bool(r[6]), bool(r[7]), bool(r[8]),
                          bool(r[9]))

    async def get_account_status(self, user_id: str) -> AccountStatus:
        """The user's locked/suspended/shadow-banned flags (all off for an unknown user)."""

        async def load() -> AccountStatus:
            rows = await self._db.execute(
                "get_account_status", "SELECT locked, suspended, shadow_banned FROM users WHERE user_id = ?", user_id)
            return AccountStatus(*(bool(v) for v in rows[0])) if rows else AccountStatus(False, False, False)

        return await self._status.get_or_load(user_id, load)

    async def set_account_flag(self, user_id: str, flag: str, value: bool) -> None:
        """Set `locked`, `suspended` or `shadow_banned`."""
        column = {f: f for f in ACCOUNT_FLAGS}[flag]  # never from input

        def txn_fn(txn: Transaction) -> None:
            txn.execute(f"UPDATE users SET {column} = ? WHERE user_id = ?", (value, user_id))
            txn.call_after_commit(lambda: self._status.pop(user_id))

        await self._db.run("set_account_flag", txn_fn)

    async def reactivate(self, user_id: str, password_hash: str | None) -> None:
        """Undo a deactivation (admin API): the account can log in again with this password."""

        def txn_fn(txn: Transaction) -> None:
            txn.execute("UPDATE users SET deactivated = ?, password_hash = ? WHERE user_id = ?",
                        (False, password_hash, user_id))
            self._user_changed_txn(txn, user_id)

        await self._db.run("reactivate_user", txn_fn)

    async def set_user_type(self, user_id: str, user_type: str | None) -> None:
        await self._db.run("set_user_type", lambda txn: txn.execute(
            "UPDATE users SET user_type = ? WHERE user_id = ?", (user_type, user_id)))

    async def get_guests(self, user_ids: list[str]) -> set[str]:
        """Those of `user_ids` that are guest accounts."""
        if not user_ids:
            return set()

        def txn_fn(txn: Transaction) -> set[str]:
            rows = txn.select_in("SELECT user_id FROM users WHERE is_guest = ? AND user_id {in}", user_ids,
                                 before=(True,))
            return {r[0] for r in rows}

        return await self._db.run("get_guests", txn_fn)

    async def upgrade_guest(self, user_id: str, password_hash: str | None) -> bool:
        """Make a guest account a full one (with this password); False if it is no guest (any
        more: two upgrades racing, one wins). Its access tokens are now a full user's."""

        def txn_fn(txn: Transaction) -> bool:
            changed = txn.execute(
                "UPDATE users SET is_guest = ?, password_hash = ? WHERE user_id = ? AND is_guest = ? "
                "AND deactivated = ?", (False, password_hash, user_id, True, False)).rowcount
            if changed:
                self._tokens.forget_cached_tokens_of_user_txn(txn, user_id)
                self._user_changed_txn(txn, user_id)
            return bool(changed)

        return await self._db.run("upgrade_guest", txn_fn)

    async def get_profile(self, user_id: str) -> dict[str, str]:
        """The user's displayname and avatar_url, where set (for member events)."""
        rows = await self._db.execute(
            "get_profile", "SELECT displayname, avatar_url FROM profiles WHERE user_id = ?", user_id)
        if not rows:
            return {}
        return {k: v for k, v in zip(("displayname", "avatar_url"), rows[0], strict=True) if v is not None}

    async def set_profile_value(self, user_id: str, key: str, value: str | None) -> None:
        """Set displayname or avatar_url (None clears it)."""
        column = {"displayname": "displayname", "avatar_url": "avatar_url"}[key]  # never from input

        def txn_fn(txn: Transaction) -> None:
            txn.execute(f"UPDATE profiles SET {column} = ? WHERE user_id = ?", (value, user_id))
            self._user_changed_txn(txn, user_id)

        await self._db.run("set_profile_value", txn_fn)

    async def find_user_ids_case_insensitive(self, user_id: str) -> list[str]:
        rows = await self._db.execute(
            "find_user_ids_ci", "SELECT user_id FROM users WHERE LOWER(user_id) = LOWER(?)", user_id
        )
        return [r[0] for r in rows]

    async def user_exists(self, user_id: str) -> bool:
        rows = await self._db.execute("user_exists", "SELECT 1 FROM users WHERE user_id = ?", user_id)
        return bool(rows)

    async def set_password_hash(
        self, user_id: str, password_hash: str, keep_device_id: str | None, logout_devices: bool
    ) -> list[str]:
        """Change the password; with `logout_devices`, delete every device but `keep_device_id`,
        with their tokens. Returns the deleted device IDs."""

        def txn_fn(txn: Transaction) -> list[str]:
            txn.execute("UPDATE users SET password_hash = ? WHERE user_id = ?", (password_hash, user_id))
            if not logout_devices:
                return []
            others = [d for d in self._devices.get_device_ids_txn(txn, user_id) if d != keep_device_id]
            self._devices.delete_devices_txn(txn, user_id, others)
            return others

        return await self._db.run("set_password_hash", txn_fn)

    async def deactivate(self, user_id: str) -> None:
        """Mark deactivated (the name stays taken forever), remove password, devices and tokens."""

        def txn_fn(txn: Transaction) -> None:
            txn.execute(
                "UPDATE users SET deactivated = ?, password_hash = NULL WHERE user_id = ?", (True, user_id)
            )
            self._devices.delete_devices_txn(txn, user_id, self._devices.get_device_ids_txn(txn, user_id))
            self._tokens.delete_login_tokens_for_user_txn(txn, user_id)
            self._user_changed_txn(txn, user_id)

        await self._db.run("deactivate_user", txn_fn)

    async def mark_erased(self, user_id: str, stream_ordering: int, now_ms: int) -> None:
        """Record that the user asked for erasure (deactivation with `erase`), at this events
        stream position. A second erasure keeps the first position."""

        def txn_fn(txn: Transaction) -> None:
            if not txn.execute("SELECT 1 FROM erased_users WHERE user_id = ?", (user_id,)).fetchone():
                txn.execute("INSERT INTO erased_users (user_id, stream_ordering, erased_ts) VALUES (?, ?, ?)",
                            (user_id, stream_ordering, now_ms))
            txn.call_after_commit(lambda: self._erasures.pop(user_id))

        await self._db.run("mark_erased", txn_fn)

    async def get_erasures(self, user_ids: set[str]) -> dict[str, int]:
        """Of `user_ids`, those erased -> the events stream position of their erasure."""
        out: dict[str, int] = {}
        missing = []
        for user_id in user_ids:
            cached = self._erasures.get(user_id, ...)
            if cached is ...:
                missing.append(user_id)
            elif cached is not None:
                out[user_id] = cached
        if not missing:
            return out

        def txn_fn(txn: Transaction) -> dict[str, int]:
            rows = txn.select_in("SELECT user_id, stream_ordering FROM erased_users WHERE user_id {in}", missing)
            return {r[0]: r[1] for r in rows}

        with self._erasures.reading() as read:
            found = await self._db.run("get_erasures", txn_fn)
            for user_id in missing:
                read.fill(user_id, found.get(user_id))
        out.update(found)
        return out

    async def set_admin(self, user_id: str, admin: bool) -> None:
        await self._db.run(
            "set_admin", lambda txn: txn.execute("UPDATE users SET admin = ? WHERE user_id = ?", (admin, user_id))
        )
