"""Server-side key backups: versions (with tombstones for deleted ones) and their room keys."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from homeserver.storage.database import Database, Transaction


@dataclass(frozen=True)
class BackupVersion:
    version: int
    algorithm: str
    auth_data: dict[str, Any]
    etag: int
    count: int


@dataclass(frozen=True)
class BackedUpKey:
    room_id: str
    session_id: str
    first_message_index: int
    forwarded_count: int
    is_verified: bool
    session_data: dict[str, Any]


class KeyBackupStore:
    def __init__(self, db: Database):
        self._db = db

    async def create_version(self, user_id: str, algorithm: str, auth_data: dict[str, Any]) -> int:
        def txn_fn(txn: Transaction) -> int:
            # Deleted versions count too: a version number is never reused.
            row = txn.execute("SELECT MAX(version) FROM room_key_backup_versions WHERE user_id = ?",
                              (user_id,)).fetchone()
            version = (row[0] or 0) + 1
            txn.execute("INSERT INTO room_key_backup_versions (user_id, version, algorithm, auth_data, etag, deleted) "
                        "VALUES (?, ?, ?, ?, 0, FALSE)", (user_id, version, algorithm, json.dumps(auth_data)))
            return version

        return await self._db.run("create_key_backup_version", txn_fn)

    async def get_current_version_number(self, user_id: str) -> int | None:
        rows = await self._db.execute(
            "get_current_key_backup_version",
            "SELECT MAX(version) FROM room_key_backup_versions WHERE user_id = ? AND deleted = FALSE", user_id)
        return rows[0][0]

    async def get_version(self, user_id: str, version: int) -> BackupVersion | None:
        """A live (not deleted) version, with its key count."""
        def txn_fn(txn: Transaction) -> BackupVersion | None:
            row = txn.execute(
                "SELECT algorithm, auth_data, etag FROM room_key_backup_versions "
                "WHERE user_id = ? AND version = ? AND deleted = FALSE", (user_id, version)).fetchone()
            if row is None:
                return None
            return BackupVersion(version, row[0], json.loads(row[1]), row[2], self._count_txn(txn, user_id, version))

        return await self._db.run("get_key_backup_version", txn_fn)

    async def version_existed(self, user_id: str, version: int) -> bool:
        """Whether the version was ever created (it may be deleted since)."""
        rows = await self._db.execute(
            "key_backup_version_existed",
            "SELECT 1 FROM room_key_backup_versions WHERE user_id = ? AND version = ?", user_id, version)
        return bool(rows)

    async def update_auth_data(self, user_id: str, version: int, auth_data: dict[str, Any]) -> None:
        await self._db.run("update_key_backup_auth_data", lambda txn: txn.execute(
            "UPDATE room_key_backup_versions SET auth_data = ? WHERE user_id = ? AND version = ? AND deleted = FALSE",
            (json.dumps(auth_data), user_id, version)))

    async def delete_version(self, user_id: str, version: int) -> None:
        """Mark the version deleted and drop its keys."""
        def txn_fn(txn: Transaction) -> None:
            txn.execute("DELETE FROM room_key_backup_keys WHERE user_id = ? AND version = ?", (user_id, version))
            txn.execute("UPDATE room_key_backup_versions SET deleted = TRUE WHERE user_id = ? AND version = ?",
                        (user_id, version))

        await self._db.run("delete_key_backup_version", txn_fn)

    async def delete_all_versions(self, user_id: str) -> None:
        """Every version and key of the user (account deactivation); version numbers stay used."""
        def txn_fn(txn: Transaction) -> None:
            txn.execute("DELETE FROM room_key_backup_keys WHERE user_id = ?", (user_id,))
            txn.execute("UPDATE room_key_backup_versions SET deleted = TRUE WHERE user_id = ?", (user_id,))

        await self._db.run("delete_all_key_backups", txn_fn)

    # -- keys -----------------------------------------------------------------------------------

    async def get_keys(self, user_id: str, version: int, room_id: str | None = None,
                       session_id: str | None = None) -> list[BackedUpKey]:
        """The version's keys, optionally only one room's, or one session's."""
        where, args = _keys_scope(user_id, version, room_id, session_id)
        rows = await self._db.execute(
            "get_backed_up_keys",
            "SELECT room_id, session_id, first_message_index, forwarded_count, is_verified, session_data "
            f"FROM room_key_backup_keys WHERE {where}", *args)
        return [BackedUpKey(r, s, fmi, fc, bool(v), json.loads(d)) for r, s, fmi, fc, v, d in rows]

    async def get_keys_for_sessions(self, user_id: str, version: int,
                                    sessions: list[tuple[str, str]]) -> dict[tuple[str, str], BackedUpKey]:
        """(room_id, session_id) -> the stored key, for those of `sessions` that have one."""
        wanted = set(sessions)
        by_room: dict[str, list[str]] = {}
        for room_id, session_id in wanted:
            by_room.setdefault(room_id, []).append(session_id)

        def txn_fn(txn: Transaction) -> dict[tuple[str, str], BackedUpKey]:
            out = {}
            for room_id, session_ids in by_room.items():
                rows = txn.select_in(
                    "SELECT session_id, first_message_index, forwarded_count, is_verified, session_data "
                    "FROM room_key_backup_keys WHERE user_id = ? AND version = ? AND room_id = ? AND session_id {in}",
                    session_ids, before=(user_id, version, room_id))
                for s, fmi, fc, v, d in rows:
                    out[(room_id, s)] = BackedUpKey(room_id, s, fmi, fc, bool(v), json.loads(d))
            return out

        return await self._db.run("get_backed_up_keys_for_sessions", txn_fn)

    async def put_keys(self, user_id: str, version: int, keys: list[BackedUpKey]) -> tuple[int, int]:
        """Insert or replace `keys`; bump the etag if any. Returns (etag, count) afterwards."""
        def txn_fn(txn: Transaction) -> tuple[int, int]:
            for k in keys:
                txn.execute("DELETE FROM room_key_backup_keys WHERE user_id = ? AND version = ? AND room_id = ? "
                            "AND session_id = ?", (user_id, version, k.room_id, k.session_id))
            txn.executemany(
                "INSERT INTO room_key_backup_keys (user_id, version, room_id, session_id, first_message_index, "
                "forwarded_count, is_verified, session_data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(user_id, version, k.room_id, k.session_id, k.first_message_index, k.forwarded_count,
                  k.is_verified, json.dumps(k.session_data)) for k in keys])
            return self._bump_etag_txn(txn, user_id, version, bool(keys))

        return await self._db.run("put_backed_up_keys", txn_fn)

    async def delete_keys(self, user_id: str, version: int, room_id: str | None = None,
                          session_id: str | None = None) -> tuple[int, int]:
        """Delete the version's keys (or one room's, or one session's). Returns (etag, count)."""
        def txn_fn(txn: Transaction) -> tuple[int, int]:
            where, args = _keys_scope(user_id, version, room_id, session_id)
            txn.execute(f"DELETE FROM room_key_backup_keys WHERE {where}", args)
            return self._bump_etag_txn(txn, user_id, version, txn.rowcount > 0)

        return await self._db.run("delete_backed_up_keys", txn_fn)

    def _bump_etag_txn(self, txn: Transaction, user_id: str, version: int, changed: bool) -> tuple[int, int]:
        if changed:
            txn.execute("UPDATE room_key_backup_versions SET etag = etag + 1 WHERE user_id = ? AND version = ?",
                        (user_id, version))
        row = txn.execute("SELECT etag FROM room_key_backup_versions WHERE user_id = ? AND version = ?",
                          (user_id, version)).fetchone()
        return (row[0] if row else 0), self._count_txn(txn, user_id, version)

    @staticmethod
    def _count_txn(txn: Transaction, user_id: str, version: int) -> int:
        row = txn.execute("SELECT COUNT(*) FROM room_key_backup_keys WHERE user_id = ? AND version = ?",
                          (user_id, version)).fetchone()
        return row[0]


def _keys_scope(user_id: str, version: int, room_id: str | None, session_id: str | None) -> tuple[str, list[Any]]:
    """The WHERE clause (and its arguments) for a version's keys, or one room's, or one session's."""
    where = "user_id = ? AND version = ?"
    args: list[Any] = [user_id, version]
    if room_id is not None:
        where += " AND room_id = ?"
        args.append(room_id)
    if session_id is not None:
        where += " AND session_id = ?"
        args.append(session_id)
    return where, args
