"""The admin API's room queries (docs/admin_api.md): the room list with its ordering and search,
a room's details, blocked rooms, room deletions and their status, forward extremities, and
purging a room's every row."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from homeserver.storage.database import Database, Transaction

# GET /_synapse/admin/v1/rooms orderings: the column of the summary (below) and whether "forwards"
# is largest first, as Synapse orders counts.
ROOM_ORDERINGS: dict[str, tuple[str, bool]] = {
    "name": ("COALESCE(name, '')", False),
    "alphabetical": ("COALESCE(name, '')", False),
    "canonical_alias": ("COALESCE(canonical_alias, '')", False),
    "joined_members": ("joined_members", True),
    "size": ("joined_members", True),
    "joined_local_members": ("joined_local_members", True),
    "version": ("version", True),
    "creator": ("creator", False),
    "encryption": ("COALESCE(encryption, '')", False),
    "federatable": ("federatable_raw", False),
    "public": ("public", False),
    "join_rules": ("COALESCE(join_rules, '')", False),
    "guest_access": ("COALESCE(guest_access, '')", False),
    "history_visibility": ("COALESCE(history_visibility, '')", False),
    "state_events": ("state_events", True),
}

# The rooms purged with a room: each table with its room_id column, in an order that respects
# the foreign keys (children first). state_group_entries goes with its groups (ON DELETE CASCADE
# is not relied on: SQLite enforces it only with foreign keys on).
_ROOM_TABLES = (
    "event_forward_extremities", "event_backward_extremities", "current_state_events", "room_memberships",
    "current_memberships", "room_aliases", "room_directory", "event_relations", "forgotten_rooms", "receipts",
    "event_search", "user_directory_rooms", "push_notifications", "delayed_events", "destination_rooms",
    "account_data",
)
_EVENT_TABLES = ("event_edges", "event_auth", "event_txn_ids", "redactions", "out_of_band_stripped_state",
                 "event_delay_ids", "event_to_state_groups")


@dataclass(frozen=True)
class Deletion:
    delete_id: str
    room_id: str
    status: str
    error: str | None
    result: dict[str, Any] | None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"delete_id": self.delete_id, "room_id": self.room_id, "status": self.status}
        if self.error is not None:
            body["error"] = self.error
        body["shutdown_room"] = self.result or {"kicked_users": [], "failed_to_kick_users": [], "local_aliases": [],
                                                "new_room_id": None}
        return body


def _like(term: str) -> str:
    return "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


class RoomAdminStore:
    def __init__(self, db: Database, server_name: str):
        self._db = db
        self._local_suffix = "%:" + server_name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")

    def _content(self, path: tuple[str, ...]) -> str:
        """SQL reading a value of an event's JSON (`e.json`), in this engine's dialect. `path`
        is a literal of this module, never input."""
        if self._db.engine.name == "sqlite3":
            return "json_extract(e.json, '$." + ".".join(f'"{p}"' for p in path) + "')"
        return "(e.json::jsonb #>> '{" + ",".join(path) + "}')"

    def _state_value(self, event_type: str, *path: str, room: str = "r.room_id") -> str:
        return (f"(SELECT {self._content(('content', *path))} FROM current_state_events c JOIN events e "
                f"ON e.event_id = c.event_id WHERE c.room_id = {room} AND c.type = '{event_type}' "
                "AND c.state_key = '')")

    def _summary_sql(self, extra: str = "") -> str:
        return (
            "SELECT r.room_id, "
            f"{self._state_value('m.room.name', 'name')} AS name, "
            f"{self._state_value('m.room.canonical_alias', 'alias')} AS canonical_alias, "
            "(SELECT COUNT(*) FROM current_memberships m WHERE m.room_id = r.room_id AND m.membership = 'join') "
            "AS joined_members, "
            "(SELECT COUNT(*) FROM current_memberships m WHERE m.room_id = r.room_id AND m.membership = 'join' "
            "AND m.user_id LIKE ? ESCAPE '\\') AS joined_local_members, "
            "r.room_version AS version, r.creator AS creator, "
            f"{self._state_value('m.room.encryption', 'algorithm')} AS encryption, "
            f"COALESCE({self._state_value('m.room.create', 'm.federate')}, 'true') AS federatable_raw, "
            "(SELECT COUNT(*) FROM room_directory d WHERE d.room_id = r.room_id AND d.visibility = 'public') "
            "AS public, "
            f"{self._state_value('m.room.join_rules', 'join_rule')} AS join_rules, "
            f"{self._state_value('m.room.guest_access', 'guest_access')} AS guest_access, "
            f"{self._state_value('m.room.history_visibility', 'history_visibility')} AS history_visibility, "
            "(SELECT COUNT(*) FROM current_state_events c WHERE c.room_id = r.room_id) AS state_events, "
            f"{self._state_value('m.room.create', 'type')} AS room_type{extra} "
            "FROM rooms r"
        )

    @staticmethod
    def _summary(r: tuple) -> dict[str, Any]:
        return {
            "room_id": r[0], "name": r[1], "canonical_alias": r[2], "joined_members": r[3],
            "joined_local_members": r[4], "version": r[5], "creator": r[6], "encryption": r[7],
            "federatable": str(r[8]).lower() not in ("false", "0"), "public": bool(r[9]), "join_rules": r[10],
            "guest_access": r[11], "history_visibility": r[12], "state_events": r[13], "room_type": r[14],
        }

    async def list_rooms(self, search_term: str | None, order_by: str, backwards: bool, offset: int, limit: int,
                         public: bool | None, empty: bool | None) -> tuple[list[dict[str, Any]], int]:
        column, largest_first = ROOM_ORDERINGS[order_by]  # never from input
        direction = "DESC" if largest_first != backwards else "ASC"
        where, args = ["1 = 1"], []
        if search_term:
            where.append("(LOWER(COALESCE(name, '')) LIKE ? ESCAPE '\\' OR "
                         "LOWER(COALESCE(canonical_alias, '')) LIKE ? ESCAPE '\\' OR room_id LIKE ? ESCAPE '\\')")
            args += [_like(search_term.lower()), _like(search_term.lower()), _like(search_term)]
        if public is not None:
            where.append("public = 1" if public else "public = 0")
        if empty is not None:
            where.append("joined_members = 0" if empty else "joined_members > 0")
        conditions = " AND ".join(where)
        summary = self._summary_sql()

        def txn_fn(txn: Transaction) -> tuple[list[dict[str, Any]], int]:
            rows = txn.execute(f"SELECT * FROM ({summary}) q WHERE {conditions} "
                               f"ORDER BY {column} {direction}, room_id ASC LIMIT ? OFFSET ?",
                               [self._local_suffix, *args, limit, offset]).fetchall()
            total = txn.execute(f"SELECT COUNT(*) FROM ({summary}) q WHERE {conditions}",
                                [self._local_suffix, *args]).fetchone()[0]
            return [self._summary(r) for r in rows], total

        return await self._db.run("admin_list_rooms", txn_fn)

    async def room_details(self, room_id: str) -> dict[str, Any] | None:
        extra = (f", {self._state_value('m.room.topic', 'topic')} AS topic, "
                 f"{self._state_value('m.room.avatar', 'url')} AS avatar, "
                 "(SELECT COUNT(*) FROM devices dv JOIN current_memberships m ON m.user_id = dv.user_id "
                 "WHERE m.room_id = r.room_id AND m.membership = 'join') AS joined_local_devices, "
                 "(SELECT COUNT(*) FROM current_memberships m WHERE m.room_id = r.room_id AND m.user_id LIKE ? "
                 "ESCAPE '\\' AND NOT EXISTS (SELECT 1 FROM forgotten_rooms f WHERE f.user_id = m.user_id AND "
                 "f.room_id = m.room_id AND f.membership_event_id = m.event_id)) AS not_forgotten, "
                 "(SELECT COUNT(*) FROM current_memberships m WHERE m.room_id = r.room_id AND m.user_id LIKE ? "
                 "ESCAPE '\\') AS local_members")
        rows = await self._db.execute("admin_room_details", f"{self._summary_sql(extra)} WHERE r.room_id = ?",
                                      self._local_suffix, self._local_suffix, self._local_suffix, room_id)
        if not rows:
            return None
        r = rows[0]
        return {**self._summary(r), "topic": r[15], "avatar": r[16], "joined_local_devices": r[17],
                "forgotten": r[19] > 0 and r[18] == 0}

    async def room_exists(self, room_id: str) -> bool:
        return bool(await self._db.execute("admin_room_exists", "SELECT 1 FROM rooms WHERE room_id = ?", room_id))

    # -- blocking ---------------------------------------------------------------------------------

    async def block_room(self, room_id: str, user_id: str, now_ms: int) -> None:
        await self._db.run("block_room", lambda txn: txn.execute(
            "INSERT INTO blocked_rooms (room_id, user_id, blocked_ts) VALUES (?, ?, ?) "
            "ON CONFLICT (room_id) DO NOTHING", (room_id, user_id, now_ms)))

    async def unblock_room(self, room_id: str) -> None:
        await self._db.run("unblock_room", lambda txn: txn.execute(
            "DELETE FROM blocked_rooms WHERE room_id = ?", (room_id,)))

    async def room_blocked_by(self, room_id: str) -> str | None:
        """The admin who blocked the room, or None if it is not blocked."""
        rows = await self._db.execute("room_blocked_by", "SELECT user_id FROM blocked_rooms WHERE room_id = ?",
                                      room_id)
        return rows[0][0] if rows else None

    # -- deletions --------------------------------------------------------------------------------

    async def add_deletion(self, delete_id: str, room_id: str, requester: str, params: dict[str, Any],
                           now_ms: int) -> bool:
        """Record a scheduled deletion; False if one of the room is scheduled or active already."""

        def txn_fn(txn: Transaction) -> bool:
            if txn.execute("SELECT 1 FROM room_deletions WHERE room_id = ? AND status IN ('scheduled', 'active')",
                           (room_id,)).fetchone():
                return False
            txn.execute("INSERT INTO room_deletions (delete_id, room_id, requester, params, status, created_ts) "
                        "VALUES (?, ?, ?, ?, 'scheduled', ?)",
                        (delete_id, room_id, requester, json.dumps(params), now_ms))
            return True

        return await self._db.run("add_room_deletion", txn_fn)

    async def update_deletion(self, delete_id: str, status: str, result: dict[str, Any] | None,
                              error: str | None = None, now_ms: int | None = None) -> None:
        await self._db.run("update_room_deletion", lambda txn: txn.execute(
            "UPDATE room_deletions SET status = ?, result = ?, error = ?, finished_ts = ? WHERE delete_id = ?",
            (status, json.dumps(result) if result is not None else None, error, now_ms, delete_id)))

    async def get_deletion(self, delete_id: str) -> Deletion | None:
        rows = await self._db.execute("get_room_deletion", "SELECT delete_id, room_id, status, error, result "
                                      "FROM room_deletions WHERE delete_id = ?", delete_id)
        return _deletion(rows[0]) if rows else None

    async def get_deletions_of_room(self, room_id: str) -> list[Deletion]:
        rows = await self._db.execute("get_room_deletions", "SELECT delete_id, room_id, status, error, result "
                                      "FROM room_deletions WHERE room_id = ? ORDER BY created_ts, delete_id",
                                      room_id)
        return [_deletion(r) for r in rows]

    async def fail_unfinished_deletions(self, now_ms: int) -> int:
        """At start-up: deletions cut short by a restart are failed (their rooms may be half done)."""

        def txn_fn(txn: Transaction) -> int:
            txn.execute("UPDATE room_deletions SET status = 'failed', error = ?, finished_ts = ? "
                        "WHERE status IN ('scheduled', 'active')", ("The server restarted during the deletion",
                                                                     now_ms))
            return txn.rowcount

        return await self._db.run("fail_unfinished_room_deletions", txn_fn)

    async def delete_old_deletions(self, before_ts: int) -> None:
        await self._db.run("delete_old_room_deletions", lambda txn: txn.execute(
            "DELETE FROM room_deletions WHERE finished_ts IS NOT NULL AND finished_ts < ?", (before_ts,)))

    # -- forward extremities ----------------------------------------------------------------------

    async def forward_extremities(self, room_id: str) -> list[dict[str, Any]]:
        rows = await self._db.execute(
            "admin_forward_extremities",
            "SELECT f.event_id, s.state_group_after, e.depth, e.stream_ordering FROM event_forward_extremities f "
            "JOIN events e ON e.event_id = f.event_id "
            "LEFT JOIN event_to_state_groups s ON s.event_id = f.event_id WHERE f.room_id = ? "
            "ORDER BY e.stream_ordering", room_id)
        return [{"event_id": r[0], "state_group": r[1], "depth": r[2], "stream_ordering": r[3]} for r in rows]

    async def delete_forward_extremities(self, room_id: str, keep: str) -> int:
        """Drop every forward extremity of the room but `keep`. Returns how many went."""

        def txn_fn(txn: Transaction) -> int:
            txn.execute("DELETE FROM event_forward_extremities WHERE room_id = ? AND event_id <> ?", (room_id, keep))
            return txn.rowcount

        return await self._db.run("admin_delete_forward_extremities", txn_fn)

    # -- event reports ----------------------------------------------------------------------------

    def _report_sql(self) -> str:
        return ("SELECT er.id, er.received_ts, er.room_id, "
                f"{self._state_value('m.room.name', 'name', room='er.room_id')}, er.event_id, er.user_id, "
                "er.reason, er.score, ev.sender, "
                f"{self._state_value('m.room.canonical_alias', 'alias', room='er.room_id')} "
                "FROM event_reports er LEFT JOIN events ev ON ev.event_id = er.event_id")

    @staticmethod
    def _report(r: tuple) -> dict[str, Any]:
        return {"id": r[0], "received_ts": r[1], "room_id": r[2], "name": r[3], "event_id": r[4], "user_id": r[5],
                "reason": r[6], "score": r[7], "sender": r[8], "canonical_alias": r[9]}

    async def list_event_reports(self, offset: int, limit: int, backwards: bool, room_id: str | None,
                                 user_id: str | None, sender: str | None) -> tuple[list[dict[str, Any]], int]:
        where, args = ["1 = 1"], []
        for column, value in (("er.room_id", room_id), ("er.user_id", user_id), ("ev.sender", sender)):
            if value is not None:
                where.append(f"{column} LIKE ? ESCAPE '\\'")  # contains, as Synapse filters
                args.append(_like(value))
        conditions = " AND ".join(where)
        direction = "DESC" if backwards else "ASC"

        def txn_fn(txn: Transaction) -> tuple[list[dict[str, Any]], int]:
            rows = txn.execute(f"{self._report_sql()} WHERE {conditions} ORDER BY er.received_ts {direction}, "
                               f"er.id {direction} LIMIT ? OFFSET ?", [*args, limit, offset]).fetchall()
            total = txn.execute("SELECT COUNT(*) FROM event_reports er LEFT JOIN events ev ON "
                                f"ev.event_id = er.event_id WHERE {conditions}", args).fetchone()[0]
            return [self._report(r) for r in rows], total

        return await self._db.run("admin_list_event_reports", txn_fn)

    async def get_event_report(self, report_id: int) -> tuple[dict[str, Any], str | None] | None:
        """The report and the reported event's JSON (None if we no longer hold it)."""
        sql = self._report_sql().replace("ev.sender, ", "ev.sender, ev.json AS event_json, ", 1)
        rows = await self._db.execute("admin_get_event_report", f"{sql} WHERE er.id = ?", report_id)
        if not rows:
            return None
        r = rows[0]
        return self._report((*r[:9], r[10])), r[9]

    async def delete_event_report(self, report_id: int) -> bool:
        def txn_fn(txn: Transaction) -> bool:
            txn.execute("DELETE FROM event_reports WHERE id = ?", (report_id,))
            return txn.rowcount > 0

        return await self._db.run("admin_delete_event_report", txn_fn)

    # -- a user's events --------------------------------------------------------------------------

    async def rooms_of_user(self, user_id: str) -> list[str]:
        """Every room the user has a membership in (any)."""
        rows = await self._db.execute("admin_rooms_of_user", "SELECT room_id FROM current_memberships "
                                      "WHERE user_id = ? ORDER BY room_id", user_id)
        return [r[0] for r in rows]

    async def redactable_events(self, room_id: str, sender: str, limit: int, after_ts: int | None,
                                before_ts: int | None) -> list[str]:
        """The sender's messages (not state, not redactions) in the room that are not redacted yet,
        newest first."""
        where, args = ["e.room_id = ?", "e.sender = ?", "e.state_key IS NULL", "e.type <> 'm.room.redaction'",
                       "e.stream_ordering > 0", "e.rejection_reason IS NULL"], [room_id, sender]
        if after_ts is not None:
            where.append("e.origin_server_ts >= ?")
            args.append(after_ts)
        if before_ts is not None:
            where.append("e.origin_server_ts <= ?")
            args.append(before_ts)
        rows = await self._db.execute(
            "admin_redactable_events",
            f"SELECT e.event_id FROM events e WHERE {' AND '.join(where)} AND NOT EXISTS "
            "(SELECT 1 FROM redactions r WHERE r.redacts = e.event_id) ORDER BY e.stream_ordering DESC LIMIT ?",
            *args, limit)
        return [r[0] for r in rows]

    # -- media ------------------------------------------------------------------------------------

    async def event_contents_with_media(self, room_id: str) -> list[str]:
        """The JSON of the room's events that mention an mxc:// URI (for quarantining a room's media)."""
        rows = await self._db.execute("events_with_media", "SELECT json FROM events WHERE room_id = ? AND "
                                      "json LIKE '%mxc://%'", room_id)
        return [r[0] for r in rows]

    async def room_avatar_urls(self) -> set[str]:
        """The url of every room's current m.room.avatar."""
        rows = await self._db.execute(
            "room_avatar_urls", f"SELECT {self._content(('content', 'url'))} FROM current_state_events c "
            "JOIN events e ON e.event_id = c.event_id WHERE c.type = 'm.room.avatar' AND c.state_key = ''")
        return {r[0] for r in rows if isinstance(r[0], str)}

    # -- purge ------------------------------------------------------------------------------------

    async def purge_room(self, room_id: str) -> list[str]:
        """Delete every row of the room (events, state, memberships, aliases, receipts, indexes...).
        Returns the IDs of the events deleted, for the caches. Reports of its events are kept."""
        sqlite = self._db.engine.name == "sqlite3"

        def txn_fn(txn: Transaction) -> list[str]:
            event_ids = [r[0] for r in txn.execute("SELECT event_id FROM events WHERE room_id = ?",
                                                   (room_id,)).fetchall()]
            for table in _EVENT_TABLES:  # literals of this module
                for i in range(0, len(event_ids), 500):
                    chunk = event_ids[i:i + 500]
                    txn.execute(f"DELETE FROM {table} WHERE event_id IN ({','.join('?' * len(chunk))})", chunk)
            if sqlite:  # the text index of SQLite's search lives beside event_search, keyed by position
                txn.execute("DELETE FROM event_search_fts WHERE rowid IN "
                            "(SELECT stream_ordering FROM event_search WHERE room_id = ?)", (room_id,))
            for table in _ROOM_TABLES:
                txn.execute(f"DELETE FROM {table} WHERE room_id = ?", (room_id,))
            txn.execute("DELETE FROM state_group_entries WHERE state_group IN "
                        "(SELECT id FROM state_groups WHERE room_id = ?)", (room_id,))
            txn.execute("UPDATE state_groups SET prev_group = NULL WHERE room_id = ?", (room_id,))
            txn.execute("DELETE FROM state_groups WHERE room_id = ?", (room_id,))
            txn.execute("DELETE FROM events WHERE room_id = ?", (room_id,))
            txn.execute("DELETE FROM rooms WHERE room_id = ?", (room_id,))
            return event_ids

        return await self._db.run("purge_room", txn_fn)


def _deletion(r: tuple) -> Deletion:
    return Deletion(r[0], r[1], r[2], r[3], json.loads(r[4]) if r[4] else None)
