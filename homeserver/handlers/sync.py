"""/sync: what changed for a user since a token, or everything for a first sync; long-polls on
the notifier when nothing has.

A sync token is "s<events stream position>" (more streams will join it as "_"-separated parts;
parsers read the leading part). Positions are persistent, so tokens survive restarts."""

from __future__ import annotations

import json
from typing import Any, NamedTuple

from homeserver.api.errors import invalid_param
from homeserver.api.numbers import parse_position
from homeserver.events.filtering import Filter
from homeserver.events.formatting import EventFormatter
from homeserver.events.model import Event
from homeserver.handlers.device_lists import DeviceListsHandler, MembershipMoves
from homeserver.handlers.e2e_keys import E2EKeysHandler
from homeserver.handlers.lazy_members import SentMembersTracker
from homeserver.handlers.notifications import NotificationCounter
from homeserver.handlers.presence import PresenceHandler
from homeserver.handlers.push_rules import PushRulesHandler
from homeserver.handlers.receipts import ReceiptsHandler, TypingHandler
from homeserver.handlers.remote_state import STRIPPED_STATE_TYPES
from homeserver.handlers.room_reads import RoomReadHandler, parse_stream_token, stream_token
from homeserver.handlers.to_device import ToDeviceHandler
from homeserver.handlers.visibility import VisibilityHandler
from homeserver.notifier import Notifier
from homeserver.storage.account_data import AccountDataStore
from homeserver.storage.events import EventsStore
from homeserver.storage.receipts import ReceiptsStore
from homeserver.storage.state_groups import StateGroupsStore
from homeserver.util.caches import LruCache, uncancellable

DEFAULT_TIMELINE_LIMIT = 10
MAX_HEROES = 5
# A filtered timeline pages back this many events at a time, at most this many times, to fill its limit.
TIMELINE_PAGE = 100
MAX_TIMELINE_PAGES = 10
UNSTABLE_UNUSED_FALLBACK_KEY_TYPES = "org.matrix.msc2732.device_unused_fallback_key_types"


class SyncToken(NamedTuple):
    """Positions in each stream a sync has seen:
    "s<events>_<account data>_<receipts>_<typing>_<presence>_<to-device>_<device lists>".
    A token with fewer parts (e.g. from /messages, or an older server) has 0 for the missing streams."""

    events: int
    account_data: int = 0
    receipts: int = 0
    typing: int = 0
    presence: int = 0
    to_device: int = 0
    device_lists: int = 0

    def __str__(self) -> str:
        return "_".join([stream_token(self.events), *map(str, self[1:])])


def parse_sync_token(token: str) -> SyncToken | None:
    events = parse_stream_token(token)
    if events is None:
        return None
    rest = [parse_position(part) for part in token.split("_")[1:len(SyncToken._fields)]]
    if None in rest:
        return None
    return SyncToken(events, *rest)


class SyncHandler:
    def __init__(self, events: EventsStore, state_groups: StateGroupsStore, visibility: VisibilityHandler,
                 reads: RoomReadHandler, notifier: Notifier, account_data: AccountDataStore,
                 receipts: ReceiptsStore, receipts_handler: ReceiptsHandler, typing: TypingHandler,
                 push_rules: PushRulesHandler, presence: PresenceHandler, counter: NotificationCounter, *,
                 to_device: ToDeviceHandler, device_lists: DeviceListsHandler, e2e_keys: E2EKeysHandler):
        self._device_lists = device_lists
        self._e2e_keys = e2e_keys
        self._counter = counter
        self._to_device = to_device
        self._push_rules = push_rules
        self._presence = presence
        self._account_data = account_data
        self._receipts = receipts
        self._receipts_handler = receipts_handler
        self._typing = typing
        self._events = events
        self._state_groups = state_groups
        self._visibility = visibility
        self._reads = reads
        self._notifier = notifier
        self._sent_members = SentMembersTracker()
        # Parsed filters by their JSON: a client's every sync sends the same one (parsing it was
        # an eighth of a woken sync's time). Filters never change once parsed.
        self._filters: LruCache[str, Filter] = LruCache("sync_filters", 1_000)

    async def sync(self, user_id: str, device_id: str, since: str | None, timeout_ms: int, full_state: bool,
                   sync_filter: dict[str, Any], use_state_after: bool = False,
                   set_presence: str | None = None) -> dict[str, Any]:
        since_pos = None
        if since is not None:
            since_pos = parse_sync_token(since)
            if since_pos is None or since_pos.events > self._events.stream.current \
                    or since_pos.account_data > self._account_data.stream.current \
                    or since_pos.receipts > self._receipts.stream.current \
                    or since_pos.to_device > self._to_device.current_position \
                    or since_pos.device_lists > self._device_lists.position:
                raise invalid_param("Unknown since token")
            # The client got this token's to-device messages: they are delivered.
            # Writes: carried through even if the sync is cancelled (its client gone) meanwhile.
            await uncancellable(self._to_device.acknowledge(user_id, device_id, since_pos.to_device))
        try:
            # Inside the try: a sync cancelled while this runs still counts as finished.
            await uncancellable(self._presence.user_syncing(user_id, set_presence))
            result = await self._compute(user_id, device_id, since_pos, full_state, sync_filter, use_state_after)
            if since_pos is not None and not full_state:
                deadline = self._notifier.clock.time_msec() + timeout_ms
                while not result["rooms_changed"]:
                    remaining = deadline - self._notifier.clock.time_msec()
                    if remaining <= 0:
                        break
                    joined = await self._events.get_rooms_for_user(user_id)
                    # Anything written after the answer was computed notified no waiter of ours:
                    # look again instead of sleeping. (No await between this check and the
                    # waiter's registration, so nothing can slip in between.)
                    if self.current_token() == result["token"] and not await self._notifier.wait(
                            user_id, joined, remaining):
                        break  # timed out
                    result = await self._compute(user_id, device_id, since_pos, full_state, sync_filter,
                                                 use_state_after)
        finally:
            self._presence.sync_finished(user_id)
        return result["body"]

    def current_token(self) -> SyncToken:
        return SyncToken(self._events.stream.current, self._account_data.stream.current,
                         self._receipts.stream.current, self._typing.serial, self._presence.serial,
                         to_device=self._to_device.current_position, device_lists=self._device_lists.position)

    async def _compute(self, user_id: str, device_id: str, since_token: SyncToken | None, full_state: bool,
                       sync_filter: dict[str, Any], use_state_after: bool) -> dict[str, Any]:
        since = since_token.events if since_token is not None else None
        incremental = since_token is not None and not full_state
        current = self.current_token()
        now, account_data_now, receipts_now, typing_now, presence_now = current[:5]
        account_data = await self._account_data.get_changes(
            user_id, since_token.account_data if incremental else None, account_data_now)
        f = self._parsed_filter(sync_filter)
        limit = f.room.timeline.limit_or(DEFAULT_TIMELINE_LIMIT)
        lazy = f.room.state.lazy_load_members
        include_leave = f.room.include_leave

        ignored = await self._account_data.get_ignored_users(user_id)
        memberships = await self._events.get_current_memberships(user_id)
        changes = await self._events.get_membership_changes(user_id, since, now) if since is not None else {}
        transitions = await self._events.get_membership_transitions(user_id, since, now) if changes else {}
        joined = [r for r, (m, _) in memberships.items() if m == "join"]
        latest = await self._events.get_latest_positions(joined)
        # Rooms the user left and then forgot are listed nowhere (spec: POST /forget), with
        # include_leave or not, until a new membership.
        left = {r: v for r, v in memberships.items() if v[0] in ("leave", "ban") and (include_leave or r in changes)}
        forgotten = await self._reads.forgotten_rooms(user_id, left) if left else set()
        rooms: dict[str, dict[str, Any]] = {"join": {}, "invite": {}, "leave": {}, "knock": {}}
        for room_id, (membership, event_id) in sorted(memberships.items()):
            if not f.room.room_allowed(room_id):
                continue
            changed = room_id in changes
            # Whether the user had the room's state at `since`: joined then, and all along since.
            had_state = changed and transitions.get(room_id, (None, []))[0] == "join" \
                and all(m == "join" for m in transitions[room_id][1])
            if membership == "join":
                # Only a transition into `join` starts the room afresh (not a display name change).
                if since is None or full_state or (changed and not had_state):
                    rooms["join"][room_id] = await self._room(user_id, device_id, room_id, None, now, limit, lazy,
                                                              use_state_after, f, ignored)
                elif latest.get(room_id, 0) > since:
                    room = await self._room(user_id, device_id, room_id, since, now, limit, lazy,
                                            use_state_after, f, ignored)
                    # New events the user does not get (an ignored user's, filtered out, hidden):
                    # nothing to send for the room (ephemeral events and account data may add it back).
                    if room["timeline"]["events"] or room["state_after" if use_state_after else "state"]["events"]:
                        rooms["join"][room_id] = room
            elif membership == "invite" and await self.invited_by(event_id) in ignored:
                continue  # invites from ignored users are not shown
            elif membership in ("invite", "knock") and (since is None or changed):
                key = "invite_state" if membership == "invite" else "knock_state"
                rooms[membership][room_id] = {key: {"events": await self.stripped_state(event_id)}}
            elif membership in ("leave", "ban") and (changed or (since is None and include_leave)) \
                    and room_id not in forgotten:
                upto = changes[room_id][2] if changed else (await self._events.get_stream_orderings([event_id]))[event_id]
                # Joined in this window without being joined at `since` (invited, say): the client never
                # had the room's state, so it gets all of it, not the change since `since`.
                joined_between = changed and transitions.get(room_id, (None, []))[0] != "join" \
                    and "join" in transitions[room_id][1]
                rooms["leave"][room_id] = await self._room(user_id, device_id, room_id,
                                                           since if changed and not joined_between else None,
                                                           upto, limit, lazy,
                                                           use_state_after, f, ignored)
        joined_now = [r for r, (m, _) in memberships.items() if m == "join" and f.room.room_allowed(r)]
        receipts = await self._receipts_handler.receipt_events(
            user_id, joined_now, since_token.receipts if incremental else None, receipts_now)
        for room_id in joined_now:
            ephemeral = []
            typing = self._typing.typing_event(room_id, since_token.typing if incremental else None)
            if typing is not None:
                ephemeral.append(typing)
            if room_id in receipts:
                ephemeral.append(receipts[room_id])
            ephemeral = f.room.ephemeral.apply_limit(
                [e for e in ephemeral if f.room.ephemeral.check(e["type"], None)]
                if f.room.ephemeral.room_allowed(room_id) else [])
            if ephemeral:
                rooms["join"].setdefault(room_id, {})["ephemeral"] = {"events": ephemeral}
        if since_token is None and "m.push_rules" not in account_data.get("", {}):
            # Clients read push rules from account data too; a user who never changed any has none stored.
            account_data.setdefault("", {})["m.push_rules"] = await self._push_rules.get_account_data_content(user_id)
        for room_id, contents in account_data.items():
            event_filter = f.room.account_data if room_id else f.account_data
            contents = dict(event_filter.apply_limit([(t, c) for t, c in contents.items() if event_filter.check(t, None)]))
            if not contents or (room_id and not (f.room.room_allowed(room_id)
                                                 and f.room.account_data.room_allowed(room_id))):
                continue
            target = rooms["join"].get(room_id) if room_id else None
            if room_id and target is None and memberships.get(room_id, ("",))[0] == "join":
                target = rooms["join"][room_id] = {}
            if target is not None:
                target["account_data"] = {"events": [{"type": t, "content": c} for t, c in contents.items()]}
        # Every joined room in the answer gets its counts (a receipt alone may have cleared them).
        for room_id, room in rooms["join"].items():
            counts, threads = await self._counter.counts(
                user_id, room_id, now, f.room.timeline.unread_thread_notifications)
            room["unread_notifications"] = counts
            if f.room.timeline.unread_thread_notifications:
                room["unread_thread_notifications"] = threads
        # Who joined or left rooms in between: read once, for presence and device lists both.
        moves = await self._device_lists.membership_moves(user_id, since_token.events, now) \
            if since_token is not None else MembershipMoves()
        met = await self._device_lists.users_met(user_id, moves) if incremental and self._presence.enabled else set()
        presence = f.presence.apply_limit([e for e in await self._presence.presence_events(
            user_id, since_token.presence if incremental else None, met)
            if f.presence.check(e["type"], e["sender"])])
        to_device = await self._to_device.messages_for_sync(
            user_id, device_id, since_token.to_device if since_token is not None else 0, current.to_device)
        # A batch cut short ends the token at its last message, so the rest comes next time.
        token = current._replace(to_device=to_device.upto)
        body: dict[str, Any] = {"next_batch": str(token),
                                "rooms": {k: v for k, v in rooms.items() if v}}
        if presence:
            body["presence"] = {"events": presence}
        if to_device.events:
            body["to_device"] = {"events": to_device.events}
        device_lists = await self._device_list_changes(user_id, since_token, current, moves)
        if device_lists:
            body["device_lists"] = device_lists
        body["device_one_time_keys_count"] = await self._e2e_keys.one_time_key_counts(user_id, device_id)
        body["device_unused_fallback_key_types"] = await self._e2e_keys.unused_fallback_key_types(user_id, device_id)
        # MSC2732's name, which clients built before it was stable (older matrix-nio, bots) still read.
        body[UNSTABLE_UNUSED_FALLBACK_KEY_TYPES] = list(body["device_unused_fallback_key_types"])
        global_data = dict(f.account_data.apply_limit(
            [(t, c) for t, c in account_data.get("", {}).items() if f.account_data.check(t, None)]))
        if global_data:
            body["account_data"] = {"events": [{"type": t, "content": c} for t, c in global_data.items()]}
        return {"body": body, "token": token,
                "rooms_changed": any(rooms.values()) or bool(account_data) or bool(presence)
                or bool(to_device.events) or bool(device_lists)}

    def _parsed_filter(self, sync_filter: dict[str, Any]) -> Filter:
        key = json.dumps(sync_filter, sort_keys=True)
        parsed = self._filters.get(key)
        if parsed is None:
            parsed = Filter(sync_filter)
            self._filters.set(key, parsed)
        return parsed

    async def _device_list_changes(self, user_id: str, since: SyncToken | None, current: SyncToken,
                                   moves: MembershipMoves) -> dict[str, list[str]]:
        """Whose device keys the client must re-fetch (`changed`) or may stop tracking (`left`);
        nothing on a first sync, where clients fetch every key they need."""
        if since is None:
            return {}
        changed, left = await self._device_lists.changes(user_id, moves, since.device_lists, current.device_lists)
        return {"changed": changed, "left": left} if changed or left else {}

    async def _room(self, user_id: str, device_id: str, room_id: str, since: int | None, upto: int, limit: int,
                    lazy: bool, use_state_after: bool, f: Filter, ignored: set[str]) -> dict[str, Any]:
        """Timeline (since, upto] (the last `limit` visible events) and the state change that
        leads up to its start (all of it when `since` is None); with `use_state_after`, the
        state change up to its end instead (`state_after`, spec v1.16)."""
        timeline, limited, start, skipped = await self.timeline(user_id, room_id, since, upto, limit, f, ignored)
        if use_state_after:
            start_group = await self._group_at_position(room_id, upto)
        else:
            start_group = await self._group_at(room_id, timeline[0].event_id if timeline else None, upto)
        state_at_start = await self._state_groups.get_state(start_group) if start_group is not None else {}
        if since is None:
            wanted = dict(state_at_start)
        else:
            # The same change for every member woken by the same event: worked out once (cached).
            wanted = dict(await self._state_groups.get_state_delta(
                await self._group_at_position(room_id, since), start_group))
        timeline_ids = {e.event_id for e in timeline}
        if skipped and not use_state_after:
            # State events within the timeline's span that visibility, the filter or ignoring dropped
            # from it: the client learns of them nowhere else, so they go in `state` (as they stand
            # at the end), or its member list and room state stay wrong.
            at_end = await self.state_at_position(room_id, upto)
            for key, event_id in at_end.items():
                if state_at_start.get(key) != event_id and event_id not in timeline_ids:
                    wanted[key] = event_id
        if lazy:
            wanted = self._lazy_members(user_id, device_id, room_id, since, timeline, state_at_start, wanted,
                                        f.room.state.include_redundant_members)
            if use_state_after:
                # Clients take state only from state_after, never from the timeline: the member events
                # the timeline changes (a kick, a ban, an invite: not their senders') must be in it too.
                for e in timeline:
                    key = ("m.room.member", e.state_key)
                    if e.type == "m.room.member" and key in state_at_start:
                        wanted[key] = state_at_start[key]
        # `state` never repeats timeline events; `state_after` is the whole change, timeline or not.
        state_events = await self._events.get_events(
            [v for v in wanted.values() if use_state_after or v not in timeline_ids])
        state_events = {k: e for k, e in state_events.items() if f.room.state.matches(e)}
        if lazy:
            self._sent_members.record(
                user_id, device_id, room_id,
                {e.state_key: e.event_id for e in [*state_events.values(), *timeline] if e.type == "m.room.member"},
                # At least the position of this response's token (read after it was taken).
                self._events.stream.current, fresh=since is None)
        serialized = await self.serialize_timeline(user_id, device_id, timeline)
        formatter = EventFormatter(f.event_format, f.event_fields)
        state_list = list(state_events.values())
        return {
            "timeline": {"events": formatter.format(timeline, serialized), "limited": limited,
                         "prev_batch": stream_token(start)},
            "state_after" if use_state_after else "state": {
                "events": formatter.format(state_list, await self._reads.serialize(state_list, user_id))},
            "summary": await self._summary(user_id, room_id),
        }

    async def serialize_timeline(self, user_id: str, device_id: str, timeline: list[Event]) -> list[dict[str, Any]]:
        """Timeline events as the client gets them; the device's own carry their transaction IDs."""
        serialized = await self._reads.serialize(timeline, user_id)
        # Only the user's own events can carry their transaction IDs.
        txn_ids = await self._events.get_txn_ids(user_id, device_id, [e.event_id for e in timeline
                                                                       if e.sender == user_id])
        for event in serialized:
            if event["event_id"] in txn_ids:
                event["unsigned"]["transaction_id"] = txn_ids[event["event_id"]]
        return serialized

    async def timeline(self, user_id: str, room_id: str, since: int | None, upto: int, limit: int, f: Filter,
                        ignored: set[str]) -> tuple[list[Event], bool, int, bool]:
        """The last `limit` events of (since, upto] that pass the timeline filter and the user
        may see, oldest first; whether there were more; the position just before the first;
        whether events between the first and `upto` were left out. Pages further back while the
        filter leaves fewer than `limit` (bounded)."""
        picked: list[tuple[Event, int]] = []  # newest first
        left_out: list[int] = []  # positions of events passed over
        position, page_size, limited = upto, limit + 1, False
        oldest: Event | None = None  # the oldest event of the room's stream looked at
        for _ in range(MAX_TIMELINE_PAGES):
            # Never below 0: the room's past fetched from other servers (backfill) is /messages' only.
            rows = await self._events.paginate_room_events(room_id, position, True, page_size,
                                                           0 if since is None else since)
            fetched = await self._events.get_events([eid for eid, _ in rows])
            if rows:
                oldest = fetched.get(rows[-1][0], oldest)
            candidates = [fetched[eid] for eid, _ in rows if eid in fetched
                          and f.room.timeline.matches(fetched[eid]) and fetched[eid].sender not in ignored]
            visible = {e.event_id: e for e in await self._visibility.filter_events_for_user(user_id, candidates)}
            for event_id, event_position in rows:
                if event_id in visible:
                    if len(picked) == limit:
                        limited = True
                        break
                    picked.append((visible[event_id], event_position))
                else:
                    left_out.append(event_position)
            if limited or len(rows) < page_size:
                break
            if len(visible) < len(candidates):
                # History the user may not see (before they joined, say): earlier is hidden too.
                limited = True
                break
            position = rows[-1][1] - 1
            page_size = max(page_size, TIMELINE_PAGE)
        else:
            limited = True  # gave up looking further back: there may be more
        if since is None and not limited and (oldest is None or oldest.type != "m.room.create"):
            # Our stream of the room does not start at its creation: it was joined over federation,
            # and what came before the join is on other servers (backfilled by /messages). Limited,
            # so clients page back from prev_batch instead of taking this as the whole history.
            limited = True
        picked.reverse()
        start = picked[0][1] - 1 if picked else upto
        return [e for e, _ in picked], limited, start, any(p > start for p in left_out)

    def _lazy_members(self, user_id: str, device_id: str, room_id: str, since: int | None, timeline: list[Event],
                      state_at_start: dict, wanted: dict, include_redundant: bool) -> dict:
        """Lazy-loading: of the member events, only those of the timeline's senders (and the
        user's own); on an incremental sync those too when unchanged since `since`, as the
        client may never have had them; unless `include_redundant`, not those this device was
        already sent."""
        senders = {e.sender for e in timeline} | {user_id}
        if since is None:
            # Lazy loading limits the initial member set; after that, membership changes flow in
            # incremental syncs (spec, lazy-loading), those of members who said nothing included.
            wanted = {k: v for k, v in wanted.items() if k[0] != "m.room.member" or k[1] in senders}
        for sender in senders:
            key = ("m.room.member", sender)
            if key in state_at_start and key not in wanted:
                wanted[key] = state_at_start[key]
        if not include_redundant:
            had = self._sent_members.already_sent(user_id, device_id, room_id, since)
            wanted = {k: v for k, v in wanted.items() if k[0] != "m.room.member" or had.get(k[1]) != v}
        return wanted

    async def _group_at(self, room_id: str, first_timeline_event: str | None, upto: int) -> int | None:
        """The state group just before the timeline's first event (or at `upto` if it is empty)."""
        if first_timeline_event is not None:
            groups = await self._state_groups.get_event_state_groups([first_timeline_event])
            if first_timeline_event in groups:
                return groups[first_timeline_event][0]
        return await self._group_at_position(room_id, upto)

    async def _group_at_position(self, room_id: str, position: int) -> int | None:
        event_id = await self._events.get_event_at_position(room_id, position)
        if event_id is None:
            return None
        groups = await self._state_groups.get_event_state_groups([event_id])
        return groups[event_id][1] if event_id in groups else None

    async def state_at_position(self, room_id: str, position: int) -> dict:
        group = await self._group_at_position(room_id, position)
        return await self._state_groups.get_state(group) if group is not None else {}

    async def _summary(self, user_id: str, room_id: str) -> dict[str, Any]:
        members = await self._events.get_member_lists(room_id)
        summary: dict[str, Any] = {"m.joined_member_count": len(members.joined),
                                   "m.invited_member_count": len(members.invited)}
        state = await self._events.get_current_state_ids(room_id)
        if ("m.room.name", "") not in state and ("m.room.canonical_alias", "") not in state:
            heroes = _first_others(user_id, MAX_HEROES, members.joined, members.invited)
            if not heroes:  # everyone left: heroes are those who did
                heroes = _first_others(user_id, MAX_HEROES, members.departed)
            summary["m.heroes"] = heroes
        return summary

    async def invited_by(self, member_event_id: str) -> str | None:
        event = await self._events.get_event(member_event_id)
        return event.sender if event else None

    async def stripped_state(self, member_event_id: str) -> list[dict[str, Any]]:
        """Stripped state for an invite or knock: the room's key state events, plus the
        membership event itself."""
        groups = await self._state_groups.get_event_state_groups([member_event_id])
        if member_event_id not in groups:  # a room we do not hold: what the inviting server gave
            given = await self._events.get_out_of_band_stripped_state(member_event_id)
            member = await self._events.get_event(member_event_id)
            mine = [{"type": member.type, "state_key": member.state_key, "content": member.content,
                     "sender": member.sender}] if member is not None else []
            own_key = ("m.room.member", member.state_key if member is not None else None)
            return [e for e in given or [] if (e.get("type"), e.get("state_key")) != own_key] + mine
        state = await self._state_groups.get_state(groups[member_event_id][0])
        ids = [state[(t, "")] for t in STRIPPED_STATE_TYPES if (t, "") in state]
        member = await self._events.get_event(member_event_id)
        if member is not None and (("m.room.member", member.sender)) in state:
            ids.append(state[("m.room.member", member.sender)])
        fetched = await self._events.get_events(ids + [member_event_id])
        out: list[Event] = [fetched[i] for i in ids + [member_event_id] if i in fetched]
        return [{"type": e.type, "state_key": e.state_key, "content": e.content, "sender": e.sender} for e in out]


def _first_others(user_id: str, count: int, *sorted_lists: tuple[str, ...]) -> list[str]:
    """The first `count` user IDs of the lists, in turn, other than `user_id`."""
    out: list[str] = []
    for users in sorted_lists:
        for user in users:
            if len(out) == count:
                return out
            if user != user_id:
                out.append(user)
    return out
