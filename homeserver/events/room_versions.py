"""The room versions this server knows (spec: content/rooms/) and what differs between them.

Rooms can be created in the versions marked `creatable` (every stable version, 1-12: users who
ask for an older version, and rooms joined over federation, need them); every listed version is
understood (events in it can be checked, stored and served), as federation needs."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class EventFormat(Enum):
    V1 = 1  # rooms 1-2: event_id inside the event, prev/auth events as [id, hashes] pairs
    V3 = 3  # room 3: event ID = "$" + standard base64 of the reference hash
    V4 = 4  # rooms 4-11: event ID = "$" + URL-safe base64 of the reference hash
    V12 = 12  # room 12: as V4; the create event has no room_id, the room ID is derived from it


class StateResAlgorithm(Enum):
    V1 = 1
    V2 = 2
    V2_1 = 21  # room 12


class RedactionRules(Enum):
    V1 = 1  # rooms 1-5 (fragments/v1-redactions.md)
    V6 = 6  # rooms 6-8: m.room.aliases content no longer kept (fragments/v6-redactions.md)
    V9 = 9  # rooms 9-10: member join_authorised_via_users_server kept (fragments/v9-redactions.md)
    V11 = 11  # rooms 11-12 (fragments/v11-redactions.md)


@dataclass(frozen=True)
class RoomVersion:
    identifier: str
    stability: str  # "stable" or "unstable", as advertised in /capabilities
    creatable: bool  # new rooms may be created in this version here
    event_format: EventFormat
    state_res: StateResAlgorithm
    redaction: RedactionRules
    enforce_key_validity: bool  # v5+: signing keys must be valid at origin_server_ts
    special_case_aliases_auth: bool  # v1-5: m.room.aliases has its own auth rule
    strict_canonical_json: bool  # v6+: reject floats and out-of-range integers
    limit_notifications_power_levels: bool  # v6+: "notifications" key checked in power levels
    knock_join_rule: bool  # v7+
    restricted_join_rule: bool  # v8+
    restricted_join_rule_fix: bool  # v9+: join_authorised_via_users_server survives redaction
    knock_restricted_join_rule: bool  # v10+
    enforce_int_power_levels: bool  # v10+: power level values must be integers
    implicit_room_creator: bool  # v11+: the create event's sender is the creator ("creator" key gone)
    privileged_creators: bool  # v12+: creators (sender + additional_creators) have infinite power
    room_id_from_create_event: bool  # v12+: room ID is "!" + the create event's reference hash


def _v(identifier: str, creatable: bool, event_format: EventFormat, state_res: StateResAlgorithm,
       redaction: RedactionRules, n: int) -> RoomVersion:
    return RoomVersion(
        identifier=identifier, stability="stable", creatable=creatable, event_format=event_format,
        state_res=state_res, redaction=redaction,
        enforce_key_validity=n >= 5, special_case_aliases_auth=n <= 5, strict_canonical_json=n >= 6,
        limit_notifications_power_levels=n >= 6, knock_join_rule=n >= 7, restricted_join_rule=n >= 8,
        restricted_join_rule_fix=n >= 9, knock_restricted_join_rule=n >= 10, enforce_int_power_levels=n >= 10,
        implicit_room_creator=n >= 11, privileged_creators=n >= 12, room_id_from_create_event=n >= 12,
    )


E, S, R = EventFormat, StateResAlgorithm, RedactionRules
KNOWN_ROOM_VERSIONS: dict[str, RoomVersion] = {
    v.identifier: v
    for v in (
        _v("1", True, E.V1, S.V1, R.V1, 1),
        _v("2", True, E.V1, S.V2, R.V1, 2),
        _v("3", True, E.V3, S.V2, R.V1, 3),
        _v("4", True, E.V4, S.V2, R.V1, 4),
        _v("5", True, E.V4, S.V2, R.V1, 5),
        _v("6", True, E.V4, S.V2, R.V6, 6),
        _v("7", True, E.V4, S.V2, R.V6, 7),
        _v("8", True, E.V4, S.V2, R.V6, 8),
        _v("9", True, E.V4, S.V2, R.V9, 9),
        _v("10", True, E.V4, S.V2, R.V9, 10),
        _v("11", True, E.V4, S.V2, R.V11, 11),
        _v("12", True, E.V12, S.V2_1, R.V11, 12),
    )
}
del E, S, R

CREATABLE_ROOM_VERSIONS = [v for v in KNOWN_ROOM_VERSIONS.values() if v.creatable]
