"""Server-side search (spec: client-server API, "Server Side Search"): the `room_events` category.

Searched: the rooms the user is or was joined to (not forgotten ones), and within them only
events the user may see (history visibility), not redacted, not from ignored users, through the
request's RoomEventFilter. Results come from the full-text index (storage/search.py) in pages;
each page is checked and the index read further until the page is full or the index is exhausted.

`next_batch` tokens are opaque to clients: base64 of {"o": order, "p": position, "g": group}.
For `recent` the position is the stream position of the last index row read (the next page
reads below it); for `rank` it is how many index rows were read (an offset). A group's token is
the overall position plus the group: its pages read on from there, keeping that group's rows
(for `recent` the group narrows the query itself; a `rank` offset counts every row, so rows of
other groups are read and skipped)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from typing import Any

from twisted.internet import defer

from homeserver.api.errors import Codes, MatrixError
from homeserver.api.numbers import MAX_SAFE_INTEGER
from homeserver.events.filtering import RoomEventFilter
from homeserver.events.hashing import decode_base64, encode_base64
from homeserver.events.model import Event
from homeserver.handlers.room_reads import RoomReadHandler, stream_token
from homeserver.handlers.visibility import VisibilityHandler
from homeserver.storage.account_data import AccountDataStore
from homeserver.storage.events import EventsStore
from homeserver.storage.search import (
    SEARCH_KEYS,
    SearchHit,
    SearchQuery,
    SearchScope,
    SearchStore,
    searchable_text,
)
from homeserver.storage.state_groups import StateGroupsStore
from homeserver.util import json_input

DEFAULT_LIMIT = 10
MAX_LIMIT = 100
DEFAULT_CONTEXT = 5
MAX_CONTEXT = 100
MAX_QUERY_WORDS = 16
MAX_WORD_LENGTH = 100  # longer query words are cut (no word in an index is compared beyond this)
MAX_HIGHLIGHTS = 200
MAX_BATCH = 1000  # index rows read at once
MAX_ROWS_PER_REQUEST = 5000  # index rows one request reads at most, visible or not
# Token positions go to the database as 64-bit integers (a stream position, or an offset plus
# a page size): a forged bigger one must be refused, not fail in the query. No real one is near;
# the canonical JSON range is the bound, as for every integer a client hands back.
MAX_POSITION = MAX_SAFE_INTEGER
_QUERY_PART = re.compile(r'(-?)"([^"]*)"?|(-?)([^\s"]+)')
_WORD = re.compile(r"[^\W_]+")


def parse_search_term(term: str) -> SearchQuery:
    """Words (each matched as a prefix of a word, all required), "quoted phrases" and -excluded
    words, case-folded and reduced to letters and digits."""
    query = SearchQuery()
    for m in _QUERY_PART.finditer(term):
        if m.group(2) is not None:
            negated, tokens = m.group(1) == "-", _WORD.findall(m.group(2).casefold())
            if negated:
                query.excluded += tokens
            elif len(tokens) > 1:
                query.phrases.append(tokens)
            else:
                query.words += tokens
        else:
            negated, tokens = m.group(3) == "-", _WORD.findall(m.group(4).casefold())
            (query.excluded if negated and len(tokens) == 1 else query.words).extend(tokens)
    query.words = list(dict.fromkeys(w[:MAX_WORD_LENGTH] for w in query.words))[:MAX_QUERY_WORDS]
    query.phrases = [[w[:MAX_WORD_LENGTH] for w in p[:MAX_QUERY_WORDS]] for p in query.phrases[:MAX_QUERY_WORDS]]
    query.excluded = [w[:MAX_WORD_LENGTH] for w in query.excluded[:MAX_QUERY_WORDS]]
    return query


@dataclass(frozen=True)
class PageToken:
    order_by: str
    position: int
    group: tuple[str, str] | None = None

    def encode(self) -> str:
        raw: dict[str, Any] = {"o": self.order_by, "p": self.position}
        if self.group is not None:
            raw["g"] = list(self.group)
        return encode_base64(json.dumps(raw, separators=(",", ":")).encode(), urlsafe=True)

    @classmethod
    def decode(cls, token: str, order_by: str) -> PageToken:
        try:
            raw = json_input.loads(decode_base64(token))
        except ValueError:  # binascii.Error and UnicodeDecodeError are ValueErrors
            raise MatrixError(400, Codes.INVALID_PARAM, "Invalid next_batch token") from None
        ok = isinstance(raw, dict) and raw.get("o") == order_by and isinstance(raw.get("p"), int) \
            and not isinstance(raw.get("p"), bool) and 0 <= raw["p"] <= MAX_POSITION
        group = raw.get("g") if isinstance(raw, dict) else None
        if group is not None and not (isinstance(group, list) and len(group) == 2
                                      and group[0] in ("room_id", "sender") and isinstance(group[1], str)):
            ok = False
        if not ok:
            raise MatrixError(400, Codes.INVALID_PARAM, "Invalid next_batch token (for this search)")
        return cls(order_by, raw["p"], tuple(group) if group else None)


class SearchHandler:
    def __init__(self, store: SearchStore, events: EventsStore, state_groups: StateGroupsStore,
                 visibility: VisibilityHandler, reads: RoomReadHandler, account_data: AccountDataStore):
        self._store = store
        self._events = events
        self._state_groups = state_groups
        self._visibility = visibility
        self._reads = reads
        self._account_data = account_data

    async def search(self, user_id: str, categories: dict[str, Any], next_batch: str | None) -> dict[str, Any]:
        """The response body of POST /search for an already validated body's search_categories."""
        criteria = categories.get("room_events")
        if criteria is None:
            unknown = ", ".join(sorted(categories)) or "none"
            raise MatrixError(400, Codes.INVALID_PARAM, f"Unknown search categories ({unknown}): "
                                                        "the supported category is room_events")
        return {"search_categories": {"room_events": await self._room_events(user_id, criteria, next_batch)}}

    async def _room_events(self, user_id: str, criteria: dict[str, Any], next_batch: str | None) -> dict[str, Any]:
        order_by = criteria.get("order_by", "rank")
        token = PageToken.decode(next_batch, order_by) if next_batch is not None else None
        flt = RoomEventFilter(criteria.get("filter") or {})
        limit = min(flt.limit_or(DEFAULT_LIMIT), MAX_LIMIT)
        query = parse_search_term(criteria["search_term"])
        group = token.group if token else None
        scope = await self._scope(user_id, flt, criteria.get("keys") or list(SEARCH_KEYS.values()))
        narrowed = self._narrow(scope, group)
        # The count runs alongside the search (on PostgreSQL, on another connection).
        count = defer.ensureDeferred(self._store.count(query, narrowed))
        try:
            hits, position, more = await self._collect(user_id, query, narrowed if order_by == "recent" else scope,
                                                       group, flt, order_by, limit, token)
        except Exception:
            count.addErrback(lambda _: None)  # the search's error is the one to report
            raise
        events = [event for _, event in hits]
        serialized = await self._reads.serialize(events, user_id)
        results: list[dict[str, Any]] = []
        for (hit, event), client in zip(hits, serialized, strict=True):
            result: dict[str, Any] = {"rank": hit.rank, "result": client}
            context = criteria.get("event_context")
            if context is not None:
                result["context"] = await self._context(user_id, event, hit.stream_ordering, context)
            results.append(result)
        body: dict[str, Any] = {
            "results": results,
            "count": await count,
            "highlights": self._highlights(query, events),
        }
        if more:
            body["next_batch"] = PageToken(order_by, position, group).encode()
        if criteria.get("include_state"):
            body["state"] = await self._room_states(user_id, {e.room_id for e in events})
        group_keys = [g["key"] for g in (criteria.get("groupings") or {}).get("group_by", [])]
        if group_keys:
            body["groups"] = self._groups(group_keys, order_by, hits, position if more else None)
        return body

    async def _scope(self, user_id: str, flt: RoomEventFilter, keys: list[str]) -> SearchScope:
        """The rooms (joined now or before, not forgotten, allowed by the filter), keys and
        senders a search reads."""
        memberships = await self._events.get_current_memberships(user_id)
        rooms = []
        for room_id in await self._store.get_rooms_ever_joined(user_id):
            membership = memberships.get(room_id)
            if membership and membership[0] != "join" and await self._reads.is_forgotten(user_id, room_id,
                                                                                          membership):
                continue
            if flt.room_allowed(room_id):
                rooms.append(room_id)
        senders = sorted(flt.senders) if flt.senders is not None else None
        return SearchScope(rooms, sorted(set(keys)), senders, sorted(flt.not_senders))

    @staticmethod
    def _narrow(scope: SearchScope, group: tuple[str, str] | None) -> SearchScope:
        """The scope within one group (a room or a sender)."""
        if group is None:
            return scope
        if group[0] == "room_id":
            return replace(scope, room_ids=[r for r in scope.room_ids if r == group[1]])
        senders = scope.senders if scope.senders is not None else [group[1]]
        return replace(scope, senders=[s for s in senders if s == group[1]])

    async def _collect(self, user_id: str, query: SearchQuery, scope: SearchScope, group: tuple[str, str] | None,
                       flt: RoomEventFilter, order_by: str, limit: int, token: PageToken | None,
                       ) -> tuple[list[tuple[SearchHit, Event]], int, bool]:
        """Up to `limit` visible hits (of `group`, if given) from where `token` left off.
        Returns them, the position reached and whether more may follow."""
        ignored = await self._account_data.get_ignored_users(user_id)
        recent = order_by == "recent"
        position = token.position if token else None
        offset = position or 0
        found: list[tuple[SearchHit, Event]] = []
        batch = max(limit * 2, 20)
        rows_read = 0
        while True:
            hits = await self._store.search(query, scope, order_by, batch,
                                            before_stream=position if recent else None, offset=offset)
            wanted = [h for h in hits if group is None or (h.room_id if group[0] == "room_id" else h.sender) == group[1]]
            fetched = await self._events.get_events([h.event_id for h in wanted])
            redacted = await self._events.get_redactions(list(fetched))
            candidates = [fetched[h.event_id] for h in wanted
                          if h.event_id in fetched and h.event_id not in redacted
                          and flt.matches(fetched[h.event_id]) and fetched[h.event_id].sender not in ignored]
            # An erased sender's events come back pruned: what matched is not theirs to show.
            visible = {e.event_id for e in await self._visibility.filter_events_for_user(user_id, candidates)
                       if not e.internal.get("erased")}
            for read, hit in enumerate(hits, 1):
                offset += 1
                position = hit.stream_ordering
                if hit.event_id in visible:
                    found.append((hit, fetched[hit.event_id]))
                    if len(found) == limit:
                        # More may follow if this page of the index was full or not read to its end.
                        more = len(hits) == batch or read < len(hits)
                        return found, position if recent else offset, more
            if len(hits) < batch:
                return found, (position or 0) if recent else offset, False
            rows_read += len(hits)
            if rows_read >= MAX_ROWS_PER_REQUEST:
                # Mostly invisible matches (history from before the user joined...): answer with
                # what was found and let the client page on, rather than read the whole index.
                return found, position if recent else offset, True
            batch = min(batch * 2, MAX_BATCH)

    def _groups(self, keys: list[str], order_by: str, hits: list[tuple[SearchHit, Event]],
                position: int | None) -> dict[str, Any]:
        """groups[key][value] = {results, order, next_batch (when more may follow)}."""
        groups: dict[str, dict[str, Any]] = {}
        for key in dict.fromkeys(keys):
            by_value: dict[str, dict[str, Any]] = {}
            for hit, _ in hits:
                value = hit.room_id if key == "room_id" else hit.sender
                group = by_value.setdefault(value, {"results": [], "order": len(by_value) + 1})
                group["results"].append(hit.event_id)
            if position is not None:
                for value, group in by_value.items():
                    group["next_batch"] = PageToken(order_by, position, (key, value)).encode()
            groups[key] = by_value
        return groups

    @staticmethod
    def _highlights(query: SearchQuery, events: list[Event]) -> list[str]:
        """The query's words, and the words of the results they matched (a prefix, or a stemmed
        form such as "running" for "run")."""
        wanted = set(query.words + [w for p in query.phrases for w in p])
        longest = max((len(w) for w in wanted), default=0)
        # Words of 3+ letters that begin a wanted word ("run" for "running"), as a set: each word
        # of the results is then checked in time linear in its length, not in the query's size.
        stems = {w[:n] for w in wanted for n in range(3, len(w) + 1)}
        found = set(wanted)
        for event in events:
            for word in _WORD.findall((searchable_text(event) or "").casefold()):
                if len(found) >= MAX_HIGHLIGHTS:
                    return sorted(found)
                if word in found:
                    continue
                if word in stems or any(word[:n] in wanted for n in range(1, min(len(word), longest) + 1)):
                    found.add(word)
        return sorted(found)

    async def _context(self, user_id: str, event: Event, position: int, options: dict[str, Any]) -> dict[str, Any]:
        """events_before/after (as /messages would page them), start/end tokens, and with
        include_profile the senders' profiles as of the result."""
        before_limit = min(int(options.get("before_limit", DEFAULT_CONTEXT)), MAX_CONTEXT)
        after_limit = min(int(options.get("after_limit", DEFAULT_CONTEXT)), MAX_CONTEXT)
        before = await self._page(user_id, event.room_id, position - 1, True, before_limit)
        after = await self._page(user_id, event.room_id, position, False, after_limit)
        context: dict[str, Any] = {
            "events_before": before.get("chunk", []),
            "events_after": after.get("chunk", []),
            "start": before.get("end", stream_token(position - 1 if before_limit == 0 else 0)),
            "end": after.get("end", stream_token(max(position, self._events.stream.current))),
        }
        if options.get("include_profile"):
            senders = {event.sender} | {e["sender"] for e in context["events_before"] + context["events_after"]}
            context["profile_info"] = await self._profiles_at(event, senders)
        return context

    async def _page(self, user_id: str, room_id: str, start: int, backwards: bool, limit: int) -> dict[str, Any]:
        if limit <= 0:
            return {"end": stream_token(start)}
        try:
            return await self._reads.get_messages(user_id, room_id, stream_token(start), None, backwards, limit, {})
        except MatrixError as e:
            if e.code == 403:  # the user may no longer read the room: no context
                return {"end": stream_token(start)}
            raise

    async def _profiles_at(self, event: Event, senders: set[str]) -> dict[str, dict[str, Any]]:
        """user -> {displayname, avatar_url} from their member events in the state at `event`."""
        groups = await self._state_groups.get_event_state_groups([event.event_id])
        if event.event_id not in groups:
            return {}
        state = await self._state_groups.get_state(groups[event.event_id][1])
        ids = {s: state[("m.room.member", s)] for s in senders if ("m.room.member", s) in state}
        members = await self._events.get_events(list(ids.values()))
        profiles: dict[str, dict[str, Any]] = {}
        for sender, event_id in ids.items():
            member = members.get(event_id)
            if member is None:
                continue
            profiles[sender] = {k: member.content[k] for k in ("displayname", "avatar_url")
                                if isinstance(member.content.get(k), str)}
        return profiles

    async def _room_states(self, user_id: str, room_ids: set[str]) -> dict[str, list[dict[str, Any]]]:
        """Each room's state as the user may see it (current, or as they left it)."""
        states = {}
        for room_id in sorted(room_ids):
            try:
                states[room_id] = await self._reads.get_state(user_id, room_id)
            except MatrixError as e:
                if e.code != 403:
                    raise
        return states
