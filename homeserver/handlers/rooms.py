"""Creating rooms and changing memberships (spec: createRoom; room membership)."""

from __future__ import annotations

import copy
from typing import Any

from homeserver.api.errors import Codes, MatrixError, forbidden, not_found
from homeserver.api.identifiers import UserID
from homeserver.config import Config
from homeserver.events.auth import domain_of
from homeserver.events.room_versions import KNOWN_ROOM_VERSIONS, RoomVersion
from homeserver.handlers.directory import DirectoryHandler
from homeserver.handlers.events import EventCreationHandler
from homeserver.handlers.persister import EventPersister
from homeserver.handlers.remote_joins import RemoteJoinHandler
from homeserver.handlers.restricted_joins import choose_authoriser
from homeserver.handlers.room_send import fake_event_id
from homeserver.ratelimit import MembershipLimiters, check_all
from homeserver.storage.events import EventsStore, PersistedEvent
from homeserver.storage.room_admin import RoomAdminStore
from homeserver.storage.users import UsersStore
from homeserver.util.secrets import new_token

PRESETS = {
    # preset: (join_rules, history_visibility, guest_access)
    "private_chat": ("invite", "shared", "can_join"),
    "trusted_private_chat": ("invite", "shared", "can_join"),
    "public_chat": ("public", "shared", "forbidden"),
}


def default_power_levels(room_version: RoomVersion, creator: str, preset: str, invitees: list[str]) -> dict:
    content: dict[str, Any] = {
        "users": {},
        "users_default": 0,
        "events": {
            "m.room.name": 50,
            "m.room.power_levels": 100,
            "m.room.history_visibility": 100,
            "m.room.canonical_alias": 50,
            "m.room.avatar": 50,
            # v12: tombstones must need more than state_default (the spec's createRoom, step 3).
            "m.room.tombstone": 150 if room_version.privileged_creators else 100,
            "m.room.server_acl": 100,
            "m.room.encryption": 100,
        },
        "events_default": 0,
        "state_default": 50,
        "ban": 50,
        "kick": 50,
        "redact": 50,
        "invite": 50 if preset == "public_chat" else 0,
        "notifications": {"room": 50},
    }
    if not room_version.privileged_creators:  # v12 creators have infinite power and are not listed
        content["users"][creator] = 100
        if preset == "trusted_private_chat":
            for user in invitees:
                content["users"][user] = 100
    return content


class RoomCreationHandler:
    def __init__(self, config: Config, events: EventsStore, creator: EventCreationHandler, profiles: UsersStore,
                 directory: DirectoryHandler, persister: EventPersister, remote_joins: RemoteJoinHandler,
                 limiters: MembershipLimiters | None = None):
        self._config = config
        self._limiters = limiters
        self._remote_joins = remote_joins
        self._events = events
        self._creator = creator
        self._persister = persister
        self._profiles = profiles
        self._directory = directory

    async def create_room(self, user_id: str, body: dict[str, Any], power_levels: dict[str, Any] | None = None,
                          ratelimit: bool = True) -> str:
        """`power_levels`: the whole first power levels content instead of the preset's (upgrades).
        `ratelimit`: count it against rc_room_creation, rc_joins.local (the creator joins) and, for
        the invitees, rc_invites.per_room keyed by the creator (as Synapse does); False for the
        server's own rooms (admin API, server notices)."""
        version_id = body.get("room_version", self._config.default_room_version)
        room_version = KNOWN_ROOM_VERSIONS.get(version_id)
        if room_version is None or not room_version.creatable:
            raise MatrixError(400, "M_UNSUPPORTED_ROOM_VERSION", f"Room version {version_id!r} is not supported")
        preset = body.get("preset") or ("public_chat" if body.get("visibility") == "public" else "private_chat")
        invitees = list(dict.fromkeys(body.get("invite", [])))
        for invitee in invitees:
            UserID.parse(invitee)
        if invitees and (await self._profiles.get_account_status(user_id)).shadow_banned:
            invitees = []  # a shadow-banned user's invites reach nobody (admin API)
        if body.get("invite_3pid"):
            raise MatrixError(400, Codes.UNRECOGNIZED, "Third-party invites are not supported yet")
        if ratelimit and self._limiters is not None:
            limits = self._limiters
            check_all((limits.room_creation, user_id, 1), (limits.join_local, user_id, 1),
                      *([(limits.invite_per_room, user_id, len(invitees))] if invitees else []))
        # The alias is checked and held before anything is persisted (M_ROOM_IN_USE if taken).
        alias = None
        if body.get("room_alias_name") is not None:
            alias = await self._directory.reserve_alias(body["room_alias_name"])
        try:
            room_id = await self._create_room(user_id, body, room_version, preset, invitees, alias, power_levels)
        finally:
            if alias is not None:
                self._directory.release_alias(alias)
        if body.get("visibility") == "public":
            await self._directory.publish_new_room(room_id)
        return room_id

    async def _create_room(self, user_id: str, body: dict[str, Any], room_version: RoomVersion, preset: str,
                           invitees: list[str], alias: str | None,
                           power_levels: dict[str, Any] | None = None) -> str:
        create_content = copy.deepcopy(body.get("creation_content") or {})
        create_content["room_version"] = room_version.identifier
        if not room_version.implicit_room_creator:
            create_content["creator"] = user_id
        if room_version.privileged_creators and preset == "trusted_private_chat" and invitees:
            extra = list(create_content.get("additional_creators", []))
            create_content["additional_creators"] = extra + [u for u in invitees if u not in extra]

        room_id = None if room_version.room_id_from_create_event else f"!{new_token('')[:18]}:{self._config.server_name}"
        # Nothing else can reach a room that does not exist yet, but its events must be persisted
        # in order: take its lock from the first event.
        lock_key = room_id or f"new-room-{id(body)}"
        async with self._persister.room_lock.queue(lock_key):
            create = await self._creator.create_room_event(room_version, user_id, create_content, room_id)
            room_id = create.event.room_id
            send = self._creator.send_locked
            join = {"membership": "join", **await self._profiles.get_profile(user_id)}
            await send(user_id, room_id, "m.room.member", join, user_id)
            if power_levels is None:
                power_levels = default_power_levels(room_version, user_id, preset, invitees)
            override = body.get("power_level_content_override")
            if override:
                power_levels.update(override)
            await send(user_id, room_id, "m.room.power_levels", power_levels, "")
            if alias is not None:  # step 4 of createRoom
                await self._directory.bind_reserved_alias(alias, room_id, user_id)
                await send(user_id, room_id, "m.room.canonical_alias", {"alias": alias}, "")
            join_rule, history, guest = PRESETS[preset]
            initial = {(e["type"], e.get("state_key", "")) for e in body.get("initial_state", [])}
            for event_type, content in (("m.room.join_rules", {"join_rule": join_rule}),
                                        ("m.room.history_visibility", {"history_visibility": history}),
                                        ("m.room.guest_access", {"guest_access": guest})):
                if (event_type, "") not in initial:  # initial_state takes precedence over the preset
                    await send(user_id, room_id, event_type, content, "")
            for event in body.get("initial_state", []):
                await send(user_id, room_id, event["type"], event.get("content", {}), event.get("state_key", ""))
            if "name" in body:
                await send(user_id, room_id, "m.room.name", {"name": body["name"]}, "")
            if "topic" in body:
                await send(user_id, room_id, "m.room.topic", {
                    "topic": body["topic"], "m.topic": {"m.text": [{"mimetype": "text/plain", "body": body["topic"]}]}}, "")
            for invitee in invitees:
                content = {"membership": "invite"}
                if body.get("is_direct"):
                    content["is_direct"] = True
                # Another server's user is invited through their server (it must countersign),
                # exactly as POST /invite does.
                countersign = self._remote_joins.countersign_invite \
                    if domain_of(invitee) != self._config.server_name else None
                await send(user_id, room_id, "m.room.member", content, invitee, countersign=countersign)
        return room_id


class RoomMemberHandler:
    def __init__(self, server_name: str, events: EventsStore, creator: EventCreationHandler, profiles: UsersStore,
                 directory: DirectoryHandler, remote_joins: RemoteJoinHandler,
                 limiters: MembershipLimiters | None = None, blocked_rooms: RoomAdminStore | None = None):
        self._server_name = server_name
        self._limiters = limiters
        # Rooms an admin blocked (admin API): no user of ours may join or be invited.
        self._blocked_rooms = blocked_rooms
        self._events = events
        self._creator = creator
        self._profiles = profiles
        self._directory = directory
        self._remote_joins = remote_joins

    async def join(self, user_id: str, room_id_or_alias: str, servers: list[str], reason: str | None,
                   guest: bool = False, ratelimit: bool = True) -> str:
        """Join a room by ID or alias; returns the room ID. A room in which no user of ours is
        joined while other servers' users are (or one we do not hold) is joined over federation,
        through `servers`, the alias's servers, the servers of its members and its ID's domain.
        `ratelimit`: a new join counts against rc_joins (local or remote) and must find the room
        within rc_joins_per_room (which every join event in the room counts against)."""
        room_id = room_id_or_alias
        if room_id_or_alias.startswith("#"):
            resolved = await self._directory.resolve_alias(room_id_or_alias)
            room_id, servers = resolved["room_id"], [*servers, *resolved["servers"]]
        elif not room_id_or_alias.startswith("!"):
            raise MatrixError(400, Codes.INVALID_PARAM, "Not a room ID or alias")
        await self._refuse_if_blocked(room_id)
        local, joined_servers = await self.membership_is_local(room_id)
        current = await self._events.get_membership(room_id, user_id)
        if ratelimit and self._limiters is not None and (current is None or current[0] != "join"):
            limits = self._limiters
            limits.join_per_room.check(room_id, update=False)
            (limits.join_local if local else limits.join_remote).check(user_id)
        if local:
            await self.update_membership(user_id, room_id, user_id, "join", reason, guest=guest)
            return room_id
        if current is not None and current[0] == "invite":
            invite = await self._events.get_event(current[1])
            if invite is not None:
                servers = [domain_of(invite.sender), *servers]
        if guest:
            raise MatrixError(403, Codes.GUEST_ACCESS_FORBIDDEN, "Guests may not join rooms on other servers")
        content: dict[str, Any] = dict(await self._profiles.get_profile(user_id))
        if reason is not None:
            content["reason"] = reason
        _, _, id_domain = room_id.partition(":")
        await self._remote_joins.join(user_id, room_id, [*servers, *sorted(joined_servers), id_domain], content)
        return room_id

    async def membership_is_local(self, room_id: str) -> tuple[bool, set[str]]:
        """Whether a membership change in the room is made here (a user of ours is joined, or we
        hold the room and no other server's user is joined) rather than through the room's
        servers; and the servers with joined members."""
        if await self._events.get_room_version(room_id) is None:
            return False, set()
        joined = set(await self._events.get_joined_servers(room_id))
        local = self._server_name in joined or (await self._holds_room(room_id) and not joined - {self._server_name})
        return local, joined

    async def knock_remote(self, user_id: str, room_id: str, servers: list[str], reason: str | None,
                           joined_servers: set[str]) -> str:
        content: dict[str, Any] = dict(await self._profiles.get_profile(user_id))
        if reason is not None:
            content["reason"] = reason
        _, _, id_domain = room_id.partition(":")
        await self._remote_joins.knock(user_id, room_id, [*servers, *sorted(joined_servers), id_domain], content)
        return room_id

    async def update_membership(self, sender: str, room_id: str, target: str, membership: str,
                                reason: str | None = None, txn_id: tuple[str, str, str] | None = None,
                                guest: bool = False, ratelimit: bool = False) -> str:
        """Send the membership event; returns its ID. Auth rules decide who may do what; a guest
        (`guest`: the sender is a guest account) joins only rooms whose m.room.guest_access is
        `can_join` (spec: guest access). `ratelimit`: an invite counts against rc_invites
        (per_issuer, per_room and per_user: the one invited); the client API asks for it."""
        if await self._events.get_room_version(room_id) is None:
            raise not_found("Unknown room")
        if membership in ("join", "invite") and domain_of(target) == self._server_name:
            await self._refuse_if_blocked(room_id)
        if ratelimit and membership == "invite" and self._limiters is not None:
            limits = self._limiters
            check_all((limits.invite_per_issuer, sender, 1), (limits.invite_per_room, room_id, 1),
                      (limits.invite_per_user, target, 1))
        if membership == "invite" and sender != target and \
                (await self._profiles.get_account_status(sender)).shadow_banned:
            return fake_event_id()  # a shadow-banned user's invites reach nobody (admin API)
        current = await self._events.get_membership(room_id, target)
        if membership == "leave" and sender == target and current is None:
            raise forbidden("You are not in this room")
        if membership == "leave" and sender == target and current[0] in ("invite", "knock") \
                and not await self._holds_room(room_id):
            # An invite (or knock) in a room of another server: rejected through that server.
            invite = await self._events.get_event(current[1])
            _, _, id_domain = room_id.partition(":")
            return await self._remote_joins.leave(target, room_id, [domain_of(invite.sender) if invite else "",
                                                                    id_domain], invite)
        content: dict[str, Any] = {"membership": membership}
        if reason is not None:
            content["reason"] = reason
        if membership in ("join", "knock"):
            content.update(await self._profiles.get_profile(target))
        if membership == "join" and sender == target:
            content.update(await self._authorisation(room_id, target))

        async def check_guest_access() -> None:  # under the room's lock: no guest_access change slips in
            if not await self.guests_may_join(room_id):
                raise MatrixError(403, Codes.GUEST_ACCESS_FORBIDDEN, "Guest access is not allowed in this room")

        countersign = self._remote_joins.countersign_invite \
            if membership == "invite" and domain_of(target) != self._server_name else None
        event = await self._creator.send(sender, room_id, "m.room.member", content, target, txn_id,
                                         check=check_guest_access if guest and membership == "join" else None,
                                         countersign=countersign)
        return event.event_id

    async def _refuse_if_blocked(self, room_id: str) -> None:
        if self._blocked_rooms is not None and await self._blocked_rooms.room_blocked_by(room_id) is not None:
            raise forbidden("This room has been blocked on this server")

    def on_event_persisted(self, persisted: PersistedEvent) -> None:
        """An EventPersister listener: every join to a room (ours or another server's user's)
        counts against rc_joins_per_room for that room."""
        event = persisted.event
        if self._limiters is not None and event.type == "m.room.member" \
                and event.content.get("membership") == "join":
            self._limiters.join_per_room.record(event.room_id)

    async def _holds_room(self, room_id: str) -> bool:
        """Whether we hold the room's state (not only an invite of one of our users to it)."""
        return ("m.room.create", "") in await self._events.get_current_state_ids(room_id)

    async def _authorisation(self, room_id: str, user_id: str) -> dict[str, str]:
        """For a restricted room the user may join through one of its allowed rooms: the member
        who vouches for them (spec: restricted rooms)."""
        room_version = await self._events.get_room_version(room_id)
        state = await self._events.get_current_state_ids(room_id)
        try:
            authoriser = await choose_authoriser(self._events, self._server_name, room_version, state, user_id)
        except MatrixError as e:
            if e.errcode == Codes.UNABLE_TO_AUTHORISE_JOIN:
                raise forbidden("You are not in any of the rooms this room admits members of") from None
            raise
        return {} if authoriser is None else {"join_authorised_via_users_server": authoriser}

    async def guests_may_join(self, room_id: str) -> bool:
        event_id = (await self._events.get_current_state_ids(room_id)).get(("m.room.guest_access", ""))
        event = await self._events.get_event(event_id) if event_id else None
        return event is not None and event.content.get("guest_access") == "can_join"
