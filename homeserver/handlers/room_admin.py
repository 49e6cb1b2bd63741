"""The admin API on rooms (docs/admin_api.md), with Synapse's shapes: the room list, details,
members, state, messages, blocking, deleting a room in the background (kick everyone, optionally
into a new room; block; purge), making a user room admin, and forward extremities."""

from __future__ import annotations

import json
import logging
import secrets
from typing import Any

from twisted.internet import defer

from homeserver.api.errors import Codes, MatrixError, not_found
from homeserver.api.identifiers import UserID
from homeserver.clock import Clock
from homeserver.events.auth import get_named_level, get_user_power_level
from homeserver.handlers.directory import DirectoryHandler
from homeserver.handlers.events import EventCreationHandler
from homeserver.handlers.redaction import RedactionHandler
from homeserver.handlers.room_reads import RoomReadHandler
from homeserver.handlers.rooms import RoomCreationHandler, RoomMemberHandler
from homeserver.handlers.user_admin import Page, paged
from homeserver.storage.directory import DirectoryStore
from homeserver.storage.events import EventsStore
from homeserver.storage.room_admin import RoomAdminStore
from homeserver.storage.state_groups import StateGroupsStore
from homeserver.storage.users import UsersStore

logger = logging.getLogger(__name__)

DEFAULT_ROOM_NAME = "Content Violation Notification"
DEFAULT_MESSAGE = "Sharing illegal content on this server is not permitted and rooms in violation will be blocked."
DELETION_STATUS_KEPT_MS = 24 * 3600 * 1000


def check_room_id(room_id: str) -> str:
    if not room_id.startswith("!") or len(room_id) < 2 or len(room_id.encode()) > 255:
        raise MatrixError(400, Codes.INVALID_PARAM, f"{room_id!r} is not a room ID")
    return room_id


class RoomAdminHandler:
    def __init__(self, server_name: str, clock: Clock, store: RoomAdminStore, events: EventsStore,
                 state_groups: StateGroupsStore, reads: RoomReadHandler, members: RoomMemberHandler,
                 creation: RoomCreationHandler, creator: EventCreationHandler, directory: DirectoryHandler,
                 directory_store: DirectoryStore, users: UsersStore, redactions: RedactionHandler):
        self._server_name = server_name
        self._clock = clock
        self._store = store
        self._events = events
        self._state_groups = state_groups
        self._reads = reads
        self._members = members
        self._creation = creation
        self._creator = creator
        self._directory = directory
        self._directory_store = directory_store
        self._users = users
        self._redactions = redactions
        self._running: dict[str, defer.Deferred] = {}
        # redact_id -> (status, failed event_id -> error, finished ms): in memory, as Synapse keeps them.
        self._user_redactions: dict[str, tuple[str, dict[str, str], int | None]] = {}

    async def start(self) -> None:
        now = self._clock.time_msec()
        failed = await self._store.fail_unfinished_deletions(now)
        if failed:
            logger.warning("%d room deletion(s) were cut short by a restart and are marked failed", failed)
        await self._store.delete_old_deletions(now - DELETION_STATUS_KEPT_MS)

    def _track(self, job_id: str, running: defer.Deferred) -> None:
        """Keep a background job until it ends (drain() waits for it). The jobs catch their own
        errors."""
        self._running[job_id] = running

        def done(result: object) -> object:
            self._running.pop(job_id, None)
            return result

        running.addBoth(done)

    async def drain(self) -> None:
        """Wait for the deletions under way (shutdown)."""
        for running in list(self._running.values()):
            await running

    async def _known_room(self, room_id: str) -> str:
        check_room_id(room_id)
        if not await self._store.room_exists(room_id):
            raise not_found("Room not found")
        return room_id

    # -- reading ----------------------------------------------------------------------------------

    async def list_rooms(self, search_term: str | None, page: Page, public: bool | None,
                         empty: bool | None) -> dict[str, Any]:
        rooms, total = await self._store.list_rooms(search_term, page.order_by, page.backwards, page.offset,
                                                    page.limit, public, empty)
        body: dict[str, Any] = {"rooms": rooms, "offset": page.offset, "total_rooms": total}
        if page.offset + len(rooms) < total and rooms:
            body["next_batch"] = page.offset + len(rooms)
        if page.offset > 0:
            body["prev_batch"] = max(0, page.offset - page.limit)
        return body

    async def room_details(self, room_id: str) -> dict[str, Any]:
        check_room_id(room_id)
        details = await self._store.room_details(room_id)
        if details is None:
            raise not_found("Room not found")
        return details

    async def members(self, room_id: str) -> dict[str, Any]:
        await self._known_room(room_id)
        joined = sorted(u for u, membership, _ in await self._events.get_members(room_id) if membership == "join")
        return {"members": joined, "total": len(joined)}

    async def state(self, room_id: str, event_type: str | None) -> dict[str, Any]:
        await self._known_room(room_id)
        state = await self._events.get_current_state_ids(room_id)
        ids = [eid for (t, _), eid in sorted(state.items()) if event_type is None or t == event_type]
        fetched = await self._events.get_events(ids)
        return {"state": await self._reads.serialize([fetched[i] for i in ids if i in fetched])}

    async def messages(self, requester: str, room_id: str, from_token: str | None, to_token: str | None,
                       backwards: bool, limit: int, event_filter: dict[str, Any]) -> dict[str, Any]:
        await self._known_room(room_id)
        return await self._reads.get_messages(requester, room_id, from_token, to_token, backwards, limit,
                                              event_filter, as_admin=True)

    # -- blocking ---------------------------------------------------------------------------------

    async def block_status(self, room_id: str) -> dict[str, Any]:
        check_room_id(room_id)
        by = await self._store.room_blocked_by(room_id)
        return {"block": True, "user_id": by} if by is not None else {"block": False}

    async def set_blocked(self, requester: str, room_id: str, block: bool) -> dict[str, Any]:
        """A room need not be known here to be blocked (Synapse's behaviour)."""
        check_room_id(room_id)
        if block:
            await self._store.block_room(room_id, requester, self._clock.time_msec())
        else:
            await self._store.unblock_room(room_id)
        return {"block": block}

    # -- deletion ---------------------------------------------------------------------------------

    async def schedule_deletion(self, requester: str, room_id: str, params: dict[str, Any]) -> str:
        """Start deleting the room in the background; returns the delete_id its status is under."""
        await self._known_room(room_id)
        new_room_user_id = params.get("new_room_user_id")
        if new_room_user_id is not None and UserID.parse(new_room_user_id).domain != self._server_name:
            raise MatrixError(400, Codes.INVALID_PARAM, "new_room_user_id must be a user of this server")
        delete_id = secrets.token_urlsafe(12)
        if not await self._store.add_deletion(delete_id, room_id, requester, params, self._clock.time_msec()):
            raise MatrixError(400, Codes.UNKNOWN, "A deletion of this room is already in progress")
        self._track(delete_id, defer.ensureDeferred(self._run_deletion(delete_id, room_id, requester, params)))
        return delete_id

    async def delete_now(self, requester: str, room_id: str, params: dict[str, Any]) -> dict[str, Any]:
        """The v1 (synchronous) delete: the same work, answered when done with its result. A room
        unknown here is only blocked (with `block`), as Synapse does."""
        check_room_id(room_id)
        if not await self._store.room_exists(room_id):
            if not params.get("block", False):
                raise MatrixError(400, Codes.INVALID_PARAM, "Unknown room: only block it, with block: true")
            await self._store.block_room(room_id, requester, self._clock.time_msec())
            return {"kicked_users": [], "failed_to_kick_users": [], "local_aliases": [], "new_room_id": None}
        delete_id = await self.schedule_deletion(requester, room_id, params)
        running = self._running.get(delete_id)
        if running is not None:
            await running
        deletion = await self._store.get_deletion(delete_id)
        assert deletion is not None
        if deletion.status == "failed":
            raise MatrixError(400, Codes.UNKNOWN, deletion.error or "The deletion failed")
        return deletion.to_json()["shutdown_room"]

    async def _run_deletion(self, delete_id: str, room_id: str, requester: str, params: dict[str, Any]) -> None:
        result: dict[str, Any] = {"kicked_users": [], "failed_to_kick_users": [], "local_aliases": [],
                                  "new_room_id": None}
        try:
            await self._store.update_deletion(delete_id, "active", result)
            if params.get("block", False):
                await self._store.block_room(room_id, requester, self._clock.time_msec())
            await self._shut_down(room_id, params, result)
            if params.get("purge", True):
                still = await self._local_members(room_id, ("join",))
                if still and not params.get("force_purge", False):
                    raise MatrixError(400, Codes.UNKNOWN, f"Users are still joined to this room: {', '.join(still)}")
                await self._purge(room_id)
            await self._store.update_deletion(delete_id, "complete", result, now_ms=self._clock.time_msec())
        except Exception as e:
            logger.exception("Deleting room %s failed", room_id)
            error = e.msg if isinstance(e, MatrixError) else "Internal error; see the server's log"
            await self._store.update_deletion(delete_id, "failed", result, error, self._clock.time_msec())

    async def _local_members(self, room_id: str, memberships: tuple[str, ...]) -> list[str]:
        return sorted(u for u, m, _ in await self._events.get_members(room_id)
                      if m in memberships and UserID.parse(u).domain == self._server_name)

    async def _shut_down(self, room_id: str, params: dict[str, Any], result: dict[str, Any]) -> None:
        """Every local user leaves (invites are declined); with new_room_user_id, the joined ones
        are moved into a new room whose first message says why; the room's aliases move there
        too (or are deleted), and it leaves the public directory."""
        new_room_id = None
        new_room_user_id = params.get("new_room_user_id")
        if new_room_user_id is not None:
            if await self._users.get_user(new_room_user_id) is None:
                await self._users.create_user(new_room_user_id, None, self._clock.time_msec(),
                                              displayname=UserID.parse(new_room_user_id).localpart)
            new_room_id = await self._creation.create_room(new_room_user_id, {
                "preset": "public_chat", "name": params.get("room_name") or DEFAULT_ROOM_NAME,
                "power_level_content_override": {"users_default": -10}}, ratelimit=False)
            await self._creator.send(new_room_user_id, new_room_id, "m.room.message",
                                     {"msgtype": "m.text", "body": params.get("message") or DEFAULT_MESSAGE})
            result["new_room_id"] = new_room_id
        joined = set(await self._local_members(room_id, ("join",)))
        for user_id in await self._local_members(room_id, ("join", "invite", "knock")):
            if user_id == new_room_user_id:
                continue
            try:
                await self._members.update_membership(user_id, room_id, user_id, "leave")
                if new_room_id is not None and user_id in joined:
                    await self._members.update_membership(user_id, new_room_id, user_id, "join")
                result["kicked_users"].append(user_id)
            except Exception:
                logger.exception("Could not remove %s from %s", user_id, room_id)
                result["failed_to_kick_users"].append(user_id)
        if new_room_id is not None:
            result["local_aliases"] = await self._directory_store.move_aliases(room_id, new_room_id)
        else:
            for alias in await self._directory_store.get_aliases_for_room(room_id):
                await self._directory_store.delete_alias(alias)
        await self._directory_store.set_visibility(room_id, "private")

    async def _purge(self, room_id: str) -> None:
        members = [u for u, _, _ in await self._events.get_members(room_id)]
        event_ids = await self._store.purge_room(room_id)
        self._events.forget_purged_room(room_id, event_ids, members)
        self._state_groups.forget_purged(event_ids)

    async def deletion_status(self, delete_id: str) -> dict[str, Any]:
        deletion = await self._store.get_deletion(delete_id)
        if deletion is None:
            raise not_found(f"delete id '{delete_id}' not found")
        return deletion.to_json()

    async def deletions_of_room(self, room_id: str) -> dict[str, Any]:
        check_room_id(room_id)
        deletions = await self._store.get_deletions_of_room(room_id)
        if not deletions:
            raise not_found(f"No delete task for room_id '{room_id}' found")
        return {"results": [d.to_json() for d in deletions]}

    # -- room admin -------------------------------------------------------------------------------

    async def make_room_admin(self, requester: str, room_id_or_alias: str, target: str | None) -> None:
        """Give `target` (default: the caller) the power level of the room's most powerful local
        member, sent as that member; a target not in the room is joined (public rooms) or invited."""
        room_id = await self._resolve(room_id_or_alias)
        target = target or requester
        if UserID.parse(target).domain != self._server_name or await self._users.get_user(target) is None:
            raise MatrixError(400, Codes.INVALID_PARAM, "The user must be an existing user of this server")
        state = await self._events.get_current_state_ids(room_id)
        keys = [k for k in state if k[0] in ("m.room.create", "m.room.power_levels", "m.room.join_rules")]
        fetched = await self._events.get_events([state[k] for k in keys])
        auth_events = {k: fetched[state[k]] for k in keys if state[k] in fetched}
        power_levels = auth_events.get(("m.room.power_levels", ""))
        needed = get_named_level(auth_events, "state_default", 50)
        if power_levels is not None:
            events = power_levels.content.get("events")
            if isinstance(events, dict) and isinstance(events.get("m.room.power_levels"), int):
                needed = events["m.room.power_levels"]
        candidates = [(get_user_power_level(u, auth_events), u) for u in await self._local_members(room_id, ("join",))]
        candidates = [(level, u) for level, u in candidates if level >= needed]
        if not candidates:
            raise MatrixError(400, Codes.INVALID_PARAM, "No local user of the room may change its power levels")
        level, admin = max(candidates, key=lambda c: (c[0], c[1]))
        if level == float("inf"):  # a creator of a v12+ room: the highest level a user can be given
            users = power_levels.content.get("users") if power_levels is not None else None
            level = max([100, *(v for v in (users or {}).values() if isinstance(v, int))])
        if admin != target and get_user_power_level(target, auth_events) < level:
            content = dict(power_levels.content) if power_levels is not None else {}
            content["users"] = {**(content.get("users") or {}), target: level}
            await self._creator.send(admin, room_id, "m.room.power_levels", content, "")
        membership = await self._events.get_membership(room_id, target)
        if membership is not None and membership[0] == "join":
            return
        join_rules = auth_events.get(("m.room.join_rules", ""))
        if join_rules is not None and join_rules.content.get("join_rule") == "public":
            await self._members.update_membership(target, room_id, target, "join")
        else:
            await self._members.update_membership(admin, room_id, target, "invite")

    # -- joining a user -----------------------------------------------------------------------------

    async def join_user(self, requester: str, room_id_or_alias: str, user_id: str) -> str:
        """Make a local user join a room (Synapse's /join/<room>): directly where they may (a
        public room, or they are invited), else invited first by the calling admin, who must then
        be in the room and allowed to invite."""
        if UserID.parse(user_id).domain != self._server_name:
            raise MatrixError(400, Codes.INVALID_PARAM, "This endpoint can only be used with local users")
        user = await self._users.get_user(user_id)
        if user is None or user.deactivated:
            raise not_found("User not found")
        room_id = await self._resolve(room_id_or_alias)
        membership = await self._events.get_membership(room_id, user_id)
        if membership is not None and membership[0] == "join":
            return room_id
        state = await self._events.get_current_state_ids(room_id)
        join_rules_id = state.get(("m.room.join_rules", ""))
        join_rules = await self._events.get_event(join_rules_id) if join_rules_id else None
        public = join_rules is not None and join_rules.content.get("join_rule") == "public"
        if not public and (membership is None or membership[0] != "invite"):
            mine = await self._events.get_membership(room_id, requester)
            if mine is None or mine[0] != "join":
                raise MatrixError(403, Codes.FORBIDDEN, "You must be in the room to add users to a non-public room")
            await self._members.update_membership(requester, room_id, user_id, "invite")
        await self._members.update_membership(user_id, room_id, user_id, "join")
        return room_id

    # -- redacting a user's events ----------------------------------------------------------------

    async def redact_user_events(self, requester: str, user_id: str, rooms: list[str], reason: str | None,
                                 limit: int, use_admin: bool, after_ts: int | None, before_ts: int | None) -> str:
        """Start redacting the user's messages (all their rooms when `rooms` is empty); returns the
        redact_id the status is under."""
        UserID.parse(user_id)
        for room_id in rooms:
            check_room_id(room_id)
        if UserID.parse(user_id).domain == self._server_name and await self._users.get_user(user_id) is None:
            raise not_found("User not found")
        redact_id = secrets.token_urlsafe(12)
        now = self._clock.time_msec()
        self._user_redactions = {k: v for k, v in self._user_redactions.items()
                                 if v[2] is None or now - v[2] < DELETION_STATUS_KEPT_MS}
        self._user_redactions[redact_id] = ("scheduled", {}, None)
        self._track(redact_id, defer.ensureDeferred(self._redact_user_events(
            redact_id, requester, user_id, rooms, reason, limit, use_admin, after_ts, before_ts)))
        return redact_id

    async def _redact_user_events(self, redact_id: str, requester: str, user_id: str, rooms: list[str],
                                  reason: str | None, limit: int, use_admin: bool, after_ts: int | None,
                                  before_ts: int | None) -> None:
        failed: dict[str, str] = {}
        self._user_redactions[redact_id] = ("active", failed, None)
        status = "complete"
        try:
            local = UserID.parse(user_id).domain == self._server_name
            for room_id in rooms or await self._store.rooms_of_user(user_id):
                event_ids = await self._store.redactable_events(room_id, user_id, limit, after_ts, before_ts)
                if not event_ids:
                    continue
                sender = requester
                if local and not use_admin:
                    membership = await self._events.get_membership(room_id, user_id)
                    if membership is not None and membership[0] == "join":
                        sender = user_id  # the user redacts their own events: always allowed
                for event_id in event_ids:
                    try:
                        await self._redactions.redact(sender, room_id, event_id, reason,
                                                      (sender, f"admin-redact-{redact_id}", event_id),
                                                      ratelimit=False)
                    except MatrixError as e:
                        failed[event_id] = e.msg
        except Exception:
            logger.exception("Redacting the events of %s failed", user_id)
            status = "failed"
        self._user_redactions[redact_id] = (status, failed, self._clock.time_msec())

    def user_redaction_status(self, redact_id: str) -> dict[str, Any]:
        found = self._user_redactions.get(redact_id)
        if found is None:
            raise not_found(f"redact id '{redact_id}' not found")
        return {"status": found[0], "failed_redactions": dict(found[1])}

    # -- event reports ----------------------------------------------------------------------------

    async def event_reports(self, page: Page, room_id: str | None, user_id: str | None,
                            sender: str | None) -> dict[str, Any]:
        reports, total = await self._store.list_event_reports(page.offset, page.limit, page.backwards, room_id,
                                                              user_id, sender)
        return paged("event_reports", reports, total, page)

    async def event_report(self, report_id: int) -> dict[str, Any]:
        found = await self._store.get_event_report(report_id)
        if found is None:
            raise not_found("Event report not found")
        report, event_json = found
        return {**report, "event_json": json.loads(event_json) if event_json else None}

    async def delete_event_report(self, report_id: int) -> None:
        if not await self._store.delete_event_report(report_id):
            raise not_found("Event report not found")

    # -- forward extremities ----------------------------------------------------------------------

    async def forward_extremities(self, room_id: str) -> dict[str, Any]:
        room_id = await self._resolve(room_id)
        results = await self._store.forward_extremities(room_id)
        return {"count": len(results), "results": results}

    async def delete_forward_extremities(self, room_id: str) -> dict[str, Any]:
        """Keep only the newest forward extremity: the next event then has one prev_event."""
        room_id = await self._resolve(room_id)
        extremities = await self._store.forward_extremities(room_id)
        if len(extremities) <= 1:
            return {"deleted": 0}
        deleted = await self._store.delete_forward_extremities(room_id, extremities[-1]["event_id"])
        self._events.forget_forward_extremities(room_id)
        return {"deleted": deleted}

    async def _resolve(self, room_id_or_alias: str) -> str:
        if room_id_or_alias.startswith("#"):
            room_id_or_alias = await self._directory.resolve_room_id_or_alias(room_id_or_alias)
        return await self._known_room(room_id_or_alias)

