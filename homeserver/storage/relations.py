"""Relations between events (spec: "Forming relationships between events"): the index behind
/relations, /threads, bundled aggregations and duplicate-annotation checks."""

from __future__ import annotations

from typing import Any

from homeserver.events.model import Event
from homeserver.storage.database import Database, Transaction
from homeserver.util.caches import SharedReads


def relation_of(event: Event) -> tuple[str, str, str | None] | None:
    """(rel_type, parent event_id, annotation key) if the event's content relates it to another."""
    relates = event.content.get("m.relates_to")
    if not isinstance(relates, dict):
        return None
    rel_type, parent = relates.get("rel_type"), relates.get("event_id")
    if not isinstance(rel_type, str) or not isinstance(parent, str):
        return None
    key = relates.get("key") if rel_type == "m.annotation" and isinstance(relates.get("key"), str) else None
    return rel_type, parent, key


class RelationsStore:
    def __init__(self, db: Database):
        self._db = db
        # Aggregations of the same events asked for by many syncs at once (one event waking a room).
        self._aggregation_reads = SharedReads()

    # -- writing (inside the event persistence transaction) -------------------------------------

    def add_relation_txn(self, txn: Transaction, event: Event, stream_ordering: int) -> None:
        relation = relation_of(event)
        if relation is None or event.is_state():
            return
        rel_type, parent, key = relation
        txn.execute(
            "INSERT INTO event_relations (event_id, relates_to_id, relation_type, aggregation_key, room_id, "
            "event_type, sender, stream_ordering, origin_server_ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (event.event_id, parent, rel_type, key, event.room_id, event.type, event.sender, stream_ordering,
             event.origin_server_ts),
        )
        txn.call_after_commit(self._aggregation_reads.changed)

    def remove_relation_txn(self, txn: Transaction, event_id: str) -> None:
        """A redacted child event no longer relates to anything."""
        txn.execute("DELETE FROM event_relations WHERE event_id = ?", (event_id,))
        txn.call_after_commit(self._aggregation_reads.changed)

    # -- reading --------------------------------------------------------------------------------

    async def get_children(
        self, parent_ids: list[str], rel_type: str | None, event_type: str | None, from_stream: int | None,
        to_stream: int | None, backwards: bool, limit: int,
    ) -> list[tuple[str, int]]:
        """(event_id, stream_ordering) of events relating to any of `parent_ids`, paginated like
        /messages (a position sits just after its event)."""
        marks = ",".join("?" * len(parent_ids))
        sql = f"SELECT event_id, stream_ordering FROM event_relations WHERE relates_to_id IN ({marks})"
        args: list[Any] = list(parent_ids)
        if rel_type is not None:
            sql += " AND relation_type = ?"
            args.append(rel_type)
        if event_type is not None:
            sql += " AND event_type = ?"
            args.append(event_type)
        if from_stream is not None:
            sql += " AND stream_ordering <= ?" if backwards else " AND stream_ordering > ?"
            args.append(from_stream)
        if to_stream is not None:
            sql += " AND stream_ordering > ?" if backwards else " AND stream_ordering <= ?"
            args.append(to_stream)
        sql += f" ORDER BY stream_ordering {'DESC' if backwards else 'ASC'} LIMIT ?"
        args.append(limit)
        rows = await self._db.execute("get_relation_children", sql, *args)
        return [(r[0], r[1]) for r in rows]

    async def has_annotation(self, parent_id: str, sender: str, event_type: str, key: str) -> bool:
        rows = await self._db.execute(
            "has_annotation",
            "SELECT 1 FROM event_relations WHERE relates_to_id = ? AND relation_type = ? AND sender = ? "
            "AND event_type = ? AND aggregation_key = ?",
            parent_id, "m.annotation", sender, event_type, key,
        )
        return bool(rows)

    async def get_aggregation_rows(self, parent_ids: list[str]) -> list[tuple[Any, ...]]:
        """(parent, child, rel_type, event_type, sender, stream_ordering, origin_server_ts, room_id)
        of the m.replace, m.thread and m.reference children of `parent_ids`."""

        def txn_fn(txn: Transaction) -> list[tuple[Any, ...]]:
            return txn.select_in(
                "SELECT relates_to_id, event_id, relation_type, event_type, sender, stream_ordering, "
                "origin_server_ts, room_id FROM event_relations WHERE relates_to_id {in} "
                "AND relation_type IN ('m.replace', 'm.thread', 'm.reference')", parent_ids)

        return await self._aggregation_reads.read(
            tuple(parent_ids), lambda: self._db.run("get_aggregation_rows", txn_fn))

    async def get_threads(self, room_id: str, participant: str | None, before_stream: int | None,
                          limit: int) -> list[tuple[str, int]]:
        """(thread root, stream of its latest reply) of the room's threads, latest activity first.
        With `participant`, only threads that user started or replied in."""
        sql = ("SELECT relates_to_id, MAX(stream_ordering) AS latest FROM event_relations "
               "WHERE room_id = ? AND relation_type = 'm.thread' GROUP BY relates_to_id")
        args: list[Any] = [room_id]
        having = []
        if participant is not None:
            having.append("(SUM(CASE WHEN sender = ? THEN 1 ELSE 0 END) > 0 OR relates_to_id IN "
                          "(SELECT event_id FROM events WHERE sender = ?))")
            args += [participant, participant]
        if before_stream is not None:
            having.append("MAX(stream_ordering) <= ?")
            args.append(before_stream)
        if having:
            sql += " HAVING " + " AND ".join(having)
        sql += " ORDER BY latest DESC LIMIT ?"
        args.append(limit)
        rows = await self._db.execute("get_threads", sql, *args)
        return [(r[0], r[1]) for r in rows]
