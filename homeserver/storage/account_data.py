"""Account data (global and per room) and extended profile fields."""

from __future__ import annotations

import json
from typing import Any

from homeserver.storage.database import Database, Transaction
from homeserver.storage.ids import IdGenerator, StreamIdTracker
from homeserver.util.caches import LruCache

IGNORED_USERS_TYPE = "m.ignored_user_list"


class AccountDataStore:
    def __init__(self, db: Database):
        self._db = db
        self.stream = StreamIdTracker(IdGenerator("account_data", "stream_id"))
        # user_id -> the users they ignore: every /sync reads it. Dropped after the commit of a
        # write to the list (a read that raced with one does not fill it: see LruCache).
        self._ignored: LruCache[str, frozenset[str]] = LruCache("ignored_users", 50_000)

    async def load(self) -> None:
        await self.stream._generator.load(self._db)
        rows = await self._db.execute("max_account_data", "SELECT MAX(stream_id) FROM account_data")
        self.stream.load(rows[0][0] or 0)

    async def put(self, user_id: str, room_id: str, data_type: str, content: dict[str, Any]) -> int:
        position = self.stream.allocate()

        def txn_fn(txn: Transaction) -> None:
            txn.execute("DELETE FROM account_data WHERE user_id = ? AND room_id = ? AND type = ?",
                        (user_id, room_id, data_type))
            txn.execute("INSERT INTO account_data (user_id, room_id, type, content, stream_id) VALUES (?, ?, ?, ?, ?)",
                        (user_id, room_id, data_type, json.dumps(content), position))
            if room_id == "" and data_type == IGNORED_USERS_TYPE:
                txn.call_after_commit(lambda: self._forget_ignored(user_id))

        try:
            await self._db.run("put_account_data", txn_fn)
        finally:
            self.stream.finish(position)
        return position

    async def get(self, user_id: str, room_id: str, data_type: str) -> dict[str, Any] | None:
        rows = await self._db.execute(
            "get_account_data", "SELECT content FROM account_data WHERE user_id = ? AND room_id = ? AND type = ?",
            user_id, room_id, data_type)
        return json.loads(rows[0][0]) if rows else None

    async def get_changes(self, user_id: str, after: int | None, upto: int) -> dict[str, dict[str, dict[str, Any]]]:
        """room_id ('' for global) -> type -> content, for what changed in (after, upto]."""
        if after is not None and after >= upto:
            return {}  # an empty range (a sync woken by something else)
        rows = await self._db.execute(
            "get_account_data_changes",
            "SELECT room_id, type, content FROM account_data WHERE user_id = ? AND stream_id > ? AND stream_id <= ?",
            user_id, after if after is not None else 0, upto)
        out: dict[str, dict[str, dict[str, Any]]] = {}
        for room_id, data_type, content in rows:
            out.setdefault(room_id, {})[data_type] = json.loads(content)
        return out

    async def get_ignored_users(self, user_id: str) -> set[str]:
        """The users in the user's m.ignored_user_list."""
        async def load() -> frozenset[str]:
            content = await self.get(user_id, "", IGNORED_USERS_TYPE) or {}
            ignored = content.get("ignored_users")
            return frozenset(ignored) if isinstance(ignored, dict) else frozenset()

        return set(await self._ignored.get_or_load(user_id, load))

    def _forget_ignored(self, user_id: str) -> None:
        self._ignored.pop(user_id)

    async def delete_all_of_user(self, user_id: str) -> None:
        """Every piece of the user's account data and profile fields (account erasure). No
        stream position: the user has no devices left to sync it to."""

        def txn_fn(txn: Transaction) -> None:
            txn.execute("DELETE FROM account_data WHERE user_id = ?", (user_id,))
            txn.execute("DELETE FROM profile_fields WHERE user_id = ?", (user_id,))
            txn.call_after_commit(lambda: self._forget_ignored(user_id))

        await self._db.run("delete_account_data_of_user", txn_fn)

    # -- extended profile fields ----------------------------------------------------------------

    async def get_profile_fields(self, user_id: str) -> dict[str, Any]:
        rows = await self._db.execute(
            "get_profile_fields", "SELECT field, value FROM profile_fields WHERE user_id = ?", user_id)
        return {f: json.loads(v) for f, v in rows}

    async def set_profile_field(self, user_id: str, field: str, value: Any) -> None:
        def txn_fn(txn: Transaction) -> None:
            txn.execute("DELETE FROM profile_fields WHERE user_id = ? AND field = ?", (user_id, field))
            if value is not ...:
                txn.execute("INSERT INTO profile_fields (user_id, field, value) VALUES (?, ?, ?)",
                            (user_id, field, json.dumps(value)))

        await self._db.run("set_profile_field", txn_fn)

    async def delete_profile_field(self, user_id: str, field: str) -> None:
        await self.set_profile_field(user_id, field, ...)
