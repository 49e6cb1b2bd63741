"""The full-text index of room events (POST /search): one row per searchable event, written in
the transaction that persists the event, removed in the one that persists its redaction.

SQLite keeps the text in an FTS5 table (porter stemming, bm25 rank); PostgreSQL a tsvector
column with a GIN index ('english' configuration, ts_rank). Queries arrive already parsed
(`SearchQuery`), so user input never reaches either engine's query syntax unescaped."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from homeserver.events.model import Event
from homeserver.storage.database import Database, Transaction

# event type -> the search key its text is indexed under
SEARCH_KEYS = {"m.room.message": "content.body", "m.room.name": "content.name", "m.room.topic": "content.topic"}


def searchable_text(event: Event) -> str | None:
    """The text an event is indexed with, or None if it has none (m.room.encrypted, a message
    without a string body...). A topic also offers its `m.topic` text/plain representation."""
    content = event.content
    if event.type == "m.room.message":
        body = content.get("body")
        return body if isinstance(body, str) and body else None
    if event.type == "m.room.name" and event.state_key == "":
        name = content.get("name")
        return name if isinstance(name, str) and name else None
    if event.type == "m.room.topic" and event.state_key == "":
        parts = []
        if isinstance(content.get("topic"), str):
            parts.append(content["topic"])
        rich = content.get("m.topic")
        for rep in rich.get("m.text", []) if isinstance(rich, dict) and isinstance(rich.get("m.text"), list) else []:
            if isinstance(rep, dict) and rep.get("mimetype", "text/plain") == "text/plain" \
                    and isinstance(rep.get("body"), str) and rep["body"] not in parts:
                parts.append(rep["body"])
        text = "\n".join(p for p in parts if p)
        return text or None
    return None


@dataclass
class SearchQuery:
    """A parsed search term: words every result contains (each matched as a prefix), phrases it
    contains word for word, and words it must not contain. Words are letters and digits only."""

    words: list[str] = field(default_factory=list)
    phrases: list[list[str]] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)

    def is_empty(self) -> bool:
        return not self.words and not self.phrases

    def fts5(self) -> str:
        """SQLite FTS5 MATCH syntax (every token quoted: no operator can be injected)."""
        parts = [f'"{w}"*' for w in self.words]
        parts += ['"' + " ".join(p) + '"' for p in self.phrases]
        query = " AND ".join(parts)
        for w in self.excluded:
            query += f' NOT "{w}"'
        return query

    def tsquery(self) -> str:
        """PostgreSQL to_tsquery syntax (tokens are alphanumeric: nothing to escape)."""
        parts = [f"{w}:*" for w in self.words]
        parts += ["(" + " <-> ".join(p) + ")" for p in self.phrases]
        parts += [f"!{w}" for w in self.excluded]
        return " & ".join(parts)


@dataclass(frozen=True)
class SearchScope:
    """Which indexed rows a query may return: rooms (always given), keys, senders."""

    room_ids: list[str]
    keys: list[str]
    senders: list[str] | None = None
    not_senders: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SearchHit:
    event_id: str
    room_id: str
    sender: str
    stream_ordering: int
    rank: float


class SearchStore:
    def __init__(self, db: Database):
        self._db = db
        self._postgres = db.engine.name == "psycopg2"

    # -- writing (inside the persist transaction) ----------------------------------------------

    def index_event_txn(self, txn: Transaction, event: Event, position: int) -> None:
        """Index a newly persisted event; a redaction takes the event it redacts out."""
        if event.type == "m.room.redaction" and isinstance(event.redacts, str):
            self._remove_txn(txn, event.redacts)
        key = SEARCH_KEYS.get(event.type)
        text = searchable_text(event) if key else None
        if text is None:
            return
        if self._postgres:
            txn.execute("INSERT INTO event_search (stream_ordering, event_id, room_id, sender, key, origin_server_ts, "
                        "vector) VALUES (?, ?, ?, ?, ?, ?, to_tsvector('english', ?))",
                        (position, event.event_id, event.room_id, event.sender, key, event.origin_server_ts, text))
        else:
            txn.execute("INSERT INTO event_search (stream_ordering, event_id, room_id, sender, key, origin_server_ts) "
                        "VALUES (?, ?, ?, ?, ?, ?)",
                        (position, event.event_id, event.room_id, event.sender, key, event.origin_server_ts))
            txn.execute("INSERT INTO event_search_fts (rowid, value) VALUES (?, ?)", (position, text))

    def _remove_txn(self, txn: Transaction, event_id: str) -> None:
        row = txn.execute("SELECT stream_ordering FROM event_search WHERE event_id = ?", (event_id,)).fetchone()
        if row is None:
            return
        txn.execute("DELETE FROM event_search WHERE stream_ordering = ?", (row[0],))
        if not self._postgres:
            txn.execute("DELETE FROM event_search_fts WHERE rowid = ?", (row[0],))

    # -- reading --------------------------------------------------------------------------------

    def _where(self, query: SearchQuery, scope: SearchScope) -> tuple[str, list[Any]]:
        """The conditions shared by the search and the count, and their arguments, after the
        match condition (whose argument comes first)."""
        sql = ""
        args: list[Any] = []
        if scope.keys and len(scope.keys) < len(SEARCH_KEYS):
            sql += f" AND s.key IN ({','.join('?' * len(scope.keys))})"
            args += scope.keys
        if scope.senders is not None:
            sql += f" AND s.sender IN ({','.join('?' * len(scope.senders))})"
            args += scope.senders
        if scope.not_senders:
            sql += f" AND s.sender NOT IN ({','.join('?' * len(scope.not_senders))})"
            args += scope.not_senders
        return sql, args

    def _match(self) -> tuple[str, str, str, str, str]:
        """(FROM clause, match condition, stream position column, rank expression, rank order)
        for this engine."""
        if self._postgres:
            return ("event_search s", "s.vector @@ to_tsquery('english', ?)", "s.stream_ordering",
                    "ts_rank(s.vector, to_tsquery('english', ?))", "rank DESC, s.stream_ordering DESC")
        # FTS5's own `rank` column is bm25 (lower is better) and its row ID is the stream
        # position: ordering on either lets FTS5 return the best or newest rows without sorting
        # every match (ten times faster for a word in most messages).
        return ("event_search_fts f JOIN event_search s ON s.stream_ordering = f.rowid",
                "event_search_fts MATCH ?", "f.rowid", "-f.rank", "f.rank, f.rowid DESC")

    def _query_text(self, query: SearchQuery) -> str:
        return query.tsquery() if self._postgres else query.fts5()

    async def search(self, query: SearchQuery, scope: SearchScope, order_by: str, limit: int,
                     before_stream: int | None = None, offset: int = 0) -> list[SearchHit]:
        """Up to `limit` matching rows: by rank (best first, from `offset`), or by recency
        ("recent": newest first, strictly before `before_stream`)."""
        if query.is_empty() or not scope.room_ids:
            return []
        text = self._query_text(query)
        source, match, position, rank, rank_order = self._match()
        where, where_args = self._where(query, scope)

        def txn_fn(txn: Transaction) -> list[tuple]:
            rows: list[tuple] = []
            # One statement per chunk of rooms; with many rooms the chunks are merged below.
            for i in range(0, len(scope.room_ids), 500):
                rooms = scope.room_ids[i:i + 500]
                sql = (f"SELECT s.event_id, s.room_id, s.sender, s.stream_ordering, {rank} AS rank FROM {source} "
                       f"WHERE {match} AND s.room_id IN ({','.join('?' * len(rooms))}){where}")
                args: list[Any] = ([text] if self._postgres else []) + [text, *rooms, *where_args]
                if order_by == "recent":
                    if before_stream is not None:
                        sql += f" AND {position} < ?"
                        args.append(before_stream)
                    sql += f" ORDER BY {position} DESC LIMIT ?"
                    args.append(limit)
                else:
                    sql += f" ORDER BY {rank_order} LIMIT ?"
                    args.append(limit + offset)
                rows += txn.execute(sql, args).fetchall()
            return rows

        rows = await self._db.run("search_events", txn_fn)
        hits = [SearchHit(r[0], r[1], r[2], r[3], float(r[4])) for r in rows]
        if order_by == "recent":
            hits.sort(key=lambda h: -h.stream_ordering)
            return hits[:limit]
        hits.sort(key=lambda h: (-h.rank, -h.stream_ordering))
        return hits[offset:offset + limit]

    async def count(self, query: SearchQuery, scope: SearchScope) -> int:
        """How many rows match (before visibility rules: the spec allows an estimate)."""
        if query.is_empty() or not scope.room_ids:
            return 0
        text = self._query_text(query)
        source, match, _, _, _ = self._match()
        where, where_args = self._where(query, scope)

        def txn_fn(txn: Transaction) -> int:
            total = 0
            for i in range(0, len(scope.room_ids), 500):
                rooms = scope.room_ids[i:i + 500]
                sql = (f"SELECT COUNT(*) FROM {source} WHERE {match} "
                       f"AND s.room_id IN ({','.join('?' * len(rooms))}){where}")
                total += txn.execute(sql, [text, *rooms, *where_args]).fetchone()[0]
            return total

        return await self._db.run("count_search_events", txn_fn)

    async def get_rooms_ever_joined(self, user_id: str) -> list[str]:
        """The rooms the user is or once was joined to (the rooms a search reads)."""
        rows = await self._db.execute(
            "get_rooms_ever_joined",
            "SELECT DISTINCT room_id FROM room_memberships WHERE user_id = ? AND membership = ? ORDER BY room_id",
            user_id, "join")
        return [r[0] for r in rows]
