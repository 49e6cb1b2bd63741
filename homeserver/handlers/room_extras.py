"""The remaining room endpoints: event context, timestamp_to_event, reporting, forgetting,
knocking and room upgrades (spec: client-server API, the matching modules)."""

from __future__ import annotations

import copy
import logging
import math
from typing import Any

from homeserver.api.errors import Codes, MatrixError, forbidden, invalid_param, not_found
from homeserver.api.identifiers import UserID
from homeserver.clock import Clock
from homeserver.events.auth import get_required_level, get_user_power_level, parse_level
from homeserver.events.filtering import RoomEventFilter, room_event_filter, validate_room_event_filter
from homeserver.events.model import Event
from homeserver.events.room_versions import KNOWN_ROOM_VERSIONS
from homeserver.handlers.directory import DirectoryHandler
from homeserver.handlers.events import EventCreationHandler
from homeserver.handlers.room_reads import RoomReadHandler, stream_token
from homeserver.handlers.rooms import RoomCreationHandler, RoomMemberHandler
from homeserver.handlers.visibility import VisibilityHandler
from homeserver.storage.events import EventsStore
from homeserver.storage.room_extras import RoomExtrasStore
from homeserver.storage.state_groups import StateGroupsStore
from homeserver.storage.users import UsersStore
from homeserver.util.linearizer import Linearizer

logger = logging.getLogger(__name__)

# The spec's recommended transferable state (room_upgrades.md, server behaviour step 3); the
# power levels are handled on their own. Aliases (step 4) are moved by the DirectoryHandler.
UPGRADE_STATE = ("m.room.server_acl", "m.room.encryption", "m.room.name", "m.room.avatar", "m.room.topic",
                 "m.room.guest_access", "m.room.history_visibility", "m.room.join_rules")
NAMED_LEVELS = ("ban", "kick", "redact", "invite", "state_default", "events_default", "users_default")
TIMESTAMP_PAGE = 100
TIMESTAMP_MAX_PAGES = 10
TOMBSTONE_BODY = "This room has been replaced"


class RoomExtrasHandler:
    def __init__(self, server_name: str, clock: Clock, events: EventsStore, state_groups: StateGroupsStore,
                 visibility: VisibilityHandler, reads: RoomReadHandler, creator: EventCreationHandler,
                 room_creation: RoomCreationHandler, members: RoomMemberHandler, store: RoomExtrasStore,
                 directory: DirectoryHandler, users: UsersStore | None = None):
        self._users = users
        self._server_name = server_name
        self._clock = clock
        self._events = events
        self._state_groups = state_groups
        self._visibility = visibility
        self._reads = reads
        self._creator = creator
        self._room_creation = room_creation
        self._members = members
        self._store = store
        self._directory = directory
        self._upgrade_lock = Linearizer()

    # -- forgotten rooms ------------------------------------------------------------------------

    async def is_forgotten(self, user_id: str, room_id: str) -> bool:
        """The user forgot the room and has had no new membership since."""
        return await self._reads.is_forgotten(user_id, room_id, await self._events.get_membership(room_id, user_id))

    async def forget(self, user_id: str, room_id: str) -> None:
        membership = await self._events.get_membership(room_id, user_id)
        if membership is None:
            raise not_found("You have never been in this room")
        if membership[0] not in ("leave", "ban"):
            # The spec's 400 for "the user has not left the room" (its example errcode).
            raise MatrixError(400, Codes.UNKNOWN, "You must leave the room before forgetting it")
        await self._store.forget_room(user_id, room_id, membership[1], self._clock.time_msec())

    # -- reading --------------------------------------------------------------------------------

    async def _visible_event(self, user_id: str, room_id: str, event_id: str) -> Event:
        event = await self._events.get_event(event_id)
        visible = await self._visibility.filter_events_for_user(user_id, [event]) \
            if event is not None and event.room_id == room_id else []
        if not visible:
            raise not_found("Event not found")  # 404, not 403: do not confirm it exists
        return visible[0]

    async def get_context(self, user_id: str, room_id: str, event_id: str, limit: int,
                          event_filter: dict[str, Any] | RoomEventFilter) -> dict[str, Any]:
        if not isinstance(event_filter, RoomEventFilter):
            validate_room_event_filter(event_filter)
        event_filter = room_event_filter(event_filter)
        event = await self._visible_event(user_id, room_id, event_id)
        if await self.is_forgotten(user_id, room_id):
            raise not_found("Event not found")
        position = (await self._events.get_stream_orderings([event_id]))[event_id]
        before_limit = limit // 2
        after_limit = limit - before_limit
        current = self._events.stream.current
        try:
            before = await self._reads.get_messages(user_id, room_id, stream_token(position - 1), None, True,
                                                    before_limit, event_filter) if before_limit else None
            after = await self._reads.get_messages(user_id, room_id, stream_token(position), None, False,
                                                   after_limit, event_filter) if after_limit else None
        except MatrixError as e:
            if e.code == 403:  # saw the event (world readable then), may not read the room now
                raise not_found("Event not found") from None
            raise
        result: dict[str, Any] = {
            "event": (await self._reads.serialize([event], user_id))[0],
            "events_before": before["chunk"] if before else [],
            "events_after": after["chunk"] if after else [],
        }
        if before is None:
            result["start"] = stream_token(position - 1)
        else:
            result["start"] = before.get("end", stream_token(0))  # no end: history is exhausted
        if after is None:
            result["end"] = stream_token(position)
        else:
            result["end"] = after.get("end", stream_token(max(current, position)))
        last_id = result["events_after"][-1]["event_id"] if result["events_after"] else event_id
        groups = await self._state_groups.get_event_state_groups([last_id])
        state_ids = await self._state_groups.get_state(groups[last_id][1]) if last_id in groups else {}
        state_events = await self._events.get_events(list(state_ids.values()))
        state = [e for e in state_events.values() if event_filter.matches(e)]
        if event_filter.lazy_load_members:
            senders = {event.sender} | {e["sender"] for e in result["events_before"] + result["events_after"]}
            state = [e for e in state if e.type != "m.room.member" or e.state_key in senders]
        result["state"] = await self._reads.serialize(sorted(state, key=lambda e: (e.type, e.state_key or "")),
                                                      user_id)
        return result

    async def timestamp_to_event(self, user_id: str, room_id: str, ts: int, forwards: bool) -> dict[str, Any]:
        """The visible event nearest `ts` in the direction asked; 404 when there is none."""
        if await self._events.get_room_version(room_id) is None or await self.is_forgotten(user_id, room_id):
            raise not_found("No event found")
        after = None
        for _ in range(TIMESTAMP_MAX_PAGES):
            rows = await self._store.get_events_by_timestamp(room_id, ts, forwards, after, TIMESTAMP_PAGE)
            if not rows:
                break
            fetched = await self._events.get_events([r[0] for r in rows])
            visible = {e.event_id for e in await self._visibility.filter_events_for_user(
                user_id, [fetched[r[0]] for r in rows if r[0] in fetched])}
            for event_id, origin_server_ts, _ in rows:
                if event_id in visible:
                    return {"event_id": event_id, "origin_server_ts": origin_server_ts}
            if len(rows) < TIMESTAMP_PAGE:
                break
            after = (rows[-1][1], rows[-1][2])
        raise not_found("No event found in that direction")

    # -- reporting ------------------------------------------------------------------------------

    async def report_event(self, user_id: str, room_id: str, event_id: str, reason: str | None,
                           score: int | None) -> None:
        membership = await self._events.get_membership(room_id, user_id)
        if membership is None or membership[0] != "join":
            raise not_found("Event not found, or you are not joined to its room")
        await self._visible_event(user_id, room_id, event_id)
        await self._store.add_event_report(room_id, event_id, user_id, reason, score, self._clock.time_msec())

    async def report_room(self, user_id: str, room_id: str, reason: str) -> None:
        if await self._events.get_room_version(room_id) is None:
            raise not_found("Room not found")
        await self._store.add_room_report(room_id, user_id, reason, self._clock.time_msec())

    async def report_user(self, user_id: str, target_user_id: str, reason: str) -> None:
        """404 for an unknown local user (the spec allows telling); a remote user cannot be
        checked without federation, so the report is kept."""
        if UserID.parse(target_user_id).domain == self._server_name and (
                self._users is None or await self._users.get_user(target_user_id) is None):
            raise not_found("The user was not found.")
        await self._store.add_user_report(target_user_id, user_id, reason, self._clock.time_msec())

    # -- knocking -------------------------------------------------------------------------------

    async def knock(self, user_id: str, room_id: str, reason: str | None, servers: list[str] | None = None) -> str:
        """Knock here, or through the room's servers when the room is not ours to change
        (RoomMemberHandler.membership_is_local)."""
        local, joined_servers = await self._members.membership_is_local(room_id)
        if not local:
            return await self._members.knock_remote(user_id, room_id, servers or [], reason, joined_servers)
        room_version = await self._events.get_room_version(room_id)
        if room_version is None:
            raise not_found("No known room with that ID")
        state = await self._events.get_current_state_ids(room_id)
        join_rules_id = state.get(("m.room.join_rules", ""))
        join_rules = await self._events.get_event(join_rules_id) if join_rules_id else None
        rule = join_rules.content.get("join_rule") if join_rules else None
        if not ((rule == "knock" and room_version.knock_join_rule)
                or (rule == "knock_restricted" and room_version.knock_restricted_join_rule)):
            raise forbidden("This room does not accept knocks")
        # The auth rules decide the rest (banned, already joined or invited users cannot knock).
        await self._members.update_membership(user_id, room_id, user_id, "knock", reason)
        return room_id

    # -- upgrades -------------------------------------------------------------------------------

    async def upgrade_room(self, user_id: str, room_id: str, new_version: str,
                           additional_creators: list[str] | None) -> str:
        """The spec's "Room upgrades" server behaviour; returns the replacement room's ID."""
        version = KNOWN_ROOM_VERSIONS.get(new_version)
        if version is None or not version.creatable:
            raise MatrixError(400, "M_UNSUPPORTED_ROOM_VERSION", f"Room version {new_version!r} is not supported")
        creators: list[str] = []
        if version.privileged_creators:  # ignored for versions without additional creators
            for creator in additional_creators or []:
                UserID.parse(creator)
                if len(creator.encode()) > 255:
                    raise invalid_param("User ID too long")
            creators = [u for u in dict.fromkeys(additional_creators or []) if u != user_id]

        async with self._upgrade_lock.queue(room_id):  # one upgrade of a room at a time
            if await self._events.get_room_version(room_id) is None:
                raise forbidden("You are not in this room")
            state_ids = await self._events.get_current_state_ids(room_id)
            fetched = await self._events.get_events(list(state_ids.values()))
            state = {k: fetched[eid] for k, eid in state_ids.items() if eid in fetched}
            member = state.get(("m.room.member", user_id))
            if member is None or member.content.get("membership") != "join":
                raise forbidden("You are not in this room")
            # Step 1: the user must be allowed to send m.room.tombstone.
            user_level = get_user_power_level(user_id, state)
            if user_level < get_required_level("m.room.tombstone", True, state):
                raise forbidden("You cannot upgrade this room")

            # Step 2: the create event, with the predecessor and the old room's type.
            old_create = state[("m.room.create", "")]
            creation: dict[str, Any] = {"predecessor": {"room_id": room_id}}
            extremities = await self._events.get_forward_extremities(room_id)
            if extremities:
                creation["predecessor"]["event_id"] = max(extremities, key=lambda e: e[1])[0]
            for key in ("type", "m.federate"):
                if key in old_create.content:
                    creation[key] = copy.deepcopy(old_create.content[key])
            if creators:
                creation["additional_creators"] = creators

            # Step 3: the transferable state.
            initial_state = [{"type": t, "state_key": "", "content": copy.deepcopy(state[(t, "")].content)}
                             for t in UPGRADE_STATE if (t, "") in state]
            if ("m.room.guest_access", "") not in state:  # absent means forbidden; the preset would allow
                initial_state.append({"type": "m.room.guest_access", "state_key": "",
                                      "content": {"guest_access": "forbidden"}})
            old_pl = state.get(("m.room.power_levels", ""))
            power_levels, final_level = None, None
            if old_pl is not None:
                power_levels, final_level = self._new_power_levels(
                    old_pl, user_id, user_level, {user_id, *creators} if version.privileged_creators else None)
            invitees = sorted(
                target for (t, target), event in state.items()
                if t == "m.room.member" and event.content.get("membership") == "invite"
                and UserID.parse(target).domain == self._server_name)  # remote invites need federation
            new_room_id = await self._room_creation.create_room(user_id, {
                "room_version": new_version, "preset": "private_chat", "creation_content": creation,
                "initial_state": initial_state, "invite": invitees,
            }, power_levels=power_levels)
            if power_levels is not None and final_level is not None:
                # The upgrader had a higher level only to send the state: give back their old one.
                restored = copy.deepcopy(power_levels)
                restored["users"][user_id] = final_level
                await self._creator.send(user_id, new_room_id, "m.room.power_levels", restored, "")

            # Step 4: local aliases and the directory listing follow the room, and so does the
            # canonical alias (the old room's is cleared: its aliases no longer lead there).
            await self._directory.move_to_upgraded_room(room_id, new_room_id)
            canonical = state.get(("m.room.canonical_alias", ""))
            if canonical is not None and canonical.content:
                await self._creator.send(user_id, new_room_id, "m.room.canonical_alias", canonical.content, "")
                try:
                    await self._creator.send(user_id, room_id, "m.room.canonical_alias", {}, "")
                except MatrixError:
                    logger.info("Could not clear the canonical alias of upgraded room %s", room_id)
            # Step 5: the tombstone.
            await self._creator.send(user_id, room_id, "m.room.tombstone",
                                     {"body": TOMBSTONE_BODY, "replacement_room": new_room_id}, "")
            # Step 6: stop sending and inviting in the old room, if the user may change its levels.
            if old_pl is not None:
                await self._restrict_old_room(user_id, room_id, old_pl)
        return new_room_id

    def _new_power_levels(self, old_pl: Event, user_id: str, user_level: float,
                          new_creators: set[str] | None) -> tuple[dict[str, Any], int | None]:
        """The new room's power levels (values as integers, as rooms v10+ require) and, when the
        upgrader was raised to be able to send the copied state, the level to give back after."""
        rv = old_pl.room_version
        content: dict[str, Any] = {}
        for key, value in old_pl.content.items():
            if key in NAMED_LEVELS:
                level = parse_level(value, rv)
                if level is not None:
                    content[key] = level
            elif key in ("events", "notifications", "users") and isinstance(value, dict):
                content[key] = {k: lv for k, lv in ((k, parse_level(v, rv)) for k, v in value.items())
                                if lv is not None}
            elif key not in NAMED_LEVELS:
                content[key] = copy.deepcopy(value)
        users = content.setdefault("users", {})
        if new_creators is not None:  # v12+: creators have infinite power and must not be listed
            for creator in new_creators:
                users.pop(creator, None)
            return content, None
        needed = max([100, *(content.get(k, 0) for k in NAMED_LEVELS if k != "users_default"),
                      *content.get("events", {}).values()])
        if math.isinf(user_level):  # a creator of a v12+ room upgrading to an older version
            users[user_id] = needed
            return content, None
        users[user_id] = max(needed, int(user_level))
        return content, (int(user_level) if user_level < users[user_id] else None)

    async def _restrict_old_room(self, user_id: str, room_id: str, old_pl: Event) -> None:
        rv = old_pl.room_version
        content = copy.deepcopy(old_pl.content)
        users_default = parse_level(content.get("users_default"), rv) or 0
        floor = max(50, users_default + 1)
        changed = False
        for key in ("events_default", "invite"):
            if (parse_level(content.get(key), rv) or 0) < floor:
                content[key] = floor
                changed = True
        if not changed:
            return
        try:
            await self._creator.send(user_id, room_id, "m.room.power_levels", content, "")
        except MatrixError as e:
            logger.info("Could not restrict the power levels of upgraded room %s: %s", room_id, e.msg)
