"""The PDU-level redaction algorithm (spec: content/rooms/fragments/v*-redactions.md).

Redaction decides what survives when an event is redacted, and it also defines what the
event signature and the reference hash (hence the event ID) cover, so every detail matters:
a kept or dropped key in the wrong place means our signatures and event IDs disagree with
every other server's."""

from __future__ import annotations

import copy
from typing import Any

from homeserver.events.model import Event
from homeserver.events.room_versions import RedactionRules, RoomVersion

# Top-level keys kept by the rule sets of rooms 1-10.
_TOP_LEVEL_KEYS_V1 = frozenset({
    "event_id", "type", "room_id", "sender", "state_key", "content", "hashes", "signatures",
    "depth", "prev_events", "prev_state", "auth_events", "origin", "origin_server_ts", "membership",
})
# v11 stops protecting `origin`, `membership` and `prev_state`.
_TOP_LEVEL_KEYS_V11 = _TOP_LEVEL_KEYS_V1 - {"origin", "membership", "prev_state"}

_POWER_LEVELS_KEYS_V1 = ("ban", "events", "events_default", "kick", "redact", "state_default", "users",
                         "users_default")


def redact(pdu: dict[str, Any] | Event, room_version: RoomVersion) -> dict[str, Any]:
    """The redacted copy of `pdu`; the input is left untouched. `unsigned` is never kept: it is
    not part of the algorithm's key list (the client view may add its own afterwards)."""
    if isinstance(pdu, Event):
        pdu = pdu.pdu
    rules = room_version.redaction
    top_keys = _TOP_LEVEL_KEYS_V11 if rules is RedactionRules.V11 else _TOP_LEVEL_KEYS_V1
    redacted = {k: copy.deepcopy(v) for k, v in pdu.items() if k in top_keys}
    content = pdu.get("content")
    if isinstance(content, dict):
        redacted["content"] = _redact_content(pdu.get("type"), content, room_version)
    elif "content" in redacted:
        # A malformed (non-object) content has no keys worth keeping.
        redacted["content"] = {}
    return redacted


def _redact_content(event_type: Any, content: dict[str, Any], room_version: RoomVersion) -> dict[str, Any]:
    rules = room_version.redaction
    v11 = rules is RedactionRules.V11
    kept: dict[str, Any] = {}

    if event_type == "m.room.create" and v11:
        # v11 keeps the whole create content (room_version, predecessor, ...).
        return copy.deepcopy(content)

    keys: tuple[str, ...] = ()
    if event_type == "m.room.member":
        keys = ("membership",)
        if rules in (RedactionRules.V9, RedactionRules.V11):
            keys += ("join_authorised_via_users_server",)
        if v11:
            # Only `signed` survives inside `third_party_invite` (it is what the auth rules check).
            tpi = content.get("third_party_invite")
            if isinstance(tpi, dict) and "signed" in tpi:
                kept["third_party_invite"] = {"signed": copy.deepcopy(tpi["signed"])}
    elif event_type == "m.room.create":
        keys = ("creator",)
    elif event_type == "m.room.join_rules":
        keys = ("join_rule",)
        # `allow` is kept from room v8 on. The v6 rule set (rooms 6-8) does not list it, but v8.md
        # adds it, so this follows the room version flag rather than the rule-set enum.
        if room_version.restricted_join_rule:
            keys += ("allow",)
    elif event_type == "m.room.power_levels":
        keys = _POWER_LEVELS_KEYS_V1 + (("invite",) if v11 else ())
    elif event_type == "m.room.aliases":
        # Only the v1 rule set (rooms 1-5) protects aliases.
        if rules is RedactionRules.V1:
            keys = ("aliases",)
    elif event_type == "m.room.history_visibility":
        keys = ("history_visibility",)
    elif event_type == "m.room.redaction":
        if v11:
            keys = ("redacts",)

    for key in keys:
        if key in content:
            kept[key] = copy.deepcopy(content[key])
    return kept
