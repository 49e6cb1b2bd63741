"""The admin API's listings of users and of their media (docs/admin_api.md): filtered, ordered,
paged queries an operator runs. Ordinary requests never come here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from homeserver.storage.database import Database, Transaction

# Sort orders of GET /_synapse/admin/v2/users: fixed SQL per accepted name. NULLs become '' or 0
# so both engines order them alike; the user ID breaks ties.
USER_ORDERINGS = {
    "name": "u.user_id",
    "is_guest": "u.is_guest",
    "admin": "u.admin",
    "user_type": "COALESCE(u.user_type, '')",
    "deactivated": "u.deactivated",
    "shadow_banned": "u.shadow_banned",
    "displayname": "COALESCE(p.displayname, '')",
    "avatar_url": "COALESCE(p.avatar_url, '')",
    "creation_ts": "u.created_ts",
    "last_seen_ts": "COALESCE(s.last_seen_ts, 0)",
}
MEDIA_ORDERINGS = {
    "media_id": "media_id",
    "upload_name": "COALESCE(upload_name, '')",
    "created_ts": "created_ts",
    "last_access_ts": "last_access_ts",
    "media_length": "size",
    "media_type": "COALESCE(content_type, '')",
    "quarantined_by": "COALESCE(quarantined_by, '')",
    "safe_from_quarantine": "safe_from_quarantine",
}

MEDIA_STATS_ORDERINGS = {
    "user_id": "lm.user_id",
    "displayname": "COALESCE(p.displayname, '')",
    "media_length": "media_length",
    "media_count": "media_count",
}

_USER_SELECT = (
    "SELECT u.user_id, u.is_guest, u.admin, u.user_type, u.deactivated, e.user_id, u.shadow_banned, "
    "p.displayname, p.avatar_url, u.created_ts, u.locked, u.suspended, s.last_seen_ts "
    "FROM users u LEFT JOIN profiles p ON p.user_id = u.user_id "
    "LEFT JOIN erased_users e ON e.user_id = u.user_id "
    "LEFT JOIN (SELECT user_id, MAX(last_seen_ts) AS last_seen_ts FROM devices GROUP BY user_id) s "
    "ON s.user_id = u.user_id"
)


@dataclass(frozen=True)
class UserFilter:
    user_id: str | None = None  # the user ID contains this
    name: str | None = None  # the localpart or the display name contains this
    guests: bool = True
    deactivated: bool = False
    admins: bool | None = None
    locked: bool = False
    not_user_types: tuple[str, ...] = ()


def _like(term: str) -> str:
    """A LIKE pattern for "contains `term`" (case-insensitive on lowered columns), `\\` escaping."""
    escaped = term.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _user_row(r: tuple) -> dict[str, Any]:
    return {
        "name": r[0], "is_guest": bool(r[1]), "admin": bool(r[2]), "user_type": r[3], "deactivated": bool(r[4]),
        "erased": r[5] is not None, "shadow_banned": bool(r[6]), "displayname": r[7], "avatar_url": r[8],
        "creation_ts": r[9], "locked": bool(r[10]), "suspended": bool(r[11]), "last_seen_ts": r[12],
    }


class UserAdminStore:
    def __init__(self, db: Database):
        self._db = db

    async def list_users(self, f: UserFilter, order_by: str, backwards: bool, offset: int,
                         limit: int) -> tuple[list[dict[str, Any]], int]:
        """One page of local users and how many match in all."""
        where, args = ["1 = 1"], []
        if f.name is not None:
            where.append("(LOWER(u.user_id) LIKE ? ESCAPE '\\' OR LOWER(COALESCE(p.displayname, '')) LIKE ? "
                         "ESCAPE '\\')")
            args += [f"@{_like(f.name)}:%", _like(f.name)]
        elif f.user_id is not None:
            where.append("LOWER(u.user_id) LIKE ? ESCAPE '\\'")
            args.append(_like(f.user_id))
        if not f.guests:
            where.append("u.is_guest = ?")
            args.append(False)
        if not f.deactivated:
            where.append("u.deactivated = ?")
            args.append(False)
        if not f.locked:
            where.append("u.locked = ?")
            args.append(False)
        if f.admins is not None:
            where.append("u.admin = ?")
            args.append(f.admins)
        for user_type in f.not_user_types:
            if user_type:
                where.append("COALESCE(u.user_type, '') <> ?")
                args.append(user_type)
            else:
                where.append("u.user_type IS NOT NULL")
        direction = "DESC" if backwards else "ASC"
        order = USER_ORDERINGS[order_by]  # never from input
        conditions = " AND ".join(where)

        def txn_fn(txn: Transaction) -> tuple[list[dict[str, Any]], int]:
            rows = txn.execute(f"{_USER_SELECT} WHERE {conditions} ORDER BY {order} {direction}, u.user_id ASC "
                               "LIMIT ? OFFSET ?", [*args, limit, offset]).fetchall()
            total = txn.execute(
                "SELECT COUNT(*) FROM users u LEFT JOIN profiles p ON p.user_id = u.user_id "
                f"WHERE {conditions}", args).fetchone()[0]
            return [_user_row(r) for r in rows], total

        return await self._db.run("admin_list_users", txn_fn)

    async def get_user(self, user_id: str) -> dict[str, Any] | None:
        rows = await self._db.execute("admin_get_user", f"{_USER_SELECT} WHERE u.user_id = ?", user_id)
        return _user_row(rows[0]) if rows else None

    # -- media ----------------------------------------------------------------------------------

    async def list_user_media(self, user_id: str, order_by: str, backwards: bool, offset: int,
                              limit: int) -> tuple[list[dict[str, Any]], int]:
        direction = "DESC" if backwards else "ASC"
        order = MEDIA_ORDERINGS[order_by]  # never from input

        def txn_fn(txn: Transaction) -> tuple[list[dict[str, Any]], int]:
            rows = txn.execute(
                "SELECT media_id, created_ts, last_access_ts, size, content_type, quarantined_by, "
                "safe_from_quarantine, upload_name FROM local_media WHERE user_id = ? "
                f"ORDER BY {order} {direction}, media_id ASC LIMIT ? OFFSET ?", (user_id, limit, offset)).fetchall()
            total = txn.execute("SELECT COUNT(*) FROM local_media WHERE user_id = ?", (user_id,)).fetchone()[0]
            media = [{"media_id": r[0], "created_ts": r[1], "last_access_ts": r[2], "media_length": r[3],
                      "media_type": r[4], "quarantined_by": r[5], "safe_from_quarantine": bool(r[6]),
                      "upload_name": r[7]} for r in rows]
            return media, total

        return await self._db.run("admin_list_user_media", txn_fn)

    async def media_statistics(self, from_ts: int, until_ts: int | None, search: str | None, order_by: str,
                               backwards: bool, offset: int, limit: int) -> tuple[list[dict[str, Any]], int]:
        """Per local user: how many media they uploaded and their bytes (created in the range)."""
        where, args = ["lm.created_ts >= ?"], [from_ts]
        if until_ts is not None:
            where.append("lm.created_ts <= ?")
            args.append(until_ts)
        if search:
            where.append("(LOWER(lm.user_id) LIKE ? ESCAPE '\\' OR LOWER(COALESCE(p.displayname, '')) LIKE ? "
                         "ESCAPE '\\')")
            args += [_like(search), _like(search)]
        conditions = " AND ".join(where)
        order = MEDIA_STATS_ORDERINGS[order_by]  # never from input
        direction = "DESC" if backwards else "ASC"
        grouped = ("SELECT lm.user_id AS user_id, p.displayname AS displayname, COUNT(*) AS media_count, "
                   "SUM(lm.size) AS media_length FROM local_media lm LEFT JOIN profiles p ON p.user_id = lm.user_id "
                   f"WHERE {conditions} GROUP BY lm.user_id, p.displayname")

        def txn_fn(txn: Transaction) -> tuple[list[dict[str, Any]], int]:
            rows = txn.execute(f"{grouped} ORDER BY {order} {direction}, lm.user_id ASC LIMIT ? OFFSET ?",
                               [*args, limit, offset]).fetchall()
            total = txn.execute(f"SELECT COUNT(*) FROM ({grouped}) q", args).fetchone()[0]
            return [{"user_id": r[0], "displayname": r[1], "media_count": r[2], "media_length": int(r[3] or 0)}
                    for r in rows], total

        return await self._db.run("admin_media_statistics", txn_fn)
