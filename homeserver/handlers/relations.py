"""Relations: rules on sending them, bundled aggregations, /relations and /threads."""

from __future__ import annotations

from typing import Any

from homeserver.api.errors import MatrixError, not_found
from homeserver.events.model import Event
from homeserver.handlers.visibility import VisibilityHandler
from homeserver.storage.events import EventsStore
from homeserver.storage.relations import RelationsStore, relation_of

MAX_RECURSION_DEPTH = 3


def has_new_content(edit: Event) -> bool:
    """Whether a replacement event carries `m.new_content`. An encrypted edit holds it inside its
    ciphertext (spec: "Editing encrypted events"), so only the client can check it."""
    return edit.type == "m.room.encrypted" or isinstance(edit.content.get("m.new_content"), dict)


class RelationsHandler:
    def __init__(self, events: EventsStore, relations: RelationsStore, visibility: VisibilityHandler):
        self._events = events
        self._relations = relations
        self._visibility = visibility

    async def check_new_event(self, sender: str, room_id: str, event_type: str, content: dict[str, Any]) -> None:
        """Refuse a second identical reaction (400 M_DUPLICATE_ANNOTATION) and a thread off an
        event that itself relates to another (400 M_UNKNOWN). Runs under the room's lock."""
        relates = content.get("m.relates_to")
        if not isinstance(relates, dict):
            return
        rel_type, parent_id = relates.get("rel_type"), relates.get("event_id")
        if not isinstance(rel_type, str) or not isinstance(parent_id, str):
            return
        key = relates.get("key")
        if rel_type == "m.annotation" and isinstance(key, str):
            if await self._relations.has_annotation(parent_id, sender, event_type, key):
                raise MatrixError(400, "M_DUPLICATE_ANNOTATION", "You already sent this annotation")
        if rel_type == "m.thread":
            parent = await self._events.get_event(parent_id)
            # A rich reply's bare m.in_reply_to is not a relation (no rel_type): clients offer to
            # start threads off replies, which in encrypted rooms carry it in cleartext.
            if parent is not None and (parent.room_id != room_id or relation_of(parent) is not None):
                raise MatrixError(400, "M_UNKNOWN", "Cannot start a thread from an event with a relation "
                                                    "or from another room")

    # -- bundled aggregations -------------------------------------------------------------------

    async def aggregations(self, events: list[Event], user_id: str) -> dict[str, dict[str, Any]]:
        """event_id -> {rel_type: aggregation} for m.replace, m.thread and m.reference. Nested
        events (the latest edit, the latest thread event) are Event objects for the caller to
        serialize. Not for state events or redacted parents (the caller leaves those out)."""
        parents = {e.event_id: e for e in events if not e.is_state()}
        if not parents:
            return {}
        rows = await self._relations.get_aggregation_rows(list(parents))
        edits: dict[str, list[tuple[int, str]]] = {}
        threads: dict[str, list[tuple[int, str, str]]] = {}
        references: dict[str, list[tuple[int, str]]] = {}
        for parent_id, child_id, rel_type, event_type, sender, stream, ts, room_id in rows:
            parent = parents[parent_id]
            if room_id != parent.room_id:
                continue  # relations only hold within a room
            if rel_type == "m.replace":
                # Validity of replacement events: same sender and type; an edit is never edited.
                parent_relation = relation_of(parent)
                if sender == parent.sender and event_type == parent.type and not (
                        parent_relation and parent_relation[0] == "m.replace"):
                    edits.setdefault(parent_id, []).append((ts, child_id))
            elif rel_type == "m.thread":
                threads.setdefault(parent_id, []).append((stream, child_id, sender))
            else:
                references.setdefault(parent_id, []).append((stream, child_id))
        wanted = [max(v)[1] for v in edits.values()] + [max(v)[1] for v in threads.values()]
        fetched = await self._events.get_events(wanted)
        visible = {e.event_id: e for e in await self._visibility.filter_events_for_user(user_id, list(fetched.values()))}
        out: dict[str, dict[str, Any]] = {}
        for parent_id, candidates in edits.items():
            for _, child_id in sorted(candidates, reverse=True):  # latest ts, then largest event ID
                child = fetched.get(child_id) or await self._events.get_event(child_id)
                if child is not None and has_new_content(child):
                    out.setdefault(parent_id, {})["m.replace"] = child
                    break
        for parent_id, replies in threads.items():
            latest = max(replies)[1]
            summary: dict[str, Any] = {
                "count": len(replies),
                "current_user_participated": parents[parent_id].sender == user_id
                or any(sender == user_id for _, _, sender in replies),
            }
            if latest in visible:
                summary["latest_event"] = visible[latest]
            out.setdefault(parent_id, {})["m.thread"] = summary
        for parent_id, refs in references.items():
            out.setdefault(parent_id, {})["m.reference"] = {"chunk": [{"event_id": c} for _, c in sorted(refs)]}
        return out

    # -- /relations and /threads ----------------------------------------------------------------

    async def get_relations(
        self, user_id: str, room_id: str, parent_id: str, rel_type: str | None, event_type: str | None,
        from_stream: int | None, to_stream: int | None, backwards: bool, limit: int, recurse: bool,
    ) -> tuple[list[Event], int | None, int]:
        """(visible child events, next position or None, recursion depth used)."""
        parent = await self._events.get_event(parent_id)
        if parent is None or parent.room_id != room_id or not await self._visibility.filter_events_for_user(
                user_id, [parent]):
            raise not_found("Event not found")
        parents, depth = [parent_id], 0
        if recurse:
            # Children of children, up to a fixed depth, collected first; then one page over all.
            frontier = [parent_id]
            seen = {parent_id}
            for depth in range(1, MAX_RECURSION_DEPTH):
                rows = await self._relations.get_children(frontier, None, None, None, None, False, 10_000)
                frontier = [eid for eid, _ in rows if eid not in seen]
                if not frontier:
                    depth -= 1
                    break
                seen.update(frontier)
                parents += frontier
            depth = min(depth + 1, MAX_RECURSION_DEPTH)
        rows = await self._relations.get_children(parents, rel_type, event_type, from_stream, to_stream,
                                                  backwards, limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        fetched = await self._events.get_events([eid for eid, _ in rows])
        children = [fetched[eid] for eid, _ in rows if eid in fetched]
        children = await self._visibility.filter_events_for_user(user_id, children)
        next_position = None
        if more and rows:
            next_position = rows[-1][1] - 1 if backwards else rows[-1][1]
        return children, next_position, depth if recurse else 0

    async def get_threads(self, user_id: str, room_id: str, participated_only: bool, before: int | None,
                          limit: int) -> tuple[list[Event], int | None]:
        rows = await self._relations.get_threads(room_id, user_id if participated_only else None, before,
                                                 limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        fetched = await self._events.get_events([root for root, _ in rows])
        roots = await self._visibility.filter_events_for_user(
            user_id, [fetched[root] for root, _ in rows if root in fetched])
        return roots, (rows[-1][1] - 1 if more and rows else None)
