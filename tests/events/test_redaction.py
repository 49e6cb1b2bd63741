"""One class per redaction rule set (rooms 1-5, 6-8, 9-10, 11-12), each with full events
before and after, so every kept and every dropped key is pinned down."""

import copy
from typing import Any

from twisted.trial import unittest

from homeserver.events.hashing import event_from_pdu
from homeserver.events.redaction import redact
from homeserver.events.room_versions import KNOWN_ROOM_VERSIONS, RoomVersion

# Every top-level key any rule set keeps, plus some that none keeps.
TOP_LEVEL = {
    "event_id": "$e:x", "room_id": "!r:x", "sender": "@u:x", "hashes": {"sha256": "h"},
    "signatures": {"x": {"ed25519:k": "s"}}, "depth": 4, "prev_events": ["$p"], "prev_state": [],
    "auth_events": ["$a"], "origin": "x", "origin_server_ts": 7, "membership": "join",
    "unsigned": {"age": 3}, "redacts": "$r:x", "age_ts": 9, "custom": {"k": 1},
}
KEPT_TOP_LEVEL_V1 = ["event_id", "room_id", "sender", "hashes", "signatures", "depth", "prev_events",
                     "prev_state", "auth_events", "origin", "origin_server_ts", "membership"]
KEPT_TOP_LEVEL_V11 = ["event_id", "room_id", "sender", "hashes", "signatures", "depth", "prev_events",
                      "auth_events", "origin_server_ts"]

CONTENT: dict[str, dict[str, Any]] = {
    "m.room.member": {
        "membership": "join", "displayname": "U", "avatar_url": "mxc://x/y",
        "join_authorised_via_users_server": "@admin:x",
        "third_party_invite": {"display_name": "e***@x", "signed": {"mxid": "@u:x", "token": "t",
                                                                   "signatures": {"id": {"ed25519:0": "s"}}}},
    },
    "m.room.create": {"creator": "@u:x", "room_version": "1", "m.federate": False, "predecessor": {"room_id": "!o:x"}},
    "m.room.join_rules": {"join_rule": "restricted", "allow": [{"type": "m.room_membership", "room_id": "!s:x"}],
                          "extra": 1},
    "m.room.power_levels": {
        "ban": 50, "events": {"m.room.name": 100}, "events_default": 0, "invite": 50, "kick": 50,
        "redact": 50, "state_default": 50, "users": {"@u:x": 100}, "users_default": 0,
        "notifications": {"room": 50}, "historical": 100,
    },
    "m.room.aliases": {"aliases": ["#a:x"], "extra": 1},
    "m.room.history_visibility": {"history_visibility": "shared", "extra": 1},
    "m.room.redaction": {"redacts": "$r:x", "reason": "spam"},
    "m.room.message": {"body": "hello", "msgtype": "m.text"},
    "m.room.name": {"name": "secret"},
}


def _event(event_type: str) -> dict[str, Any]:
    return {**copy.deepcopy(TOP_LEVEL), "type": event_type, "state_key": "",
            "content": copy.deepcopy(CONTENT[event_type])}


def _pick(d: dict[str, Any], keys: list[str]) -> dict[str, Any]:
    return {k: d[k] for k in keys if k in d}


class _RedactionRules:
    """Mixed into one TestCase per rule set (kept out of TestCase so it is not collected)."""

    versions: list[str] = []
    kept_top_level: list[str] = []
    # event type -> the redacted content expected
    expected_content: dict[str, dict[str, Any]] = {}

    def _check(self, room_version: RoomVersion) -> None:
        for event_type, content in self.expected_content.items():
            event = _event(event_type)
            before = copy.deepcopy(event)
            expected = {**_pick(event, self.kept_top_level), "type": event_type, "state_key": "",
                        "content": content}
            self.assertEqual(redact(event, room_version), expected, f"{room_version.identifier} {event_type}")
            self.assertEqual(event, before, "input must not be modified")

    def test_rules(self) -> None:
        for version in self.versions:
            self._check(KNOWN_ROOM_VERSIONS[version])

    def test_unsigned_never_kept(self) -> None:
        for version in self.versions:
            self.assertNotIn("unsigned", redact(_event("m.room.message"), KNOWN_ROOM_VERSIONS[version]))

    def test_idempotent_and_accepts_event_objects(self) -> None:
        for version in self.versions:
            rv = KNOWN_ROOM_VERSIONS[version]
            for event_type in CONTENT:
                once = redact(_event(event_type), rv)
                self.assertEqual(redact(once, rv), once)
                self.assertEqual(redact(event_from_pdu(_event(event_type), rv), rv),
                                 redact(event_from_pdu(_event(event_type), rv).pdu, rv))


V1_CONTENT = {
    "m.room.member": {"membership": "join"},
    "m.room.create": {"creator": "@u:x"},
    "m.room.join_rules": {"join_rule": "restricted"},
    "m.room.power_levels": {"ban": 50, "events": {"m.room.name": 100}, "events_default": 0, "kick": 50,
                            "redact": 50, "state_default": 50, "users": {"@u:x": 100}, "users_default": 0},
    "m.room.aliases": {"aliases": ["#a:x"]},
    "m.room.history_visibility": {"history_visibility": "shared"},
    "m.room.redaction": {},
    "m.room.message": {},
    "m.room.name": {},
}


class RedactionV1Test(_RedactionRules, unittest.TestCase):
    """Rooms 1-5 (fragments/v1-redactions.md)."""
    versions = ["1", "2", "3", "4", "5"]
    kept_top_level = KEPT_TOP_LEVEL_V1
    expected_content = V1_CONTENT


class RedactionV6Test(_RedactionRules, unittest.TestCase):
    """Rooms 6-7 (fragments/v6-redactions.md): m.room.aliases content no longer kept."""
    versions = ["6", "7"]
    kept_top_level = KEPT_TOP_LEVEL_V1
    expected_content = {**V1_CONTENT, "m.room.aliases": {}}


class RedactionV8Test(_RedactionRules, unittest.TestCase):
    """Room 8 (v8.md "Redactions"): as v6, plus join_rules keeps `allow`."""
    versions = ["8"]
    kept_top_level = KEPT_TOP_LEVEL_V1
    expected_content = {
        **V1_CONTENT, "m.room.aliases": {},
        "m.room.join_rules": {"join_rule": "restricted",
                              "allow": [{"type": "m.room_membership", "room_id": "!s:x"}]},
    }


class RedactionV9Test(_RedactionRules, unittest.TestCase):
    """Rooms 9-10 (fragments/v9-redactions.md): member keeps join_authorised_via_users_server."""
    versions = ["9", "10"]
    kept_top_level = KEPT_TOP_LEVEL_V1
    expected_content = {
        **RedactionV8Test.expected_content,
        "m.room.member": {"membership": "join", "join_authorised_via_users_server": "@admin:x"},
    }


class RedactionV11Test(_RedactionRules, unittest.TestCase):
    """Rooms 11-12 (fragments/v11-redactions.md)."""
    versions = ["11", "12"]
    kept_top_level = KEPT_TOP_LEVEL_V11
    expected_content = {
        "m.room.member": {
            "membership": "join", "join_authorised_via_users_server": "@admin:x",
            "third_party_invite": {"signed": {"mxid": "@u:x", "token": "t", "signatures": {"id": {"ed25519:0": "s"}}}},
        },
        "m.room.create": CONTENT["m.room.create"],
        "m.room.join_rules": {"join_rule": "restricted",
                              "allow": [{"type": "m.room_membership", "room_id": "!s:x"}]},
        "m.room.power_levels": {"ban": 50, "events": {"m.room.name": 100}, "events_default": 0, "invite": 50,
                                "kick": 50, "redact": 50, "state_default": 50, "users": {"@u:x": 100},
                                "users_default": 0},
        "m.room.aliases": {},
        "m.room.history_visibility": {"history_visibility": "shared"},
        "m.room.redaction": {"redacts": "$r:x"},
        "m.room.message": {},
        "m.room.name": {},
    }

    def test_third_party_invite_without_signed_dropped(self) -> None:
        event = _event("m.room.member")
        event["content"]["third_party_invite"] = {"display_name": "e***@x"}
        self.assertEqual(redact(event, KNOWN_ROOM_VERSIONS["11"])["content"], {
            "membership": "join", "join_authorised_via_users_server": "@admin:x"})
        event["content"]["third_party_invite"] = "not an object"
        self.assertNotIn("third_party_invite", redact(event, KNOWN_ROOM_VERSIONS["11"])["content"])


class RedactionEdgeCasesTest(unittest.TestCase):
    def test_missing_or_malformed_content(self) -> None:
        rv = KNOWN_ROOM_VERSIONS["10"]
        self.assertEqual(redact({"type": "m.room.member", "content": "x"}, rv), {"type": "m.room.member", "content": {}})
        self.assertEqual(redact({"type": "m.room.member"}, rv), {"type": "m.room.member"})

    def test_output_does_not_share_nested_objects(self) -> None:
        event = _event("m.room.power_levels")
        redacted = redact(event, KNOWN_ROOM_VERSIONS["11"])
        redacted["content"]["users"]["@evil:x"] = 100
        redacted["signatures"]["x"]["ed25519:k"] = "changed"
        self.assertEqual(event["content"]["users"], {"@u:x": 100})
        self.assertEqual(event["signatures"], {"x": {"ed25519:k": "s"}})
