"""Event authorisation rules, rooms v1-v12 (spec: content/rooms/, "Authorisation rules").

Pure functions over an event and the state it is checked against: `check_auth` raises `AuthError`
when the event is not allowed. `auth_events` is a map (type, state_key) -> Event: either the event's
own auth events or the room state before it / the current state; the spec runs the same rules
against each of these (server-server API, "Checks performed on receipt of a PDU", steps 4-6).

In room v12 the create event is never *selected* as an auth event (rule 3.2), but the rules still
need it: the caller must put the create event named by the room ID into `auth_events`.

Rule numbers in comments are those of room v12 unless they say otherwise; the older versions have
the same rules, numbered one lower from "m.room.member" on (v1-5 also have the aliases rule 4).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Any

from signedjson.key import decode_verify_key_bytes
from signedjson.sign import SignatureVerifyException, verify_signed_json
from unpaddedbase64 import decode_base64

from homeserver.api.identifiers import is_valid_server_name
from homeserver.events.model import Event
from homeserver.events.room_versions import KNOWN_ROOM_VERSIONS, EventFormat, RoomVersion

StateKey = tuple[str, str]
AuthEvents = dict[StateKey, Event]

CREATE: StateKey = ("m.room.create", "")
POWER_LEVELS: StateKey = ("m.room.power_levels", "")
JOIN_RULES: StateKey = ("m.room.join_rules", "")
MEMBER = "m.room.member"
THIRD_PARTY_INVITE = "m.room.third_party_invite"

# Power levels named in the content, with the defaults of the m.room.power_levels schema.
NAMED_LEVEL_DEFAULTS: dict[str, int] = {
    "users_default": 0, "events_default": 0, "state_default": 50,
    "ban": 50, "kick": 50, "redact": 50, "invite": 0,
}
CREATOR_LEVEL_WITHOUT_POWER_LEVELS = 100  # rooms v1-11: the creator's level with no power levels event

Level = int | float  # float only for math.inf (v12 creators)


class AuthError(Exception):
    """The event is not allowed by the authorisation rules; `reason` says which rule refused it."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


# -- version properties not in RoomVersion (derived from its flags) ---------------------------------

def _has_redaction_rule(rv: RoomVersion) -> bool:
    """Rooms v1-2 have auth rule 11 for m.room.redaction (the v3 rules dropped it)."""
    return rv.event_format is EventFormat.V1


def _accepts_float_levels(rv: RoomVersion) -> bool:
    """Rooms v1-5 accept power levels as floats (fragments/v1-floaty-power-levels.md)."""
    return not rv.strict_canonical_json


def _accepts_string_levels(rv: RoomVersion) -> bool:
    """Rooms v1-9 accept power levels as strings (fragments/v1-stringy-power-levels.md)."""
    return not rv.enforce_int_power_levels


# -- identifiers ------------------------------------------------------------------------------------

def is_valid_user_id(user_id: Any) -> bool:
    """A user ID as servers must accept it over federation: historical localparts (any code
    points but ':' and NUL, even empty) are allowed (appendices, "Historical User IDs")."""
    if not isinstance(user_id, str) or not user_id.startswith("@") or ":" not in user_id:
        return False
    if len(user_id.encode("utf-8")) > 255:
        return False
    localpart, _, server_name = user_id[1:].partition(":")
    return "\x00" not in localpart and is_valid_server_name(server_name)


def domain_of(identifier: str) -> str:
    """The server name of a user ID, or of a room/event ID that has a domain: what follows the
    first ':' (localparts cannot contain ':')."""
    return identifier.partition(":")[2]


# -- power level values -----------------------------------------------------------------------------

_STRINGY_INT = re.compile(r"\s*[+-]?[0-9]+\s*")


def parse_level(value: Any, rv: RoomVersion) -> int | None:
    """A power level value as an integer, or None if it is not a valid one in this room version."""
    if isinstance(value, bool):  # JSON true/false are not numbers
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and _accepts_float_levels(rv):
        return int(value) if math.isfinite(value) else None  # truncated at the decimal point
    if isinstance(value, str) and _accepts_string_levels(rv) and _STRINGY_INT.fullmatch(value):
        return int(value.strip())
    return None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# -- helpers over auth events (also used by state resolution) ---------------------------------------

def get_create_event(auth_events: AuthEvents) -> Event | None:
    return auth_events.get(CREATE)


def get_creators(create: Event) -> set[str]:
    """The room creators: `creator` in the content before v11, the create event's sender from
    v11, plus `additional_creators` from v12."""
    rv = create.room_version
    if not rv.implicit_room_creator:
        creator = create.content.get("creator")
        return {creator} if isinstance(creator, str) else set()
    creators = {create.sender}
    if rv.privileged_creators:
        extra = create.content.get("additional_creators")
        if isinstance(extra, list):
            creators.update(u for u in extra if isinstance(u, str))
    return creators


def is_creator(user_id: str, auth_events: AuthEvents) -> bool:
    create = get_create_event(auth_events)
    return create is not None and user_id in get_creators(create)


def get_named_level(auth_events: AuthEvents, name: str, default: int) -> int:
    """A top-level level of the power levels content (`ban`, `invite`, `state_default`...)."""
    power_levels = auth_events.get(POWER_LEVELS)
    if power_levels is None:
        return default
    level = parse_level(power_levels.content.get(name), power_levels.room_version)
    return default if level is None else level


def get_user_power_level(user_id: str, auth_events: AuthEvents) -> Level:
    """The user's power level; math.inf for the creators of a v12+ room."""
    create = get_create_event(auth_events)
    if create is not None and create.room_version.privileged_creators and user_id in get_creators(create):
        return math.inf
    power_levels = auth_events.get(POWER_LEVELS)
    if power_levels is not None:
        users = power_levels.content.get("users")
        if isinstance(users, dict) and user_id in users:
            level = parse_level(users[user_id], power_levels.room_version)
            if level is not None:
                return level
        return get_named_level(auth_events, "users_default", 0)
    # No power levels event: the creator has 100, everyone else 0 (m.room.power_levels schema).
    if create is not None and user_id in get_creators(create):
        return CREATOR_LEVEL_WITHOUT_POWER_LEVELS
    return 0


def get_required_level(event_type: str, is_state: bool, auth_events: AuthEvents) -> int:
    """The event type's *required power level*: `events[type]`, else state/events default."""
    power_levels = auth_events.get(POWER_LEVELS)
    if power_levels is not None:
        events = power_levels.content.get("events")
        if isinstance(events, dict) and event_type in events:
            level = parse_level(events[event_type], power_levels.room_version)
            if level is not None:
                return level
    if is_state:
        return get_named_level(auth_events, "state_default", NAMED_LEVEL_DEFAULTS["state_default"])
    return get_named_level(auth_events, "events_default", NAMED_LEVEL_DEFAULTS["events_default"])


def get_membership(user_id: str, auth_events: AuthEvents) -> str:
    """The user's current membership; "leave" when they have no member event."""
    member = auth_events.get((MEMBER, user_id))
    if member is None:
        return "leave"
    membership = member.content.get("membership")
    return membership if isinstance(membership, str) else "leave"


def get_join_rule(auth_events: AuthEvents) -> str:
    """The current join rule. With no m.room.join_rules event we take "invite" (the spec names no
    default; a room nobody opened is invite-only)."""
    join_rules = auth_events.get(JOIN_RULES)
    rule = join_rules.content.get("join_rule") if join_rules is not None else "invite"
    return rule if isinstance(rule, str) else "invite"


# -- auth events selection (server-server API, "Auth events selection") ----------------------------

def auth_types_for_event(event_type: str, sender: str, state_key: str | None, content: dict[str, Any],
                         room_version: RoomVersion) -> set[StateKey]:
    """The (type, state_key) pairs of the state events to select as the event's auth events."""
    if event_type == "m.room.create":
        return set()  # the create event has no auth events
    wanted: set[StateKey] = {POWER_LEVELS, (MEMBER, sender)}
    if not room_version.room_id_from_create_event:
        wanted.add(CREATE)  # v12 rule 3.2: the create event MUST NOT be selected; v1-11 must select it
    if event_type == MEMBER and isinstance(state_key, str):
        wanted.add((MEMBER, state_key))
        membership = content.get("membership")
        if membership in ("join", "invite", "knock"):
            wanted.add(JOIN_RULES)
        third_party_invite = content.get("third_party_invite")
        if membership == "invite" and isinstance(third_party_invite, dict):
            signed = third_party_invite.get("signed")
            token = signed.get("token") if isinstance(signed, dict) else None
            if isinstance(token, str):
                wanted.add((THIRD_PARTY_INVITE, token))
        authoriser = content.get("join_authorised_via_users_server")
        if membership == "join" and room_version.restricted_join_rule and isinstance(authoriser, str):
            wanted.add((MEMBER, authoriser))
    return wanted


def check_auth_event_list(event: Event, auth_events: Iterable[Event]) -> AuthEvents:
    """Rule 3 (v1-11: rule 2) on the event's own `auth_events` list; returns them as a map.

    Rejected entries (rule 3.3) are the caller's to refuse: we only see `internal["rejected"]`."""
    rv = event.room_version
    selected: AuthEvents = {}
    wanted = auth_types_for_event(event.type, event.sender, event.state_key, event.content, rv)
    for auth_event in auth_events:
        if not auth_event.is_state():
            raise AuthError(f"auth event {auth_event.event_id} is not a state event")
        key = auth_event.state_tuple
        if key in selected:
            raise AuthError(f"duplicate auth events for {key}")  # rule 3.1
        if key not in wanted:
            raise AuthError(f"auth event {key} is not one the selection algorithm picks")  # rule 3.2
        if auth_event.internal.get("rejected"):
            raise AuthError(f"auth event {auth_event.event_id} was rejected")  # rule 3.3
        if auth_event.room_id != event.room_id:
            raise AuthError(f"auth event {auth_event.event_id} is in another room")  # rule 3.5
        selected[key] = auth_event
    if not rv.room_id_from_create_event and CREATE not in selected:
        raise AuthError("no m.room.create event among the auth events")  # v1-11 rule 2.4
    return selected


# -- the rules -------------------------------------------------------------------------------------

def check_auth(event: Event, auth_events: AuthEvents) -> None:
    """Raise AuthError unless `event` is allowed against `auth_events` (rules of its room version)."""
    rv = event.room_version
    if event.type == "m.room.create":
        _check_create(event)  # rule 1
        return

    create = auth_events.get(CREATE)
    if create is None:
        raise AuthError("no m.room.create event in the room state")  # v1-11 rule 2.4
    if rv.room_id_from_create_event:
        # v12 rule 2: the room ID is the create event's ID with '!' for '$'.
        if create.internal.get("rejected") or event.room_id != "!" + create.event_id[1:]:
            raise AuthError("room ID is not that of an accepted m.room.create event")
    # Rule 3.5, over the events the rules read (auth_events may be a whole room state).
    for key in auth_types_for_event(event.type, event.sender, event.state_key, event.content, rv) | {CREATE}:
        auth_event = auth_events.get(key)
        if auth_event is not None and auth_event.room_id != event.room_id:
            raise AuthError(f"auth event {key} is in another room")

    # Rule 4 (v1-11: 3): a non-federating room accepts only the creating server's users.
    if create.content.get("m.federate", True) is False and domain_of(event.sender) != domain_of(create.sender):
        raise AuthError("room does not federate and the sender is on another server")

    if rv.special_case_aliases_auth and event.type == "m.room.aliases":
        _check_aliases(event)  # v1-5 rule 4
        return
    if event.type == MEMBER:
        _check_member(event, auth_events, create)  # rule 5
        return

    if get_membership(event.sender, auth_events) != "join":
        raise AuthError("sender is not joined to the room")  # rule 6
    sender_level = get_user_power_level(event.sender, auth_events)

    if event.type == THIRD_PARTY_INVITE:  # rule 7
        if sender_level < get_named_level(auth_events, "invite", NAMED_LEVEL_DEFAULTS["invite"]):
            raise AuthError("sender may not invite")
        return

    required = get_required_level(event.type, event.is_state(), auth_events)
    if required > sender_level:
        raise AuthError(f"sender's power level is below the {required} that {event.type} needs")  # rule 8

    state_key = event.state_key
    if state_key is not None and state_key.startswith("@") and state_key != event.sender:
        raise AuthError("state key starting with @ is not the sender")  # rule 9

    if event.type == "m.room.power_levels":
        _check_power_levels(event, auth_events, sender_level)  # rule 10
    elif event.type == "m.room.redaction" and _has_redaction_rule(rv):
        _check_redaction(event, auth_events, sender_level)  # v1-2 rule 11


def _check_create(event: Event) -> None:
    rv = event.room_version
    if event.pdu.get("prev_events"):
        raise AuthError("m.room.create has prev_events")  # 1.1
    if rv.room_id_from_create_event:
        if "room_id" in event.pdu:
            raise AuthError("m.room.create has a room_id")  # v12 1.2
    elif not isinstance(event.room_id, str) or domain_of(event.room_id) != domain_of(event.sender):
        raise AuthError("room ID and sender of m.room.create are on different servers")  # v1-11 1.2
    room_version = event.content.get("room_version", "1")
    if not isinstance(room_version, str) or room_version not in KNOWN_ROOM_VERSIONS:
        raise AuthError(f"unknown room version {room_version!r}")  # 1.3
    if not rv.implicit_room_creator and "creator" not in event.content:
        raise AuthError("m.room.create has no creator")  # v1-10 1.4
    if rv.privileged_creators and "additional_creators" in event.content:
        extra = event.content["additional_creators"]
        if not isinstance(extra, list) or not all(is_valid_user_id(u) for u in extra):
            raise AuthError("additional_creators is not a list of user IDs")  # v12 1.4


def _check_aliases(event: Event) -> None:
    # v1-5 rule 4: a server may only set its own aliases; no membership or power needed.
    if event.state_key is None:
        raise AuthError("m.room.aliases has no state_key")
    if domain_of(event.sender) != event.state_key:
        raise AuthError("m.room.aliases state_key is not the sender's server")


# -- rule 5: m.room.member --------------------------------------------------------------------------

def _check_member(event: Event, auth_events: AuthEvents, create: Event) -> None:
    rv = event.room_version
    target = event.state_key
    membership = event.content.get("membership")
    if target is None or membership is None:
        raise AuthError("m.room.member without state_key or membership")  # 5.1

    if rv.restricted_join_rule and "join_authorised_via_users_server" in event.content:  # 5.2 (v8+)
        authoriser = event.content["join_authorised_via_users_server"]
        if not is_valid_user_id(authoriser) or not verify_authorising_server_signature(
                event, domain_of(authoriser)):
            raise AuthError("join_authorised_via_users_server's server has not signed the event")

    if membership == "join":
        _check_join(event, auth_events, create, target)
    elif membership == "invite":
        _check_invite(event, auth_events, target)
    elif membership == "leave":
        _check_leave(event, auth_events, target)
    elif membership == "ban":
        _check_ban(event, auth_events, target)
    elif membership == "knock" and rv.knock_join_rule:
        _check_knock(event, auth_events, target)
    else:
        raise AuthError(f"unknown membership {membership!r}")  # 5.8


def _check_join(event: Event, auth_events: AuthEvents, create: Event, target: str) -> None:
    rv = event.room_version
    # 5.3.1: the creator's own first join, straight after the create event.
    if event.prev_event_ids == [create.event_id] and target in _first_joiners(create):
        return
    if event.sender != target:
        raise AuthError("cannot join on behalf of another user")  # 5.3.2
    current = get_membership(target, auth_events)
    if current == "ban":
        raise AuthError("user is banned")  # 5.3.3
    join_rule = get_join_rule(auth_events)
    if join_rule == "invite" or (join_rule == "knock" and rv.knock_join_rule):  # 5.3.4
        if current not in ("invite", "join"):
            raise AuthError(f"join rule is {join_rule} and the user is not invited")
        return
    if (join_rule == "restricted" and rv.restricted_join_rule) or (
            join_rule == "knock_restricted" and rv.knock_restricted_join_rule):  # 5.3.5
        if current in ("join", "invite"):
            return
        authoriser = event.content.get("join_authorised_via_users_server")
        if not isinstance(authoriser, str) or get_membership(authoriser, auth_events) != "join":
            raise AuthError("restricted join not authorised by a joined member")
        invite_level = get_named_level(auth_events, "invite", NAMED_LEVEL_DEFAULTS["invite"])
        if get_user_power_level(authoriser, auth_events) < invite_level:
            raise AuthError("restricted join authorised by a user who may not invite")
        return
    if join_rule == "public":
        return  # 5.3.6
    raise AuthError(f"join rule {join_rule!r} does not allow joining")  # 5.3.7


def _first_joiners(create: Event) -> set[str]:
    """Who may join right after the create event: `creator` (v1-10), else the create sender only
    (v11+: "the sender of the m.room.create"; additional creators must be invited or join
    normally)."""
    if create.room_version.implicit_room_creator:
        return {create.sender}
    return get_creators(create)


def _check_invite(event: Event, auth_events: AuthEvents, target: str) -> None:
    if "third_party_invite" in event.content:  # 5.4.1
        if get_membership(target, auth_events) == "ban":
            raise AuthError("invited user is banned")
        third_party_invite = event.content["third_party_invite"]
        signed = third_party_invite.get("signed") if isinstance(third_party_invite, dict) else None
        if not isinstance(signed, dict):
            raise AuthError("third_party_invite has no signed property")
        mxid, token = signed.get("mxid"), signed.get("token")
        if not isinstance(mxid, str) or not isinstance(token, str):
            raise AuthError("third_party_invite.signed lacks mxid or token")
        if mxid != target:
            raise AuthError("third_party_invite mxid is not the invited user")
        token_event = auth_events.get((THIRD_PARTY_INVITE, token))
        if token_event is None:
            raise AuthError("no m.room.third_party_invite for the token")
        if token_event.sender != event.sender:
            raise AuthError("third-party invite completed by someone other than its inviter")
        if not verify_third_party_invite_signature(event, token_event):
            raise AuthError("third-party invite signature does not match the invite's public keys")
        return
    if get_membership(event.sender, auth_events) != "join":
        raise AuthError("inviter is not joined")  # 5.4.2
    if get_membership(target, auth_events) in ("join", "ban"):
        raise AuthError("invited user is joined or banned")  # 5.4.3
    invite_level = get_named_level(auth_events, "invite", NAMED_LEVEL_DEFAULTS["invite"])
    if get_user_power_level(event.sender, auth_events) < invite_level:
        raise AuthError("inviter's power level is below the invite level")  # 5.4.4-5


def _check_leave(event: Event, auth_events: AuthEvents, target: str) -> None:
    rv = event.room_version
    if event.sender == target:  # 5.5.1: leaving, or rejecting an invite / rescinding a knock
        allowed = ("invite", "join", "knock") if rv.knock_join_rule else ("invite", "join")
        if get_membership(target, auth_events) not in allowed:
            raise AuthError("cannot leave a room one is not in, invited to or knocking on")
        return
    if get_membership(event.sender, auth_events) != "join":
        raise AuthError("kicker is not joined")  # 5.5.2
    sender_level = get_user_power_level(event.sender, auth_events)
    ban_level = get_named_level(auth_events, "ban", NAMED_LEVEL_DEFAULTS["ban"])
    if get_membership(target, auth_events) == "ban" and sender_level < ban_level:
        raise AuthError("unbanning needs the ban level")  # 5.5.3
    kick_level = get_named_level(auth_events, "kick", NAMED_LEVEL_DEFAULTS["kick"])
    if sender_level < kick_level or get_user_power_level(target, auth_events) >= sender_level:
        raise AuthError("kicking needs the kick level and more power than the target")  # 5.5.4-5


def _check_ban(event: Event, auth_events: AuthEvents, target: str) -> None:
    if get_membership(event.sender, auth_events) != "join":
        raise AuthError("banner is not joined")  # 5.6.1
    sender_level = get_user_power_level(event.sender, auth_events)
    ban_level = get_named_level(auth_events, "ban", NAMED_LEVEL_DEFAULTS["ban"])
    if sender_level < ban_level or get_user_power_level(target, auth_events) >= sender_level:
        raise AuthError("banning needs the ban level and more power than the target")  # 5.6.2-3


def _check_knock(event: Event, auth_events: AuthEvents, target: str) -> None:
    rv = event.room_version
    join_rule = get_join_rule(auth_events)
    if not (join_rule == "knock" or (join_rule == "knock_restricted" and rv.knock_restricted_join_rule)):
        raise AuthError(f"join rule {join_rule!r} does not allow knocking")  # 5.7.1
    if event.sender != target:
        raise AuthError("cannot knock on behalf of another user")  # 5.7.2
    if get_membership(target, auth_events) in ("ban", "invite", "join"):
        raise AuthError("banned, invited or joined users cannot knock")  # 5.7.3-4


# -- rule 10: m.room.power_levels -------------------------------------------------------------------

def _check_power_levels(event: Event, auth_events: AuthEvents, sender_level: Level) -> None:
    rv = event.room_version
    content = event.content
    if rv.enforce_int_power_levels:
        for name in NAMED_LEVEL_DEFAULTS:  # 10.1 (v10+)
            if name in content and not _is_int(content[name]):
                raise AuthError(f"power level {name} is not an integer")
        for name in ("events", "notifications"):  # 10.2 (v10+)
            if name in content and not (
                    isinstance(content[name], dict) and all(_is_int(v) for v in content[name].values())):
                raise AuthError(f"power levels {name} is not an object of integers")
    users = content.get("users", {})  # 10.3: users must map user IDs to (v1-9: stringy) integers
    if not isinstance(users, dict) or not all(
            is_valid_user_id(u) and parse_level(v, rv) is not None for u, v in users.items()):
        raise AuthError("power levels users is not an object of user IDs to integers")
    create = auth_events[CREATE]
    if rv.privileged_creators and get_creators(create) & users.keys():
        raise AuthError("room creators cannot be given a power level")  # 10.4 (v12)

    current = auth_events.get(POWER_LEVELS)
    if current is None:
        return  # 10.5: the first power levels event
    old = current.content

    def check(old_value: int | None, new_value: int | None, what: str) -> None:
        # 10.6-10.8: a changed, added or removed value must be within the sender's power, both before
        # and after ("current value" / "new value": an absent side has no value to check).
        if old_value == new_value:
            return
        if old_value is not None and old_value > sender_level:
            raise AuthError(f"cannot change {what}: its current value is above the sender's level")
        if new_value is not None and new_value > sender_level:
            raise AuthError(f"cannot set {what} above the sender's level")

    for name in NAMED_LEVEL_DEFAULTS:  # 10.6
        check(parse_level(old.get(name), rv), parse_level(content.get(name), rv), name)
    maps = ("events", "notifications") if rv.limit_notifications_power_levels else ("events",)
    for name in maps:  # 10.7-10.8 (v1-5: events only)
        old_map, new_map = _level_map(old.get(name), rv), _level_map(content.get(name), rv)
        for key in old_map.keys() | new_map.keys():
            check(old_map.get(key), new_map.get(key), f"{name}.{key}")

    old_users, new_users = _level_map(old.get("users"), rv), _level_map(users, rv)
    for user_id in old_users.keys() | new_users.keys():
        old_value, new_value = old_users.get(user_id), new_users.get(user_id)
        if old_value == new_value:
            continue
        # 10.9: changing or removing someone else's level needs more power than they have now.
        if user_id != event.sender and old_value is not None and old_value >= sender_level:
            raise AuthError(f"cannot change the level of {user_id}, who is as powerful as the sender")
        # 10.10: no one can be given more power than the sender has.
        if new_value is not None and new_value > sender_level:
            raise AuthError(f"cannot give {user_id} a level above the sender's")


def _level_map(value: Any, rv: RoomVersion) -> dict[str, int]:
    """A key -> level object with its valid values parsed (invalid ones count as absent)."""
    if not isinstance(value, dict):
        return {}
    parsed = {key: parse_level(level, rv) for key, level in value.items()}
    return {key: level for key, level in parsed.items() if level is not None}


# -- v1-2 rule 11: m.room.redaction -----------------------------------------------------------------

def _check_redaction(event: Event, auth_events: AuthEvents, sender_level: Level) -> None:
    if sender_level >= get_named_level(auth_events, "redact", NAMED_LEVEL_DEFAULTS["redact"]):
        return  # 11.1
    redacts = event.redacts
    if isinstance(redacts, str) and domain_of(redacts) == domain_of(event.event_id):
        return  # 11.2: a server may redact its own events
    raise AuthError("redacting another server's event needs the redact level")  # 11.3


# -- signature hooks --------------------------------------------------------------------------------

def verify_authorising_server_signature(event: Event, server_name: str) -> bool:
    """Rule 5.2 (v8+): the event must be signed by the server of join_authorised_via_users_server.

    Auth is pure, so this only checks that the signature is there; the signature checks on receipt
    of a PDU (which must verify every listed server's signature) make sure it is valid."""
    return bool(event.signatures.get(server_name))


def verify_third_party_invite_signature(event: Event, token_event: Event) -> bool:
    """Rule 5.4.1.7: does any signature in `third_party_invite.signed` verify with any public key
    (`public_key`, or `public_keys[].public_key`) of the m.room.third_party_invite event?"""
    signed = event.content["third_party_invite"]["signed"]
    signatures = signed.get("signatures")
    if not isinstance(signatures, dict):
        return False
    for public_key in _third_party_public_keys(token_event.content):
        try:
            key_bytes = decode_base64(public_key)
        except (ValueError, UnicodeError):
            continue
        for signer, key_signatures in signatures.items():
            if not isinstance(key_signatures, dict):
                continue
            for key_id in key_signatures:
                if not isinstance(key_id, str) or not key_id.startswith("ed25519:"):
                    continue
                try:
                    verify_signed_json(signed, signer, decode_verify_key_bytes(key_id, key_bytes))
                    return True
                except (SignatureVerifyException, ValueError, TypeError):
                    continue
    return False


def _third_party_public_keys(content: dict[str, Any]) -> list[str]:
    keys = [content["public_key"]] if isinstance(content.get("public_key"), str) else []
    entries = content.get("public_keys")
    if isinstance(entries, list):
        keys += [e["public_key"] for e in entries if isinstance(e, dict) and isinstance(e.get("public_key"), str)]
    return keys
