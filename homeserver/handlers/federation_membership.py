"""Users of other servers joining and leaving our rooms (spec: server-server "Joining Rooms",
"Leaving Rooms"; data/api/server-server/joins-v*.yaml, leaving-v*.yaml).

make_join/make_leave hand out the room's next member event as a template (built like one of our
own, unsigned); the other server signs it and gives it back through send_join/send_leave, where
it passes the checks every received event passes and enters the room through the one persister.
A restricted room's join is vouched for by one of our members (join_authorised_via_users_server)
and signed by us before it is checked."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from signedjson.key import SigningKey

from homeserver.api.errors import Codes, MatrixError, forbidden, not_found
from homeserver.events.auth import domain_of, is_valid_user_id
from homeserver.events.hashing import event_from_pdu
from homeserver.events.model import Event
from homeserver.events.room_versions import KNOWN_ROOM_VERSIONS, EventFormat, RoomVersion
from homeserver.events.signing import sign_event
from homeserver.handlers.event_checker import EventChecker, EventCheckError
from homeserver.handlers.events import EventCreationHandler
from homeserver.handlers.persister import EventContext, EventPersister
from homeserver.handlers.remote_state import stripped_state_of
from homeserver.handlers.restricted_joins import choose_authoriser
from homeserver.ratelimit import RateLimiter
from homeserver.storage.events import EventsStore
from homeserver.storage.state_groups import StateMap
from homeserver.storage.users import UsersStore

# Members whose events stay in a send_join answer with omit_members when the room has no name
# (the heroes a client shows: spec, /sync room summary).
MAX_HEROES = 5


MAX_STRIPPED_EVENTS = 50


def stripped_events(given: Any) -> list[dict[str, Any]]:
    """The well-formed stripped state events among those another server gave (50 at most)."""
    out: list[dict[str, Any]] = []
    for e in given if isinstance(given, list) else []:
        if isinstance(e, dict) and isinstance(e.get("type"), str) and isinstance(e.get("state_key"), str) \
                and isinstance(e.get("content"), dict) and isinstance(e.get("sender"), str):
            out.append({k: e[k] for k in ("type", "state_key", "content", "sender")})
        if len(out) >= MAX_STRIPPED_EVENTS:
            break
    return out


def invalid(why: str) -> MatrixError:
    return MatrixError(400, Codes.INVALID_PARAM, why)


@dataclass
class AcceptedMembership:
    """A member event accepted through send_join/send_leave, and the room's state before it."""

    event: Event
    state_before: StateMap
    signed_by_us: bool


class FederationMembershipHandler:
    def __init__(self, server_name: str, signing_key: SigningKey, events: EventsStore,
                 builder: EventCreationHandler, checker: EventChecker, persister: EventPersister, users: UsersStore,
                 invite_per_user_limiter: RateLimiter | None = None):
        self._server_name = server_name
        # rc_invites.per_user: invites another server sends one of our users (the room and the
        # inviter are that server's to limit, as Synapse presumes).
        self._invite_per_user_limiter = invite_per_user_limiter
        self._users = users
        self._signing_key = signing_key
        self._events = events
        self._builder = builder
        self._checker = checker
        self._persister = persister

    async def _room_version(self, room_id: str) -> RoomVersion:
        room_version = await self._events.get_room_version(room_id)
        if room_version is None:
            raise not_found("Unknown room")
        return room_version

    @staticmethod
    def _check_user(origin: str, user_id: str) -> None:
        if not is_valid_user_id(user_id) or domain_of(user_id) != origin:
            raise forbidden("The user is not on the requesting server")

    async def make(self, origin: str, room_id: str, user_id: str, membership: str,
                   versions: list[str] | None = None) -> dict[str, Any]:
        """The template of `user_id`'s next member event (`membership`: join or leave).
        `versions`: the room versions the asking server supports (make_join; default ["1"])."""
        self._check_user(origin, user_id)
        room_version = await self._room_version(room_id)
        if versions is not None and room_version.identifier not in versions:
            raise MatrixError(400, Codes.INCOMPATIBLE_ROOM_VERSION,
                              f"The room is version {room_version.identifier}, which the server does not support",
                              room_version=room_version.identifier)
        if membership == "knock" and not room_version.knock_join_rule:
            raise MatrixError(400, Codes.INCOMPATIBLE_ROOM_VERSION,
                              f"Room version {room_version.identifier} does not allow knocking",
                              room_version=room_version.identifier)
        content: dict[str, Any] = {"membership": membership}
        if membership == "join":
            state = await self._events.get_current_state_ids(room_id)
            authoriser = await choose_authoriser(self._events, self._server_name, room_version, state, user_id)
            if authoriser is not None:
                content["join_authorised_via_users_server"] = authoriser
        room_version, pdu, _, state_before = await self._builder.build(
            user_id, room_id, "m.room.member", content, user_id)
        # Would the event pass? (Checked on a copy we sign, as we will sign a restricted join.)
        probe = dict(pdu)
        if room_version.event_format is EventFormat.V1:
            probe["event_id"] = f"$template:{origin}"
        reason = await self._checker.auth_against_state(
            event_from_pdu(sign_event(probe, self._server_name, self._signing_key, room_version), room_version),
            state_before)
        if reason is not None:
            raise forbidden(f"You may not {membership} this room: {reason}")
        return {"room_version": room_version.identifier, "event": pdu}

    async def send(self, origin: str, room_id: str, event_id: str, pdu: Any, membership: str) -> AcceptedMembership:
        """Accept the signed member event another server built from our template."""
        room_version = await self._room_version(room_id)
        if not isinstance(pdu, dict):
            raise MatrixError(400, Codes.BAD_JSON, "The event must be an object")
        content = pdu.get("content")
        if pdu.get("type") != "m.room.member" or not isinstance(content, dict) \
                or content.get("membership") != membership:
            raise invalid(f"Not an m.room.member event with membership {membership}")
        sender = pdu.get("sender")
        if not isinstance(sender, str) or pdu.get("state_key") != sender:
            raise invalid("The state_key must be the sender")
        self._check_user(origin, sender)
        if pdu.get("room_id") != room_id:
            raise invalid("The event is for another room")
        signed_by_us = False
        authoriser = content.get("join_authorised_via_users_server") if membership == "join" else None
        if isinstance(authoriser, str) and room_version.restricted_join_rule:
            if not is_valid_user_id(authoriser) or domain_of(authoriser) != self._server_name:
                raise invalid("join_authorised_via_users_server is not a user of this server")
            pdu = sign_event(pdu, self._server_name, self._signing_key, room_version)
            signed_by_us = True
        try:
            event = await self._checker.check_received(pdu, room_version)
        except EventCheckError as e:
            raise invalid(f"The event fails its checks: {e}") from None
        if event.event_id != event_id:
            raise invalid("The event ID does not match the event")
        if event.internal.get("content_hash_mismatch"):
            raise invalid("The event's content does not match its hash")
        async with self._persister.room_lock.queue(room_id):
            known = await self._events.get_events(event.prev_event_ids)
            if not event.prev_event_ids or any(p not in known for p in event.prev_event_ids):
                raise invalid("The event's prev_events are not known here")
            group_before, state_before = await self._builder.state_before(room_version, event.prev_event_ids)
            if await self._events.get_event(event_id) is not None:  # a retry: the same answer again
                return AcceptedMembership(event, state_before, signed_by_us)
            current = await self._events.get_current_state_ids(room_id)
            outcome = await self._checker.check_auth(event, state_before, current)
            if outcome.rejected is not None or outcome.soft_failed:
                raise forbidden(f"The {membership} is not allowed: {outcome.rejected or 'by the current state'}")
            await self._persister.persist(event, EventContext(group_before, state_before))
        return AcceptedMembership(event, state_before, signed_by_us)

    async def invite(self, origin: str, room_id: str, event_id: str, room_version_id: str, pdu: Any,
                     stripped_state: Any) -> dict[str, Any]:
        """A user of `origin` invites one of our users (spec: "Inviting to a room"): we check the
        event and countersign it. For a room we do not hold, the invite is kept (with the stripped
        state given) so the user sees it; in a room we hold, it arrives again in a transaction."""
        room_version = KNOWN_ROOM_VERSIONS.get(room_version_id)
        if room_version is None:
            raise MatrixError(400, Codes.INCOMPATIBLE_ROOM_VERSION,
                              f"Room version {room_version_id} is not supported here", room_version=room_version_id)
        if not isinstance(pdu, dict):
            raise MatrixError(400, Codes.BAD_JSON, "The event must be an object")
        content = pdu.get("content")
        if pdu.get("type") != "m.room.member" or not isinstance(content, dict) \
                or content.get("membership") != "invite":
            raise invalid("Not an m.room.member event with membership invite")
        if pdu.get("room_id", room_id) != room_id:
            raise invalid("The event is for another room")
        sender, target = pdu.get("sender"), pdu.get("state_key")
        if not isinstance(sender, str) or not is_valid_user_id(sender) or domain_of(sender) != origin:
            raise forbidden("The inviter is not on the requesting server")
        if not isinstance(target, str) or not is_valid_user_id(target) or domain_of(target) != self._server_name:
            raise forbidden("The invited user is not on this server")
        if self._invite_per_user_limiter is not None:
            self._invite_per_user_limiter.check(target)
        if not await self._users.user_exists(target):
            raise not_found("Unknown user")
        try:
            event = await self._checker.check_received(pdu, room_version)
        except EventCheckError as e:
            raise invalid(f"The event fails its checks: {e}") from None
        if event.event_id != event_id:
            raise invalid("The event ID does not match the event")
        if event.internal.get("content_hash_mismatch"):
            raise invalid("The event's content does not match its hash")
        signed = sign_event(pdu, self._server_name, self._signing_key, room_version)
        holds_room = await self._events.get_room_version(room_id) is not None
        if not (holds_room and self._server_name in await self._events.get_joined_servers(room_id)) \
                and not await self._events.get_seen_event_ids([event.event_id]):
            await self._persister.persist_out_of_band_membership(
                event_from_pdu(signed, room_version), stripped_events(stripped_state))
        return {"event": signed}

    async def knock_response(self, accepted: AcceptedMembership) -> dict[str, Any]:
        """The send_knock answer: the room's stripped state, for the knocking user to see."""
        return {"knock_room_state": await stripped_state_of(self._events, accepted.state_before)}

    async def join_response(self, accepted: AcceptedMembership, omit_members: bool) -> dict[str, Any]:
        """The send_join answer: the state before the join and the auth chain of it and of the
        join; with `omit_members`, member events only of a nameless room's heroes, and the
        servers in the room."""
        state = accepted.state_before
        members_omitted = False
        if omit_members:
            keep = {k: v for k, v in state.items() if k[0] != "m.room.member"}
            if ("m.room.name", "") not in state and ("m.room.canonical_alias", "") not in state:
                heroes = sorted(k for k in state if k[0] == "m.room.member" and k[1] != accepted.event.sender)
                keep.update({k: state[k] for k in heroes[:MAX_HEROES]})
            members_omitted = len(keep) < len(state)
        else:
            keep = dict(state)
        state_ids = sorted(keep.values())
        chain_from = list(state_ids) + accepted.event.auth_event_ids
        chain_ids = await self._events.get_auth_chain_ids(chain_from)
        chain_ids |= set(accepted.event.auth_event_ids)
        if accepted.event.room_version.room_id_from_create_event:
            chain_ids.add("$" + accepted.event.room_id[1:])  # v12: every event's auth rests on it, unlisted
        if omit_members:
            chain_ids -= set(state_ids)
        fetched = await self._events.get_events(sorted(set(state_ids) | chain_ids))
        answer: dict[str, Any] = {
            "state": [fetched[e].pdu for e in state_ids if e in fetched],
            "auth_chain": [fetched[e].pdu for e in sorted(chain_ids) if e in fetched],
            "members_omitted": members_omitted,
        }
        if accepted.signed_by_us:
            answer["event"] = accepted.event.pdu
        if omit_members:
            members = await self._events.get_events([v for k, v in state.items() if k[0] == "m.room.member"])
            answer["servers_in_room"] = sorted({domain_of(e.state_key) for e in members.values()
                                                if e.content.get("membership") == "join" and e.state_key})
        return answer
