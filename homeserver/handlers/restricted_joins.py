"""Restricted rooms (spec: client-server "Restricted rooms", room versions 8+): a user who is not
invited may join when they are joined to one of the rooms the join rule's `allow` list names; a
joined member of the room who may invite (on the server that checks) vouches for them with
`join_authorised_via_users_server`, and that server signs the join."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeserver.api.errors import Codes, MatrixError, forbidden
from homeserver.events.auth import NAMED_LEVEL_DEFAULTS, get_named_level, get_user_power_level
from homeserver.events.model import Event
from homeserver.events.room_versions import RoomVersion
from homeserver.storage.events import EventsStore
from homeserver.storage.state_groups import StateKey

RESTRICTED_RULES = ("restricted", "knock_restricted")


def _is_restricted(room_version: RoomVersion, join_rule: Any) -> bool:
    return (join_rule == "restricted" and room_version.restricted_join_rule) or (
        join_rule == "knock_restricted" and room_version.knock_restricted_join_rule)


async def choose_authoriser(events: EventsStore, server_name: str, room_version: RoomVersion,
                            state: Mapping[StateKey, str], user_id: str) -> str | None:
    """The local user to name in `join_authorised_via_users_server` for `user_id`'s join, or
    None when the join needs none (the room is not restricted, or the user is invited or joined:
    then the auth rules decide). Raises 403 when the user is in none of the allowed rooms we know,
    and 400 M_UNABLE_TO_AUTHORISE_JOIN when we know none of them or no local member may invite."""
    ids = {k: state[k] for k in (("m.room.join_rules", ""), ("m.room.power_levels", ""), ("m.room.create", ""),
                                 ("m.room.member", user_id)) if k in state}
    fetched = await events.get_events(list(ids.values()))
    auth_events: dict[StateKey, Event] = {k: fetched[v] for k, v in ids.items() if v in fetched}
    join_rules = auth_events.get(("m.room.join_rules", ""))
    if join_rules is None or not _is_restricted(room_version, join_rules.content.get("join_rule")):
        return None
    member = auth_events.get(("m.room.member", user_id))
    if member is not None and member.content.get("membership") in ("invite", "join"):
        return None
    allow = join_rules.content.get("allow")
    allowed_rooms = [a.get("room_id") for a in allow if isinstance(a, dict) and a.get("type") == "m.room_membership"
                     and isinstance(a.get("room_id"), str)] if isinstance(allow, list) else []
    known = False
    for room_id in allowed_rooms:
        if await events.get_room_version(room_id) is None:
            continue
        known = True
        current = await events.get_membership(room_id, user_id)
        if current is not None and current[0] == "join":
            break
    else:
        if known:
            raise forbidden("You are not in any of the rooms this room admits members of")
        raise MatrixError(400, Codes.UNABLE_TO_AUTHORISE_JOIN, "None of the rooms this room admits members of is known here")
    invite_level = get_named_level(auth_events, "invite", NAMED_LEVEL_DEFAULTS["invite"])
    suffix = ":" + server_name
    candidates = []
    for member_id, membership, _ in await events.get_members(join_rules.room_id):
        if membership == "join" and member_id.endswith(suffix):
            level = get_user_power_level(member_id, auth_events)
            if level >= invite_level:
                candidates.append((-level, member_id))
    if not candidates:
        raise MatrixError(400, Codes.UNABLE_TO_AUTHORISE_JOIN, "No member here may invite to this room")
    return min(candidates)[1]
