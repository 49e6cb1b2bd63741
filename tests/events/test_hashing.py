import hashlib
import json

from twisted.trial import unittest

from homeserver.events.hashing import (
    add_content_hash,
    check_content_hash,
    compute_content_hash,
    compute_event_id,
    compute_reference_hash,
    decode_base64,
    encode_base64,
    encode_canonical_json,
    event_from_pdu,
    room_id_for_create_event,
)
from homeserver.events.redaction import redact
from homeserver.events.room_versions import KNOWN_ROOM_VERSIONS

V1, V3, V4, V11, V12 = (KNOWN_ROOM_VERSIONS[v] for v in ("1", "3", "4", "11", "12"))

# Spec appendices, "Cryptographic Test Vectors" / "Event Signing": the minimal event and its
# expected content hash.
MINIMAL_EVENT = {
    "room_id": "!x:domain", "sender": "@a:domain", "origin": "domain", "origin_server_ts": 1000000,
    "signatures": {}, "hashes": {}, "type": "X", "content": {}, "prev_events": [], "auth_events": [],
    "depth": 3, "unsigned": {"age_ts": 1000000},
}
MINIMAL_EVENT_HASH = "5jM4wQpv6lnBo7CLIghJuHdW+s2CMBJPUOGOC89ncos"
REDACTABLE_EVENT = {
    "content": {"body": "Here is the message content"}, "event_id": "$0:domain", "origin": "domain",
    "origin_server_ts": 1000000, "type": "m.room.message", "room_id": "!r:domain", "sender": "@u:domain",
    "signatures": {}, "unsigned": {"age_ts": 1000000},
}
REDACTABLE_EVENT_HASH = "onLKD1bGljeBWQhWZ1kaP9SorVmRQNdN5aM2JYU2n/g"


class CanonicalJsonTest(unittest.TestCase):
    def test_spec_examples(self) -> None:
        # appendices.md "Canonical JSON" / "Examples", input given as JSON text.
        examples = [
            ("{}", b"{}"),
            ('{"one": 1, "two": "Two"}', b'{"one":1,"two":"Two"}'),
            ('{"b": "2", "a": "1"}', b'{"a":"1","b":"2"}'),
            ('{"b":"2","a":"1"}', b'{"a":"1","b":"2"}'),
            ('{"auth": {"success": true, "mxid": "@john.doe:example.com", "profile": {'
             '"display_name": "John Doe", "three_pids": [{"medium": "email", "address": '
             '"john.doe@example.org"}, {"medium": "msisdn", "address": "123456789"}]}}}',
             b'{"auth":{"mxid":"@john.doe:example.com","profile":{"display_name":"John Doe",'
             b'"three_pids":[{"address":"john.doe@example.org","medium":"email"},'
             b'{"address":"123456789","medium":"msisdn"}]},"success":true}}'),
            ('{"a": "日本語"}', '{"a":"日本語"}'.encode()),
            ('{"本": 2, "日": 1}', '{"日":1,"本":2}'.encode()),
            ('{"a": "\\u65E5"}', '{"a":"日"}'.encode()),
            ('{"a": null}', b'{"a":null}'),
        ]
        for text, expected in examples:
            self.assertEqual(encode_canonical_json(json.loads(text)), expected, text)

    def test_negative_zero_and_exponent(self) -> None:
        # Spec example {"a": -0, "b": 1e10} -> {"a":0,"b":10000000000}. Python's json parser
        # makes 1e10 a float, which is not a canonical JSON number at all; with the value as the
        # integer it denotes, the expected output is reproduced.
        self.assertEqual(encode_canonical_json(json.loads('{"a": -0}')), b'{"a":0}')
        self.assertEqual(encode_canonical_json({"a": -0, "b": 10**10}), b'{"a":0,"b":10000000000}')


class Base64Test(unittest.TestCase):
    def test_spec_examples(self) -> None:
        for raw, encoded in [(b"", ""), (b"f", "Zg"), (b"fo", "Zm8"), (b"foo", "Zm9v"),
                             (b"foob", "Zm9vYg"), (b"fooba", "Zm9vYmE"), (b"foobar", "Zm9vYmFy")]:
            self.assertEqual(encode_base64(raw), encoded)
            self.assertEqual(decode_base64(encoded), raw)
        self.assertEqual(decode_base64("Zg=="), b"f")  # padding accepted on input

    def test_urlsafe(self) -> None:
        self.assertEqual(encode_base64(b"\xfb\xff", urlsafe=True), "-_8")
        self.assertEqual(encode_base64(b"\xfb\xff"), "+/8")
        self.assertEqual(decode_base64("-_8"), b"\xfb\xff")
        self.assertRaises(ValueError, decode_base64, "not base64!")


class ContentHashTest(unittest.TestCase):
    def test_spec_vectors(self) -> None:
        self.assertEqual(compute_content_hash(MINIMAL_EVENT), MINIMAL_EVENT_HASH)
        self.assertEqual(compute_content_hash(REDACTABLE_EVENT), REDACTABLE_EVENT_HASH)

    def test_ignores_unsigned_signatures_hashes(self) -> None:
        changed = {**MINIMAL_EVENT, "unsigned": {"age": 5}, "signatures": {"x": {"ed25519:a": "s"}},
                   "hashes": {"sha256": "whatever"}}
        self.assertEqual(compute_content_hash(changed), MINIMAL_EVENT_HASH)

    def test_add_and_check(self) -> None:
        hashed = add_content_hash(MINIMAL_EVENT)
        self.assertEqual(hashed["hashes"], {"sha256": MINIMAL_EVENT_HASH})
        self.assertEqual(MINIMAL_EVENT["hashes"], {})  # input untouched
        self.assertTrue(check_content_hash(hashed))
        self.assertTrue(check_content_hash({**hashed, "hashes": {"sha256": MINIMAL_EVENT_HASH + "="}}))
        self.assertFalse(check_content_hash({**hashed, "content": {"body": "changed"}}))
        self.assertFalse(check_content_hash(MINIMAL_EVENT))  # no hash at all
        self.assertFalse(check_content_hash({**hashed, "hashes": {"sha256": "!!"}}))
        self.assertFalse(check_content_hash({**hashed, "hashes": "nope"}))


class ReferenceHashTest(unittest.TestCase):
    def setUp(self) -> None:
        self.event = {**MINIMAL_EVENT, "hashes": {"sha256": MINIMAL_EVENT_HASH},
                      "signatures": {"domain": {"ed25519:1": "sig"}}}

    def test_reference_hash_bytes(self) -> None:
        # Written out by hand from the spec's steps: redact, drop signatures/unsigned, encode.
        expected_v4 = (b'{"auth_events":[],"content":{},"depth":3,"hashes":{"sha256":"'
                       + MINIMAL_EVENT_HASH.encode() + b'"},"origin":"domain","origin_server_ts":1000000,'
                       b'"prev_events":[],"room_id":"!x:domain","sender":"@a:domain","type":"X"}')
        self.assertEqual(compute_reference_hash(self.event, V4), hashlib.sha256(expected_v4).digest())
        # v11 no longer protects `origin`, so it is not covered.
        expected_v11 = expected_v4.replace(b'"origin":"domain",', b"")
        self.assertEqual(compute_reference_hash(self.event, V11), hashlib.sha256(expected_v11).digest())

    def test_event_ids_by_format(self) -> None:
        self.assertEqual(compute_event_id(REDACTABLE_EVENT, V1), "$0:domain")
        self.assertRaises(ValueError, compute_event_id, MINIMAL_EVENT, V1)
        digest = compute_reference_hash(self.event, V4)
        self.assertEqual(compute_event_id(self.event, V3), "$" + encode_base64(digest))
        self.assertEqual(compute_event_id(self.event, V4), "$" + encode_base64(digest, urlsafe=True))

    def test_v3_standard_and_v4_urlsafe_alphabets(self) -> None:
        # Find an event whose hash encodes with '+' or '/', to see the two alphabets differ.
        for depth in range(1000):
            event = {**self.event, "depth": depth}
            v3_id = compute_event_id(event, V3)
            if "+" in v3_id or "/" in v3_id:
                break
        else:
            self.fail("no event ID with '+' or '/' found")
        v4_id = compute_event_id(event, V4)
        self.assertEqual(v4_id, v3_id.replace("+", "-").replace("/", "_"))
        self.assertNotIn("+", v4_id)
        self.assertNotIn("/", v4_id)
        self.assertEqual(len(v4_id), 44)

    def test_event_id_covers_only_the_redacted_event(self) -> None:
        event_id = compute_event_id(self.event, V4)
        # Signatures, unsigned data and redaction do not change the ID ...
        self.assertEqual(compute_event_id({**self.event, "signatures": {}, "unsigned": {"a": 1}}, V4), event_id)
        self.assertEqual(compute_event_id(redact({**self.event, "content": {"x": 1}}, V4), V4),
                         compute_event_id({**self.event, "content": {"x": 1}}, V4))
        # ... while the content hash (covering the full content) and essential keys do.
        self.assertNotEqual(compute_event_id({**self.event, "hashes": {"sha256": "other"}}, V4), event_id)
        self.assertNotEqual(compute_event_id({**self.event, "depth": 4}, V4), event_id)


class RoomIdTest(unittest.TestCase):
    def _create(self) -> dict:
        create = {"type": "m.room.create", "state_key": "", "sender": "@a:domain", "origin_server_ts": 1,
                  "content": {"room_version": "12"}, "prev_events": [], "auth_events": [], "depth": 1,
                  "signatures": {}}
        return add_content_hash(create)

    def test_v12_room_id_is_create_event_hash(self) -> None:
        create = self._create()
        room_id = room_id_for_create_event(create, V12)
        digest = compute_reference_hash(create, V12)
        self.assertEqual(room_id, "!" + encode_base64(digest, urlsafe=True))
        self.assertEqual(room_id[1:], compute_event_id(create, V12)[1:])
        self.assertEqual(event_from_pdu(create, V12).room_id, room_id)

    def test_v12_create_with_room_id_refused(self) -> None:
        self.assertRaises(ValueError, room_id_for_create_event, {**self._create(), "room_id": "!x"}, V12)

    def test_older_versions_use_room_id(self) -> None:
        create = {**self._create(), "room_id": "!r:domain"}
        self.assertEqual(room_id_for_create_event(create, V11), "!r:domain")
        self.assertRaises(ValueError, room_id_for_create_event, self._create(), V11)


class EventFromPduTest(unittest.TestCase):
    def test_unsigned_kept_beside_the_pdu(self) -> None:
        event = event_from_pdu(MINIMAL_EVENT, V4)
        self.assertNotIn("unsigned", event.pdu)
        self.assertEqual(event.unsigned, {"age_ts": 1000000})
        self.assertEqual(event.event_id, compute_event_id(MINIMAL_EVENT, V4))
        self.assertIs(event.room_version, V4)
        self.assertEqual(event_from_pdu(MINIMAL_EVENT, V4, unsigned={"age": 1}).unsigned, {"age": 1})
        self.assertIn("unsigned", MINIMAL_EVENT)  # input untouched

    def test_event_id_key(self) -> None:
        self.assertEqual(event_from_pdu(REDACTABLE_EVENT, V1).event_id, "$0:domain")
        # Not part of the V3+ formats: dropped, and the ID is computed without it.
        event = event_from_pdu({**MINIMAL_EVENT, "event_id": "$spoofed"}, V4)
        self.assertNotIn("event_id", event.pdu)
        self.assertEqual(event.event_id, compute_event_id(MINIMAL_EVENT, V4))
