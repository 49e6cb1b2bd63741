from typing import Any

from twisted.trial import unittest

from homeserver.events.hashing import compute_event_id, encode_canonical_json
from homeserver.events.room_versions import KNOWN_ROOM_VERSIONS, RoomVersion
from homeserver.events.validation import EventValidationError, validate_pdu

V1, V3, V5, V6, V11, V12 = (KNOWN_ROOM_VERSIONS[v] for v in ("1", "3", "5", "6", "11", "12"))
V12_ROOM_ID = "!Nhcu5BS-UMnFX7hBVfVSoXiD7OgH6iRT-xyIuqDnpYQ"  # example from pdu_v12.yaml


def pdu(room_version: RoomVersion, **overrides: Any) -> dict[str, Any]:
    """A valid message PDU for the room version, with keys replaced (or removed when None)."""
    event: dict[str, Any] = {
        "room_id": V12_ROOM_ID if room_version.room_id_from_create_event else "!r:x.example",
        "sender": "@u:x.example", "origin_server_ts": 1700000000000, "type": "m.room.message",
        "content": {"body": "hi", "msgtype": "m.text"}, "depth": 5,
        "hashes": {"sha256": "abc"}, "signatures": {"x.example": {"ed25519:k": "sig"}},
        "unsigned": {"age": 10},
        "auth_events": ["$a", "$b"], "prev_events": ["$p"],
    }
    if room_version.identifier in ("1", "2"):
        event["event_id"] = "$e:x.example"
        event["auth_events"] = [["$a:x.example", {"sha256": "h"}]]
        event["prev_events"] = [["$p:x.example", {"sha256": "h"}]]
    for key, value in overrides.items():
        if value is None:
            event.pop(key, None)
        else:
            event[key] = value
    return event


class ValidationTest(unittest.TestCase):
    def assertInvalid(self, event: Any, room_version: RoomVersion, fragment: str) -> None:
        with self.assertRaises(EventValidationError) as cm:
            validate_pdu(event, room_version)
        self.assertIn(fragment, str(cm.exception))

    def test_valid_events(self) -> None:
        for room_version in KNOWN_ROOM_VERSIONS.values():
            validate_pdu(pdu(room_version), room_version)
            validate_pdu(pdu(room_version, state_key="", type="m.room.topic", unsigned=None), room_version)

    def test_not_an_object(self) -> None:
        self.assertInvalid([], V6, "JSON object")

    def test_required_keys(self) -> None:
        for key in ("sender", "origin_server_ts", "type", "content", "depth", "hashes", "signatures",
                    "auth_events", "prev_events", "room_id"):
            for room_version in (V1, V6, V12):
                self.assertInvalid(pdu(room_version, **{key: None}), room_version, key)
        self.assertInvalid(pdu(V1, event_id=None), V1, "event_id")
        validate_pdu(pdu(V3, event_id=None), V3)

    def test_field_types(self) -> None:
        cases = [
            ("sender", 1, "sender"), ("sender", "u:x", "user ID"), ("type", 5, "type"),
            ("state_key", 0, "state_key"), ("origin_server_ts", "1", "origin_server_ts"),
            ("origin_server_ts", True, "origin_server_ts"), ("depth", 1.0, "depth"), ("depth", -1, "depth"),
            ("content", [], "content"), ("hashes", {}, "sha256"), ("hashes", {"sha256": 1}, "sha256"),
            ("signatures", {"x": "s"}, "signatures"), ("signatures", {"x": {"k": 1}}, "signatures"),
            ("unsigned", [], "unsigned"), ("redacts", 5, "redacts"), ("room_id", 5, "room_id"),
            ("room_id", "r:x", "room_id"),
            ("auth_events", "$a", "auth_events"), ("prev_events", [["$p:x", {}]], "prev_events"),
        ]
        for key, value, fragment in cases:
            self.assertInvalid(pdu(V6, **{key: value}), V6, fragment)
        self.assertInvalid(pdu(V1, prev_events=["$p:x"]), V1, "pairs")
        self.assertInvalid(pdu(V1, auth_events=[["$a:x"]]), V1, "pairs")
        self.assertInvalid(pdu(V1, event_id=5), V1, "event_id")

    def test_reference_counts(self) -> None:
        validate_pdu(pdu(V6, auth_events=[f"$a{i}" for i in range(10)],
                         prev_events=[f"$p{i}" for i in range(20)]), V6)
        self.assertInvalid(pdu(V6, auth_events=[f"$a{i}" for i in range(11)]), V6, "auth_events")
        self.assertInvalid(pdu(V6, prev_events=[f"$p{i}" for i in range(21)]), V6, "prev_events")

    def test_depth_limits(self) -> None:
        validate_pdu(pdu(V6, depth=2**53 - 1), V6)
        self.assertInvalid(pdu(V6, depth=2**53), V6, "depth")
        validate_pdu(pdu(V5, depth=2**63 - 1), V5)
        self.assertInvalid(pdu(V5, depth=2**63), V5, "depth")

    def test_identifier_sizes(self) -> None:
        long_name = "a" * 250
        for key, value in [("sender", f"@{long_name}:x.example"), ("room_id", f"!{long_name}:x.example"),
                           ("type", "t" * 256), ("state_key", "s" * 256)]:
            self.assertInvalid(pdu(V6, **{key: value}), V6, key)
        self.assertInvalid(pdu(V1, event_id=f"${long_name}:x.example"), V1, "event_id")
        # 255 bytes exactly is fine; the limit counts UTF-8 bytes, not characters.
        validate_pdu(pdu(V6, type="t" * 255, state_key="s" * 255), V6)
        self.assertInvalid(pdu(V6, state_key="é" * 128), V6, "state_key")

    def test_total_size(self) -> None:
        event = pdu(V6, content={"body": ""})
        room = 65536 - len(encode_canonical_json(event))
        event["content"]["body"] = "x" * room
        validate_pdu(event, V6)  # exactly 65536 bytes
        event["content"]["body"] += "x"
        self.assertInvalid(event, V6, "65536")

    def test_strict_canonical_json_from_v6(self) -> None:
        for bad in [{"n": 1.5}, {"n": 2.0}, {"n": 2**53}, {"n": -(2**53)}, {"deep": [{"n": float("nan")}]}]:
            self.assertInvalid(pdu(V6, content=bad), V6, "canonical JSON")
            self.assertInvalid(pdu(V11, content=bad), V11, "canonical JSON")
        validate_pdu(pdu(V6, content={"n": 2**53 - 1, "m": -(2**53) + 1, "b": True, "z": None}), V6)
        self.assertInvalid(pdu(V6, origin_server_ts=2**60), V6, "origin_server_ts")
        # Rooms 1-5 must tolerate such values (v1-canonical-json).
        validate_pdu(pdu(V5, content={"n": 1.5, "m": 2**60}), V5)
        self.assertInvalid(pdu(V5, content={"n": float("nan")}), V5, "canonical JSON")

    def test_v12_room_id(self) -> None:
        create = pdu(V12, type="m.room.create", state_key="", room_id=None, prev_events=[], auth_events=[],
                     content={"room_version": "12"})
        validate_pdu(create, V12)
        self.assertInvalid({**create, "room_id": V12_ROOM_ID}, V12, "must not have a room_id")
        self.assertInvalid(pdu(V12, room_id=None), V12, "room_id")
        self.assertInvalid(pdu(V12, room_id="!r:x.example"), V12, "room_id")
        self.assertInvalid(pdu(V12, room_id="$" + V12_ROOM_ID[1:]), V12, "room_id")
        # The room ID derived from a create event passes.
        derived = "!" + compute_event_id(create, V12)[1:]
        validate_pdu(pdu(V12, room_id=derived), V12)
        # Before v12 a create event carries its room_id like any other.
        self.assertInvalid(pdu(V11, type="m.room.create", state_key="", room_id=None), V11, "room_id")
