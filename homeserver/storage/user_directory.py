"""The user directory: local users with their profile and the words they can be found by, and
the rooms whose members anyone may find. Kept in the transactions that change users, profiles
and room state (hooks registered by HomeServer), so it cannot drift from them.

Who a searcher may see is decided at query time from current memberships (no per-pair table):
users sharing a joined room with the searcher, or joined to a room listed here as public or
world readable."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from homeserver.events.model import Event
from homeserver.storage.database import Database, Transaction

_WORD = re.compile(r"\w+")
# The highest code point: `term < prefix + _TOP` bounds a prefix range scan (in byte order).
_TOP = "\U0010ffff"
MAX_SEARCH_WORDS = 8


def words(text: str) -> list[str]:
    """The case-folded words of a text (letters, digits, underscores)."""
    return _WORD.findall(text.casefold())


def localpart(user_id: str) -> str:
    return user_id[1:].split(":", 1)[0]


def terms_for(user_id: str, display_name: str | None) -> set[str]:
    """What a user can be found by: the words of their localpart and display name, the whole
    localpart, and the full user ID (the only term starting with '@')."""
    found = set(words(localpart(user_id))) | {localpart(user_id).casefold(), user_id.casefold()}
    if display_name:
        found |= set(words(display_name))
    return {t for t in found if t}


@dataclass(frozen=True)
class DirectoryEntry:
    user_id: str
    display_name: str | None
    avatar_url: str | None


class UserDirectoryStore:
    def __init__(self, db: Database):
        self._db = db

    # -- keeping it up to date (inside other stores' transactions) ------------------------------

    def update_user_txn(self, txn: Transaction, user_id: str) -> None:
        """Re-read the user's account and profile: (re)index a live user, drop a deactivated one."""
        txn.execute("DELETE FROM user_directory_terms WHERE user_id = ?", (user_id,))
        txn.execute("DELETE FROM user_directory WHERE user_id = ?", (user_id,))
        row = txn.execute(
            "SELECT p.displayname, p.avatar_url FROM users u LEFT JOIN profiles p ON p.user_id = u.user_id "
            "WHERE u.user_id = ? AND u.deactivated = ?", (user_id, False)).fetchone()
        if row is None:
            return
        self._write_entry_txn(txn, user_id, row[0], row[1])

    def _write_entry_txn(self, txn: Transaction, user_id: str, display_name: str | None,
                         avatar_url: str | None) -> None:
        txn.execute(
            "INSERT INTO user_directory (user_id, display_name, avatar_url, search_name, search_localpart) "
            "VALUES (?, ?, ?, ?, ?)",
            (user_id, display_name, avatar_url, display_name.casefold() if display_name else None,
             localpart(user_id).casefold()))
        txn.executemany("INSERT INTO user_directory_terms (term, user_id) VALUES (?, ?)",
                        [(t, user_id) for t in sorted(terms_for(user_id, display_name))])

    def on_event_txn(self, txn: Transaction, event: Event, position: int) -> None:
        """A room's join rule or history visibility changed: is its membership public now? A
        user of another server joined or changed their member event: index their name."""
        if event.type == "m.room.member" and event.state_key:
            self._on_member_txn(txn, event)
            return
        if event.state_key != "":
            return
        if event.type == "m.room.join_rules":
            column, value = "public_join", event.content.get("join_rule") == "public"
        elif event.type == "m.room.history_visibility":
            column, value = "world_readable", event.content.get("history_visibility") == "world_readable"
        else:
            return
        # `column` is one of two literals above, never input.
        txn.execute(f"INSERT INTO user_directory_rooms (room_id, {column}) VALUES (?, ?) "
                    f"ON CONFLICT (room_id) DO UPDATE SET {column} = excluded.{column}", (event.room_id, value))

    def _on_member_txn(self, txn: Transaction, event: Event) -> None:
        """Users of other servers are found by the profile in their current join event (the
        latest one to become current state wins when rooms differ); whether a searcher may see
        them is decided at query time, like for our users. One of ours joining a room (one
        joined on another server, mostly) brings in its other servers' members not indexed yet."""
        if event.content.get("membership") != "join":
            return
        user_id = event.state_key
        if txn.execute("SELECT 1 FROM users WHERE user_id = ?", (user_id,)).fetchone() is not None:
            missing = txn.execute(
                "SELECT m.user_id, e.json FROM current_memberships m JOIN events e ON e.event_id = m.event_id "
                "WHERE m.room_id = ? AND m.membership = ? "
                "AND NOT EXISTS (SELECT 1 FROM user_directory d WHERE d.user_id = m.user_id) "
                "AND NOT EXISTS (SELECT 1 FROM users u WHERE u.user_id = m.user_id)",
                (event.room_id, "join")).fetchall()
            for other, pdu in missing:
                self._index_remote_txn(txn, other, json.loads(pdu).get("content", {}))
            return
        current = txn.execute("SELECT event_id FROM current_memberships WHERE room_id = ? AND user_id = ?",
                              (event.room_id, user_id)).fetchone()
        if current is not None and current[0] == event.event_id:  # not an older event arriving late
            self._index_remote_txn(txn, user_id, event.content)

    def _index_remote_txn(self, txn: Transaction, user_id: str, content: Any) -> None:
        display_name = content.get("displayname") if isinstance(content, dict) else None
        avatar_url = content.get("avatar_url") if isinstance(content, dict) else None
        txn.execute("DELETE FROM user_directory_terms WHERE user_id = ?", (user_id,))
        txn.execute("DELETE FROM user_directory WHERE user_id = ?", (user_id,))
        self._write_entry_txn(txn, user_id, display_name if isinstance(display_name, str) else None,
                              avatar_url if isinstance(avatar_url, str) else None)

    async def rebuild_if_pending(self) -> int:
        """Index every user registered before the directory existed (once, after the migration).
        Returns how many users were indexed."""

        def txn_fn(txn: Transaction) -> int:
            if txn.execute("SELECT 1 FROM user_directory_rebuild").fetchone() is None:
                return 0
            user_ids = [r[0] for r in txn.execute("SELECT user_id FROM users").fetchall()]
            for user_id in user_ids:
                self.update_user_txn(txn, user_id)
            txn.execute("DELETE FROM user_directory_rebuild")
            return len(user_ids)

        return await self._db.run("rebuild_user_directory", txn_fn)

    # -- searching ------------------------------------------------------------------------------

    async def search(self, searcher: str, term: str, limit: int, search_all_users: bool) -> list[DirectoryEntry]:
        """Up to `limit` users matching `term`, best first: every word of the term must start a
        word of the user's ID or display name (or the whole term start their full user ID).
        Ranked: exact name/localpart match, then sharing a room with the searcher, then the name
        or localpart starting with the term, then having a display name and an avatar."""
        folded = term.strip().casefold()
        # "@bob:exa": a user ID being typed; its server name is matched through the full ID only.
        term_words = words(folded.split(":", 1)[0] if folded.startswith("@") else folded)[:MAX_SEARCH_WORDS]
        if not term_words and not folded.startswith("@"):
            return []
        # Candidates: every word is a prefix of one of the user's terms; or the term is a prefix
        # of their full user ID.
        word_sets = " AND ".join(
            "d.user_id IN (SELECT user_id FROM user_directory_terms WHERE term >= ? AND term < ?)"
            for _ in term_words)
        args: list[Any] = []
        conditions = []
        if term_words:
            conditions.append(f"({word_sets})")
            for w in term_words:
                args += [w, w + _TOP]
        if folded.startswith("@"):
            conditions.append("d.user_id IN (SELECT user_id FROM user_directory_terms WHERE term >= ? AND term < ?)")
            args += [folded, folded + _TOP]
        # The searcher's rooms are few: each candidate is checked against them by index, rather
        # than listing everyone the searcher shares a room with (thousands in a big room).
        shares_room = ("EXISTS (SELECT 1 FROM current_memberships o WHERE o.user_id = d.user_id "
                       "AND o.membership = ? AND o.room_id IN (SELECT room_id FROM searcher_rooms))")
        in_public_room = ("EXISTS (SELECT 1 FROM current_memberships o WHERE o.user_id = d.user_id "
                          "AND o.membership = ? AND o.room_id IN (SELECT room_id FROM public_rooms))")
        visible = "" if search_all_users else f" AND ({shares_room} OR {in_public_room})"
        sql = (
            "WITH searcher_rooms AS (SELECT room_id FROM current_memberships WHERE user_id = ? AND membership = ?), "
            "public_rooms AS (SELECT room_id FROM user_directory_rooms WHERE public_join = ? OR world_readable = ?) "
            "SELECT d.user_id, d.display_name, d.avatar_url, "
            "CASE WHEN d.search_name = ? OR d.search_localpart = ? OR d.user_id = ? THEN 1 ELSE 0 END AS exact, "
            f"CASE WHEN {shares_room} THEN 1 ELSE 0 END AS shared, "
            "CASE WHEN substr(d.search_name, 1, ?) = ? OR substr(d.search_localpart, 1, ?) = ? THEN 1 ELSE 0 END "
            "AS prefix "
            f"FROM user_directory d WHERE ({' OR '.join(conditions)}){visible} "
            "ORDER BY exact DESC, shared DESC, prefix DESC, "
            "CASE WHEN d.display_name IS NULL THEN 1 ELSE 0 END, CASE WHEN d.avatar_url IS NULL THEN 1 ELSE 0 END, "
            "d.user_id LIMIT ?"
        )
        all_args: list[Any] = [searcher, "join", True, True, folded, folded, term.strip(), "join",
                               len(folded), folded, len(folded), folded, *args]
        if not search_all_users:
            all_args += ["join", "join"]
        all_args.append(limit)
        rows = await self._db.run("search_user_directory", self._search_txn, sql, all_args)
        return [DirectoryEntry(r[0], r[1], r[2]) for r in rows]

    def _search_txn(self, txn: Transaction, sql: str, args: list[Any]) -> list[tuple]:
        if self._db.engine.name == "psycopg2":
            # The planner's cost estimate for the per-candidate checks makes PostgreSQL JIT-compile
            # the query, which costs more than the whole search.
            txn.execute("SET LOCAL jit = off")
        return txn.execute(sql, args).fetchall()
