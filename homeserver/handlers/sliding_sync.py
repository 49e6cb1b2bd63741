"""Simplified sliding sync (MSC4186, the shape Synapse serves and Element X speaks): room lists
sorted and windowed server-side, room subscriptions, and extensions (to-device, e2ee, account
data, receipts, typing), over a connection whose state the server keeps.

What may be seen is /sync's business, reused, not repeated here: timelines come from
SyncHandler.timeline (history visibility, ignored users), invites from SyncHandler.stripped_state,
to-device messages from ToDeviceHandler (exactly once: acknowledged by the next request's
`since`), device lists, one-time keys, receipts, typing and unread counts from their handlers.

Per-connection state (which rooms were sent, with which required_state and timeline_limit,
which lazy members, and what of each room's summary) lives in memory, keyed on (user, device,
conn_id), in a bounded LRU with an idle lifetime. A position (`pos`) names one snapshot of it,
"<connection position>/<sync token>"; the snapshot a request starts from stays valid until the
client uses the next one, so a retried request gets the same answer again. A position that is
gone (evicted, expired, restarted, another user's, unparseable) answers 400 M_UNKNOWN_POS, and
the client starts over. Connection position 0 is the empty state (no room sent): always valid,
so a connection with no lists (Element X's `encryption` one) survives anything."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace
from typing import Any

from homeserver.api.errors import Codes, MatrixError
from homeserver.events.filtering import Filter
from homeserver.events.model import Event
from homeserver.handlers.device_lists import DeviceListsHandler
from homeserver.handlers.e2e_keys import E2EKeysHandler
from homeserver.handlers.notifications import NotificationCounter
from homeserver.handlers.push_rules import PushRulesHandler
from homeserver.handlers.receipts import ReceiptsHandler, TypingHandler
from homeserver.handlers.room_reads import RoomReadHandler, stream_token
from homeserver.handlers.sync import SyncHandler, SyncToken, parse_sync_token
from homeserver.handlers.to_device import ToDeviceHandler
from homeserver.notifier import Notifier
from homeserver.storage.account_data import AccountDataStore
from homeserver.storage.events import EventsStore
from homeserver.util.caches import LruCache

# The event types that move a room up a client's list (bump_stamp).
BUMP_EVENT_TYPES = ("m.room.create", "m.room.message", "m.room.encrypted", "m.sticker", "m.call.invite",
                    "m.poll.start", "m.beacon_info")
MAX_HEROES = 5
MAX_CONNECTIONS = 10_000
CONNECTION_LIFETIME_MS = 7 * 24 * 3600 * 1000  # as Synapse: unused for a week, a connection is gone
_NO_FILTER = Filter({})
LAZY = "$LAZY"
ME = "$ME"
WILDCARD = "*"


def unknown_pos() -> MatrixError:
    return MatrixError(400, Codes.UNKNOWN_POS, "Unknown position")


class StateMatcher:
    """Which state keys a `required_state` list asks for: `*` wildcards for type or key, `$ME`
    for the requester, `["m.room.member", "$LAZY"]` for lazy-loaded members."""

    def __init__(self, pairs: frozenset[tuple[str, str]], user_id: str):
        self.everything = False
        self.lazy = False
        self._keys_of_any_type: set[str] = set()
        self._types: dict[str, set[str]] = {}
        for event_type, state_key in pairs:
            if state_key == ME:
                state_key = user_id
            if event_type == "m.room.member" and state_key == LAZY:
                self.lazy = True
            elif event_type == WILDCARD and state_key == WILDCARD:
                self.everything = True
            elif event_type == WILDCARD:
                self._keys_of_any_type.add(state_key)
            else:
                self._types.setdefault(event_type, set()).add(state_key)

    def matches(self, key: tuple[str, str]) -> bool:
        if self.everything or key[1] in self._keys_of_any_type:
            return True
        keys = self._types.get(key[0])
        return keys is not None and (WILDCARD in keys or key[1] in keys)


@dataclass(frozen=True)
class RoomSent:
    """What a connection has of a room. `live`: up to date as of the connection's token;
    otherwise (PREVIOUSLY) it has the room up to the events position `since`."""

    live: bool
    since: int
    membership: str  # the member event the client has
    kind: str  # its membership
    required_state: frozenset[tuple[str, str]]
    timeline_limit: int
    fields: dict[str, Any]  # the summary fields last sent (name, counts, bump_stamp, ...)
    members: dict[str, str]  # lazy members sent: user -> member event ID


@dataclass(frozen=True)
class ConnectionState:
    rooms: dict[str, RoomSent] = field(default_factory=dict)
    lists: dict[str, tuple] = field(default_factory=dict)  # key -> (count, ops) last sent

    def empty(self) -> bool:
        return not self.rooms and all(c == 0 for c, _ in self.lists.values())


EMPTY_STATE = ConnectionState()


@dataclass
class Connection:
    states: dict[int, ConnectionState]
    last_used: int
    counter: itertools.count = field(default_factory=lambda: itertools.count(1))


@dataclass(frozen=True)
class RoomConfig:
    timeline_limit: int
    required_state: frozenset[tuple[str, str]]


@dataclass
class Result:
    body: dict[str, Any]
    state: ConnectionState
    changed: bool  # the connection state moved
    empty: bool  # nothing for the client: a long-poll waits
    token: SyncToken


class SlidingSyncHandler:
    def __init__(self, sync: SyncHandler, events: EventsStore, reads: RoomReadHandler, notifier: Notifier,
                 account_data: AccountDataStore, receipts: ReceiptsHandler, typing: TypingHandler,
                 push_rules: PushRulesHandler, counter: NotificationCounter, to_device: ToDeviceHandler,
                 device_lists: DeviceListsHandler, e2e_keys: E2EKeysHandler,
                 max_connections: int = MAX_CONNECTIONS):
        self._sync = sync
        self._events = events
        self._reads = reads
        self._notifier = notifier
        self._account_data = account_data
        self._receipts = receipts
        self._typing = typing
        self._push_rules = push_rules
        self._counter = counter
        self._to_device = to_device
        self._device_lists = device_lists
        self._e2e_keys = e2e_keys
        self._connections: LruCache[tuple[str, str, str], Connection] = LruCache(
            "sliding_sync_connections", max_connections)

    # -- the request ------------------------------------------------------------------------------

    async def sync(self, user_id: str, device_id: str, pos: str | None, timeout_ms: int,
                   request: dict[str, Any]) -> dict[str, Any]:
        key = (user_id, device_id, request.get("conn_id") or "")
        now_ms = self._notifier.clock.time_msec()
        connection = self._connections.get(key)
        if connection is not None and now_ms - connection.last_used > CONNECTION_LIFETIME_MS:
            self._connections.pop(key)
            connection = None
        from_position, from_token, from_state = 0, None, EMPTY_STATE
        if pos is not None:
            from_position, from_token = self._parse_pos(pos)
            if from_position:
                if connection is None or from_position not in connection.states:
                    raise unknown_pos()
                from_state = connection.states[from_position]
        to_device_since = _to_device_since(request)
        if to_device_since is not None:
            # The client got the messages up to `since`: they are delivered (exactly once).
            await self._to_device.acknowledge(user_id, device_id, to_device_since)
        result = await self._compute(user_id, device_id, request, from_token, from_state)
        if from_token is not None and timeout_ms > 0:
            deadline = now_ms + timeout_ms
            while result.empty:
                remaining = deadline - self._notifier.clock.time_msec()
                if remaining <= 0:
                    break
                joined = await self._events.get_rooms_for_user(user_id)
                # As /sync: no await between this check and the waiter's registration.
                if self._sync.current_token() == result.token and not await self._notifier.wait(
                        user_id, joined, remaining):
                    break
                result = await self._compute(user_id, device_id, request, from_token, from_state)
        position = from_position
        if connection is not None and from_position in connection.states:
            # The client has this position: the ones before it (and answers it never got) go.
            connection.states = {from_position: connection.states[from_position]}
        if result.changed:
            if result.state.empty():
                position = 0
            else:
                if connection is None or pos is None:
                    connection = Connection({}, now_ms)
                position = next(connection.counter)
                # The snapshot this request started from stays valid (a retry), older ones go.
                kept = {from_position: connection.states[from_position]} if from_position in connection.states \
                    else {}
                connection.states = {**kept, position: result.state}
        if connection is not None:
            connection.last_used = self._notifier.clock.time_msec()
            self._connections.set(key, connection)
        result.body["pos"] = f"{position}/{result.token}"
        return result.body

    def _parse_pos(self, pos: str) -> tuple[int, SyncToken]:
        head, _, token = pos.partition("/")
        if not head.isdigit() or len(head) > 15:
            raise unknown_pos()
        parsed = parse_sync_token(token)
        current = self._sync.current_token()
        if parsed is None or parsed.events > current.events or parsed.account_data > current.account_data \
                or parsed.receipts > current.receipts or parsed.to_device > current.to_device \
                or parsed.device_lists > current.device_lists:
            raise unknown_pos()
        return int(head), parsed

    # -- one answer -------------------------------------------------------------------------------

    async def _compute(self, user_id: str, device_id: str, request: dict[str, Any], since: SyncToken | None,
                       state: ConnectionState) -> Result:
        now = self._sync.current_token()
        upto = now.events
        ignored = await self._account_data.get_ignored_users(user_id)
        rooms = await self._visible_rooms(user_id, state, ignored)
        positions = await self._events.get_stream_orderings([eid for _, eid in rooms.values()])
        joined = [r for r, (m, _) in rooms.items() if m == "join"]
        bumps = await self._events.get_bump_stamps(joined, BUMP_EVENT_TYPES)
        latest = await self._events.get_latest_positions(joined)

        def sort_key(room_id: str) -> tuple[int, str]:
            # As Synapse: the latest event of any type lifts a joined room (bump_stamp, of a few
            # types only, is for the client's own sort); other rooms sort by the membership.
            membership, event_id = rooms[room_id]
            stamp = latest.get(room_id) if membership == "join" else None
            return (-(stamp if stamp is not None else positions.get(event_id, 0)), room_id)

        ordered = sorted(rooms, key=sort_key)
        info = RoomInfoCache(self, user_id, rooms)
        # Lists: counts, windows, and the rooms they pick.
        configs: dict[str, RoomConfig] = {}
        lists_out: dict[str, Any] = {}
        list_rooms: dict[str, list[str]] = {}
        new_lists: dict[str, tuple] = {}
        for list_key, spec in (request.get("lists") or {}).items():
            matching = [r for r in ordered if await info.passes(r, spec.get("filters") or {})]
            ranges = spec.get("ranges")
            if spec.get("slow_get_all_rooms") or ranges is None:
                ranges = [[0, max(len(matching) - 1, 0)]]
            ops, picked = [], []
            for start, end in ranges:
                window = matching[start:end + 1]
                ops.append({"op": "SYNC", "range": [start, end], "room_ids": window})
                picked += window
            lists_out[list_key] = {"count": len(matching), "ops": ops}
            list_rooms[list_key] = picked
            new_lists[list_key] = (len(matching), tuple(tuple(op["room_ids"]) for op in ops))
            for room_id in picked:
                _merge(configs, room_id, spec)
        subscribed: list[str] = []
        for room_id, spec in (request.get("room_subscriptions") or {}).items():
            if room_id in rooms:  # a room the user may not see is skipped
                subscribed.append(room_id)
                _merge(configs, room_id, spec)

        incremental = since is not None
        changes = await self._events.get_membership_changes(user_id, since.events, upto) if incremental else {}
        receipts_scope = self._scope(request, "receipts", list_rooms, subscribed)
        # The rooms whose receipts count: the extension's, and (to see the user's own receipts,
        # which change unread counts) every room in a window.
        receipt_rooms = set(receipts_scope or []) | (set(configs) if incremental else set())
        receipt_events = await self._receipts.receipt_events(
            user_id, sorted(r for r in receipt_rooms if rooms[r][0] == "join"),
            since.receipts if incremental else None, now.receipts)
        own_receipts = {r for r, e in receipt_events.items()
                        if any(user_id in by_user for by_type in e["content"].values()
                               for by_user in by_type.values())}

        new_rooms = dict(state.rooms)
        changed = new_lists != {k: v for k, v in state.lists.items() if k in new_lists} \
            or set(state.lists) != set(new_lists)
        rooms_out: dict[str, Any] = {}
        fresh_rooms: dict[str, list[str]] = {}  # sent with initial: their timeline's event IDs
        m_direct = await info.direct_rooms()
        for room_id, config in configs.items():
            prev = state.rooms.get(room_id)
            membership, member_event = rooms[room_id]
            room_since = (since.events if prev.live else prev.since) if prev is not None and since is not None \
                else None
            out, sent = await self._room(user_id, device_id, room_id, membership, member_event, config, prev,
                                         room_since, since, upto, positions, bumps, ignored, changes,
                                         room_id in own_receipts, room_id in m_direct)
            if out is not None:
                rooms_out[room_id] = out
                if out.get("initial"):
                    fresh_rooms[room_id] = [e["event_id"] for e in out.get("timeline", [])]
            if sent is not None and sent != prev:
                new_rooms[room_id] = sent
                changed = True
        for room_id in state.rooms:
            if room_id not in rooms:  # left (and told), or forgotten: the connection forgets it too
                new_rooms.pop(room_id, None)
                changed = True
        if incremental:
            # Rooms sent before, out of every window now, that move on: PREVIOUSLY, from the token.
            latest = await self._events.get_latest_positions([r for r in state.rooms if r not in configs])
            for room_id, sent in state.rooms.items():
                if room_id not in configs and room_id in rooms and sent.live and (latest.get(room_id, 0) > since.events
                                                              or room_id in changes):
                    new_rooms[room_id] = replace(sent, live=False, since=since.events)
                    changed = True
        extensions = await self._extensions(user_id, device_id, request, since, now, rooms, list_rooms,
                                            subscribed, fresh_rooms, receipt_events)
        body: dict[str, Any] = {"lists": lists_out, "rooms": rooms_out, "extensions": extensions["body"]}
        return Result(body, ConnectionState(new_rooms, new_lists), changed,
                      not rooms_out and not extensions["content"] and not changed, now)

    async def _visible_rooms(self, user_id: str, state: ConnectionState,
                             ignored: set[str]) -> dict[str, tuple[str, str]]:
        """room_id -> (membership, event ID) of the rooms the user's lists hold: joined, invited
        (not by an ignored user), knocked, kicked or banned; a room they left themselves only
        once more, to tell the client (then it drops out); nothing forgotten."""
        memberships = await self._events.get_current_memberships(user_id)
        out: dict[str, tuple[str, str]] = {}
        left: dict[str, tuple[str, str]] = {}
        for room_id, (membership, event_id) in memberships.items():
            if membership in ("join", "knock"):
                out[room_id] = (membership, event_id)
            elif membership == "invite":
                if await self._sync.invited_by(event_id) not in ignored:
                    out[room_id] = (membership, event_id)
            elif membership in ("leave", "ban"):
                left[room_id] = (membership, event_id)
        if left:
            forgotten = await self._reads.forgotten_rooms(user_id, left)
            events = await self._events.get_events([eid for _, eid in left.values()])
            for room_id, (membership, event_id) in left.items():
                event = events.get(event_id)
                if room_id in forgotten or event is None:
                    continue
                sent = state.rooms.get(room_id)
                if event.sender != user_id or (sent is not None and sent.membership != event_id):
                    out[room_id] = (membership, event_id)
        return out

    # -- one room ---------------------------------------------------------------------------------

    async def _room(self, user_id: str, device_id: str, room_id: str, membership: str, member_event: str,
                    config: RoomConfig, prev: RoomSent | None, room_since: int | None, since: SyncToken | None,
                    upto: int, positions: dict[str, int], bumps: dict[str, int], ignored: set[str],
                    changes: dict[str, Any], own_receipt: bool, is_dm: bool
                    ) -> tuple[dict[str, Any] | None, RoomSent | None]:
        member_position = positions.get(member_event, 0)
        if membership in ("invite", "knock"):
            if prev is not None and prev.membership == member_event:
                return None, prev
            stripped = await self._sync.stripped_state(member_event)
            out: dict[str, Any] = {"initial": True, "invite_state": stripped, "bump_stamp": member_position}
            by_key = {(e.get("type"), e.get("state_key")): e for e in stripped}
            name = (by_key.get(("m.room.name", "")) or {}).get("content", {}).get("name")
            if isinstance(name, str) and name:
                out["name"] = name
            avatar = (by_key.get(("m.room.avatar", "")) or {}).get("content", {}).get("url")
            if isinstance(avatar, str) and avatar:
                out["avatar"] = avatar
            mine = (by_key.get(("m.room.member", user_id)) or {}).get("content", {})
            if is_dm or mine.get("is_direct") is True:
                out["is_dm"] = True
            return out, RoomSent(True, 0, member_event, membership, config.required_state, config.timeline_limit,
                                 {}, {})
        room_upto = upto if membership == "join" else member_position
        fresh = prev is None or room_since is None or (prev.kind != "join" and membership == "join")
        if not fresh and prev is not None and prev.membership != member_event and membership == "join":
            # Left and came back while away: the client's copy is stale, start the room over.
            transitions = await self._events.get_membership_transitions(user_id, room_since, upto)
            fresh = any(m != "join" for m in transitions.get(room_id, (None, []))[1])
        expanded = not fresh and prev is not None and config.timeline_limit > prev.timeline_limit
        widened = not fresh and prev is not None and not config.required_state <= prev.required_state
        if not fresh and not expanded and not widened and prev is not None and room_since is not None:
            latest = (await self._events.get_latest_positions([room_id])).get(room_id, 0)
            if min(latest, room_upto) <= room_since and room_id not in changes and not own_receipt \
                    and prev.membership == member_event:
                # Nothing new since the client's copy: it is up to date (LIVE) as it stands.
                return None, replace(prev, live=True, since=0, required_state=config.required_state,
                                     timeline_limit=config.timeline_limit)
        timeline_since = None if fresh or expanded else room_since
        timeline, limited, start, _ = await self._sync.timeline(user_id, room_id, timeline_since, room_upto,
                                                                config.timeline_limit, _NO_FILTER, ignored)
        timeline_positions = await self._events.get_stream_orderings([e.event_id for e in timeline])
        state_now = await self._sync.state_at_position(room_id, room_upto)
        matcher = StateMatcher(config.required_state, user_id)
        members_sent = {} if fresh or prev is None else dict(prev.members)
        if fresh:
            wanted = {k: v for k, v in state_now.items() if matcher.matches(k)}
        else:
            before = await self._sync.state_at_position(room_id, room_since)
            delta = {k: v for k, v in state_now.items() if before.get(k) != v}
            wanted = {k: v for k, v in delta.items() if matcher.matches(k)}
            if widened:
                old = StateMatcher(prev.required_state, user_id)
                wanted.update({k: v for k, v in state_now.items() if matcher.matches(k) and not old.matches(k)})
            if matcher.lazy and not limited:
                # Every membership change since the last sync keeps the client's member list right.
                wanted.update({k: v for k, v in delta.items() if k[0] == "m.room.member"})
        if matcher.lazy:
            involved = {e.sender for e in timeline} | {e.state_key for e in timeline
                                                      if e.type == "m.room.member" and e.state_key}
            for member in involved:
                key = ("m.room.member", member)
                if key in state_now and members_sent.get(member) != state_now[key]:
                    wanted[key] = state_now[key]
            for (event_type, member), event_id in wanted.items():
                if event_type == "m.room.member":
                    members_sent[member] = event_id
        state_events = await self._events.get_events(sorted(wanted.values()))
        state_list = [state_events[v] for v in sorted(wanted.values()) if v in state_events]
        fields = await self._fields(user_id, room_id, membership, state_now, bumps, member_position, upto, is_dm)
        out = {}
        if fresh:
            out["initial"] = True
        if expanded:
            out["unstable_expanded_timeline"] = True
        for name, value in fields.items():
            if fresh or prev is None or prev.fields.get(name) != value:
                out[name] = value
        if "heroes" in out and "name" in fields:
            del out["heroes"]
        counts_changed = any(k in out for k in ("notification_count", "highlight_count"))
        if not fresh and not expanded and not timeline and not state_list and not counts_changed \
                and prev is not None and prev.membership == member_event and not (set(out) - {"bump_stamp"}):
            return None, replace(prev, live=True, required_state=config.required_state,
                                 timeline_limit=config.timeline_limit, fields=fields, members=members_sent)
        if is_dm:
            out["is_dm"] = True  # whenever the room is sent, as Synapse
        if membership == "join" or fresh:
            out["notification_count"] = fields.get("notification_count", 0)
            out["highlight_count"] = fields.get("highlight_count", 0)
        serialized = await self._sync.serialize_timeline(user_id, device_id, timeline)
        out["timeline"] = serialized
        if state_list or fresh:  # as Synapse: left out when nothing changed
            out["required_state"] = await self._reads.serialize(state_list, user_id)
        out["limited"] = limited
        out["prev_batch"] = stream_token(start)
        out["num_live"] = sum(1 for p in timeline_positions.values() if since is not None and p > since.events)
        sent = RoomSent(True, 0, member_event, membership, config.required_state, config.timeline_limit, fields,
                        members_sent)
        return out, sent

    async def _fields(self, user_id: str, room_id: str, membership: str, state: dict[tuple[str, str], str],
                      bumps: dict[str, int], member_position: int, upto: int, is_dm: bool) -> dict[str, Any]:
        """The room's summary as the client shows it in its list."""
        fields: dict[str, Any] = {}
        keyed = [state[k] for k in (("m.room.name", ""), ("m.room.avatar", "")) if k in state]
        events = await self._events.get_events(keyed)
        name_event = events.get(state.get(("m.room.name", ""), ""))
        avatar_event = events.get(state.get(("m.room.avatar", ""), ""))
        name = name_event.content.get("name") if name_event is not None else None
        if isinstance(name, str) and name:
            fields["name"] = name
        avatar = avatar_event.content.get("url") if avatar_event is not None else None
        if isinstance(avatar, str) and avatar:
            fields["avatar"] = avatar
        # Members as they are now: for joined rooms only (a room left is shown as it was then,
        # and Synapse sends no counts for it either).
        members = await self._events.get_members(room_id) if membership == "join" else []
        joined = sorted(u for u, m, _ in members if m == "join")
        invited = sorted(u for u, m, _ in members if m == "invite")
        if membership == "join":
            fields["joined_count"] = len(joined)
            fields["invited_count"] = len(invited)
        if "name" not in fields and membership == "join":
            ids = {u: e for u, m, e in members}
            heroes = [u for u in joined + invited if u != user_id][:MAX_HEROES]
            member_events = await self._events.get_events([ids[u] for u in heroes])
            fields["heroes"] = [_hero(u, member_events.get(ids[u])) for u in heroes]
        stamp = bumps.get(room_id) if membership == "join" else None
        fields["bump_stamp"] = stamp if stamp is not None else member_position
        if is_dm:
            fields["is_dm"] = True
        if membership == "join":
            counts, _ = await self._counter.counts(user_id, room_id, upto, False)
            fields["notification_count"] = counts["notification_count"]
            fields["highlight_count"] = counts["highlight_count"]
        return fields

    # -- extensions -------------------------------------------------------------------------------

    @staticmethod
    def _scope(request: dict[str, Any], name: str, list_rooms: dict[str, list[str]],
               subscribed: list[str]) -> list[str] | None:
        """The rooms an enabled extension covers (its `lists` and `rooms`, `["*"]` when absent),
        or None when it is off."""
        ext = (request.get("extensions") or {}).get(name) or {}
        if not ext.get("enabled"):
            return None
        lists = ext.get("lists")
        lists = [WILDCARD] if lists is None else lists
        rooms = ext.get("rooms")
        rooms = [WILDCARD] if rooms is None else rooms
        out: list[str] = []
        for key, picked in list_rooms.items():
            if WILDCARD in lists or key in lists:
                out += picked
        out += [r for r in subscribed if WILDCARD in rooms or r in rooms]
        return list(dict.fromkeys(out))

    async def _extensions(self, user_id: str, device_id: str, request: dict[str, Any], since: SyncToken | None,
                          now: SyncToken, rooms: dict[str, tuple[str, str]], list_rooms: dict[str, list[str]],
                          subscribed: list[str], fresh_rooms: dict[str, list[str]],
                          receipt_events: dict[str, dict[str, Any]]) -> dict[str, Any]:
        requested = request.get("extensions") or {}
        body: dict[str, Any] = {}
        content = False
        incremental = since is not None
        if (requested.get("to_device") or {}).get("enabled"):
            ext = requested["to_device"]
            after = _to_device_since(request) or 0
            batch = await self._to_device.messages_for_sync(user_id, device_id, after, now.to_device,
                                                            ext.get("limit") or 100)
            body["to_device"] = {"next_batch": str(batch.upto), "events": batch.events}
            content = content or bool(batch.events)
        if (requested.get("e2ee") or {}).get("enabled"):
            e2ee: dict[str, Any] = {
                "device_one_time_keys_count": await self._e2e_keys.one_time_key_counts(user_id, device_id),
                "device_unused_fallback_key_types": await self._e2e_keys.unused_fallback_key_types(user_id,
                                                                                                   device_id),
            }
            if incremental:
                moves = await self._device_lists.membership_moves(user_id, since.events, now.events)
                changed, left = await self._device_lists.changes(user_id, moves, since.device_lists,
                                                                 now.device_lists)
                if changed or left:
                    e2ee["device_lists"] = {"changed": changed, "left": left}
                    content = True
            body["e2ee"] = e2ee
        scope = self._scope(request, "account_data", list_rooms, subscribed)
        if scope is not None:
            data = await self._account_data.get_changes(user_id, since.account_data if incremental else None,
                                                        now.account_data)
            global_data = dict(data.get("", {}))
            if not incremental and "m.push_rules" not in global_data:
                # Clients read push rules from account data; a user who never changed any has none stored.
                global_data["m.push_rules"] = await self._push_rules.get_account_data_content(user_id)
            fresh_in_scope = [r for r in scope if r in fresh_rooms]
            if incremental and fresh_in_scope:
                everything = await self._account_data.get_changes(user_id, None, now.account_data)
                for room_id in fresh_in_scope:
                    if room_id in everything:
                        data[room_id] = everything[room_id]
            room_data = {r: [{"type": t, "content": c} for t, c in data[r].items()]
                         for r in scope if r in data and rooms.get(r, ("",))[0] == "join"}
            body["account_data"] = {"global": [{"type": t, "content": c} for t, c in global_data.items()],
                                    "rooms": room_data}
            content = content or bool(global_data) or bool(room_data)
        scope = self._scope(request, "receipts", list_rooms, subscribed)
        if scope is not None:
            out: dict[str, Any] = {}
            for room_id in scope:
                if room_id in fresh_rooms and incremental:
                    # A room sent afresh: receipts on its timeline and the user's own, whatever their age.
                    whole = await self._receipts.receipt_events(user_id, [room_id], None, now.receipts)
                    event = _receipts_for(whole.get(room_id), set(fresh_rooms[room_id]), user_id)
                elif room_id in fresh_rooms:
                    event = _receipts_for(receipt_events.get(room_id), set(fresh_rooms[room_id]), user_id)
                else:
                    event = receipt_events.get(room_id)
                if event is not None:
                    out[room_id] = event
            body["receipts"] = {"rooms": out}
            content = content or bool(out)
        scope = self._scope(request, "typing", list_rooms, subscribed)
        if scope is not None:
            out = {}
            for room_id in scope:
                if rooms.get(room_id, ("",))[0] != "join":
                    continue
                event = self._typing.typing_event(room_id, since.typing if incremental and room_id not in
                                                  fresh_rooms else None)
                if event is not None:
                    out[room_id] = event
            body["typing"] = {"rooms": out}
            content = content or bool(out)
        return {"body": body, "content": content}


class RoomInfoCache:
    """What the list filters look at, read once per answer and only when a filter asks."""

    def __init__(self, handler: SlidingSyncHandler, user_id: str, rooms: dict[str, tuple[str, str]]):
        self._h = handler
        self._user_id = user_id
        self._rooms = rooms
        self._state: dict[str, dict[tuple[str, str], dict[str, Any]]] = {}
        self._direct: set[str] | None = None
        self._tags: dict[str, set[str]] | None = None
        self._space_children: dict[str, set[str]] = {}

    async def direct_rooms(self) -> set[str]:
        if self._direct is None:
            content = await self._h._account_data.get(self._user_id, "", "m.direct") or {}
            self._direct = {r for ids in content.values() if isinstance(ids, list) for r in ids if isinstance(r, str)}
        return self._direct

    async def _tags_of(self, room_id: str) -> set[str]:
        if self._tags is None:
            data = await self._h._account_data.get_changes(self._user_id, None, self._h._account_data.stream.current)
            self._tags = {}
            for r, by_type in data.items():
                tags = (by_type.get("m.tag") or {}).get("tags")
                if r and isinstance(tags, dict):
                    self._tags[r] = set(tags)
        return self._tags.get(room_id, set())

    async def _room_state(self, room_id: str) -> dict[tuple[str, str], dict[str, Any]]:
        """(type, state_key) -> content of the room's key state (stripped state for an invite)."""
        if room_id not in self._state:
            membership, event_id = self._rooms[room_id]
            if membership in ("invite", "knock"):
                stripped = await self._h._sync.stripped_state(event_id)
                self._state[room_id] = {(e.get("type"), e.get("state_key")): e.get("content") or {}
                                        for e in stripped}
            else:
                ids = await self._h._events.get_current_state_ids(room_id)
                wanted = [ids[k] for k in (("m.room.create", ""), ("m.room.name", ""), ("m.room.encryption", ""))
                          if k in ids]
                events = await self._h._events.get_events(wanted)
                self._state[room_id] = {(e.type, e.state_key): e.content for e in events.values()}
        return self._state[room_id]

    async def _children(self, space_id: str) -> set[str]:
        if space_id not in self._space_children:
            children: set[str] = set()
            if self._rooms.get(space_id, ("",))[0] == "join":
                ids = await self._h._events.get_current_state_ids(space_id)
                wanted = [v for (t, _), v in ids.items() if t == "m.space.child"]
                for event in (await self._h._events.get_events(wanted)).values():
                    if event.content and event.state_key:
                        children.add(event.state_key)
            self._space_children[space_id] = children
        return self._space_children[space_id]

    async def passes(self, room_id: str, filters: dict[str, Any]) -> bool:
        """The list filters, ANDed; an absent one does not filter."""
        membership, event_id = self._rooms[room_id]
        if "is_invite" in filters and filters["is_invite"] is not None \
                and filters["is_invite"] != (membership == "invite"):
            return False
        if filters.get("is_dm") is not None:
            is_dm = room_id in await self.direct_rooms()
            if membership == "invite" and not is_dm:
                mine = (await self._room_state(room_id)).get(("m.room.member", self._user_id)) or {}
                is_dm = mine.get("is_direct") is True
            if is_dm != filters["is_dm"]:
                return False
        if filters.get("spaces") is not None:
            found = False
            for space_id in filters["spaces"]:
                if room_id in await self._children(space_id):
                    found = True
                    break
            if not found:
                return False
        if filters.get("is_encrypted") is not None:
            encrypted = ("m.room.encryption", "") in await self._room_state(room_id)
            if encrypted != filters["is_encrypted"]:
                return False
        if filters.get("room_types") is not None or filters.get("not_room_types") is not None:
            create = (await self._room_state(room_id)).get(("m.room.create", "")) or {}
            room_type = create.get("type") if isinstance(create.get("type"), str) else None
            if filters.get("not_room_types") is not None and room_type in filters["not_room_types"]:
                return False
            if filters.get("room_types") is not None and room_type not in filters["room_types"]:
                return False
        if filters.get("room_name_like") is not None:
            name = ((await self._room_state(room_id)).get(("m.room.name", "")) or {}).get("name")
            if not isinstance(name, str) or filters["room_name_like"].casefold() not in name.casefold():
                return False
        if filters.get("tags") is not None or filters.get("not_tags") is not None:
            tags = await self._tags_of(room_id)
            if filters.get("not_tags") is not None and tags & set(filters["not_tags"]):
                return False
            if filters.get("tags") is not None and not tags & set(filters["tags"]):
                return False
        return True


def _merge(configs: dict[str, RoomConfig], room_id: str, spec: dict[str, Any]) -> None:
    """A room in several lists and subscriptions: the largest timeline, all the required state."""
    pairs = frozenset((t, k) for t, k in spec.get("required_state") or [])
    limit = spec.get("timeline_limit") or 0
    before = configs.get(room_id)
    if before is not None:
        pairs |= before.required_state
        limit = max(limit, before.timeline_limit)
    configs[room_id] = RoomConfig(limit, pairs)


def _to_device_since(request: dict[str, Any]) -> int | None:
    ext = (request.get("extensions") or {}).get("to_device") or {}
    if not ext.get("enabled"):
        return None
    since = ext.get("since")
    if since is None:
        return None
    if not isinstance(since, str) or not since.isdigit() or len(since) > 18:
        raise MatrixError(400, Codes.INVALID_PARAM, "Invalid to_device since")
    return int(since)


def _receipts_for(event: dict[str, Any] | None, timeline: set[str], user_id: str) -> dict[str, Any] | None:
    """The part of an m.receipt event about the timeline's events, and the user's own receipts."""
    if event is None:
        return None
    content: dict[str, Any] = {}
    for event_id, by_type in event["content"].items():
        for receipt_type, by_user in by_type.items():
            for uid, data in by_user.items():
                if event_id in timeline or uid == user_id:
                    content.setdefault(event_id, {}).setdefault(receipt_type, {})[uid] = data
    return {"type": "m.receipt", "content": content} if content else None


def _hero(user_id: str, member: Event | None) -> dict[str, Any]:
    hero: dict[str, Any] = {"user_id": user_id}
    content = member.content if member is not None else {}
    if isinstance(content.get("displayname"), str):
        hero["displayname"] = content["displayname"]
    if isinstance(content.get("avatar_url"), str):
        hero["avatar_url"] = content["avatar_url"]
    return hero
