import copy

from signedjson.key import decode_signing_key_base64, generate_signing_key, get_verify_key
from signedjson.sign import sign_json
from twisted.trial import unittest

from homeserver.events.hashing import check_content_hash
from homeserver.events.redaction import redact
from homeserver.events.room_versions import KNOWN_ROOM_VERSIONS
from homeserver.events.signing import (
    EventSignatureError,
    check_signed_by,
    servers_required_to_sign,
    sign_event,
    verify_event_signature,
)

V1, V4, V11, V12 = (KNOWN_ROOM_VERSIONS[v] for v in ("1", "4", "11", "12"))

# Spec appendices, "Cryptographic Test Vectors": fixed seed, server "domain", key "ed25519:1".
SEED = "YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1"

MINIMAL_EVENT = {
    "room_id": "!x:domain", "sender": "@a:domain", "origin": "domain", "origin_server_ts": 1000000,
    "signatures": {}, "hashes": {}, "type": "X", "content": {}, "prev_events": [], "auth_events": [],
    "depth": 3, "unsigned": {"age_ts": 1000000},
}
MINIMAL_EVENT_SIGNED = {
    "auth_events": [], "content": {}, "depth": 3,
    "hashes": {"sha256": "5jM4wQpv6lnBo7CLIghJuHdW+s2CMBJPUOGOC89ncos"},
    "origin": "domain", "origin_server_ts": 1000000, "prev_events": [], "room_id": "!x:domain",
    "sender": "@a:domain",
    "signatures": {"domain": {"ed25519:1": "KxwGjPSDEtvnFgU00fwFz+l6d2pJM6XBIaMEn81SXPTRl16AqLAYqfIReFGZlHi5KLjAWbOoMszkwsQma+lYAg"}},
    "type": "X", "unsigned": {"age_ts": 1000000},
}
REDACTABLE_EVENT = {
    "content": {"body": "Here is the message content"}, "event_id": "$0:domain", "origin": "domain",
    "origin_server_ts": 1000000, "type": "m.room.message", "room_id": "!r:domain", "sender": "@u:domain",
    "signatures": {}, "unsigned": {"age_ts": 1000000},
}
REDACTABLE_EVENT_SIGNED = {
    "content": {"body": "Here is the message content"}, "event_id": "$0:domain",
    "hashes": {"sha256": "onLKD1bGljeBWQhWZ1kaP9SorVmRQNdN5aM2JYU2n/g"},
    "origin": "domain", "origin_server_ts": 1000000, "type": "m.room.message", "room_id": "!r:domain",
    "sender": "@u:domain",
    "signatures": {"domain": {"ed25519:1": "Wm+VzmOUOz08Ds+0NTWb1d4CZrVsJSikkeRxh6aCcUwu6pNC78FunoD7KNWzqFn241eYHYMGCA5McEiVPdhzBA"}},
    "unsigned": {"age_ts": 1000000},
}


class SpecVectorsTest(unittest.TestCase):
    def setUp(self) -> None:
        self.key = decode_signing_key_base64("ed25519", "1", SEED)

    def test_json_signing(self) -> None:
        # Checks the key set-up the event vectors rely on.
        self.assertEqual(sign_json({}, "domain", self.key), {"signatures": {"domain": {
            "ed25519:1": "K8280/U9SSy9IVtjBuVeLr+HpOB4BQFWbg+UZaADMtTdGYI7Geitb76LTrr5QV/7Xg4ahLwYGYZzuHGZKM5ZAQ"}}})
        self.assertEqual(sign_json({"one": 1, "two": "Two"}, "domain", self.key), {
            "one": 1, "two": "Two", "signatures": {"domain": {
                "ed25519:1": "KqmLSbO39/Bzb0QIYE82zqLwsA+PDzYIpIRA2sRQ4sL53+sN6/fpNSoqE7BP7vBZhG6kYdD13EIMJpvhJI+6Bw"}}})

    def test_minimal_event(self) -> None:
        # The vectors use the pre-v11 redaction rules (`origin` is covered), so they hold for
        # rooms 1-10 alike.
        for version in [str(n) for n in range(1, 11)]:
            signed = sign_event(MINIMAL_EVENT, "domain", self.key, KNOWN_ROOM_VERSIONS[version])
            self.assertEqual(signed, MINIMAL_EVENT_SIGNED, version)

    def test_redactable_event(self) -> None:
        for version in [str(n) for n in range(1, 11)]:
            signed = sign_event(REDACTABLE_EVENT, "domain", self.key, KNOWN_ROOM_VERSIONS[version])
            self.assertEqual(signed, REDACTABLE_EVENT_SIGNED, version)

    def test_v11_signs_without_origin(self) -> None:
        signed = sign_event(MINIMAL_EVENT, "domain", self.key, V11)
        self.assertEqual(signed["hashes"], MINIMAL_EVENT_SIGNED["hashes"])
        self.assertNotEqual(signed["signatures"], MINIMAL_EVENT_SIGNED["signatures"])
        verify_event_signature(signed, "domain", get_verify_key(self.key), V11)
        # `origin` is no longer covered by the v11 signature (only by the content hash).
        verify_event_signature({**signed, "origin": "elsewhere"}, "domain", get_verify_key(self.key), V11)
        self.assertRaises(EventSignatureError, verify_event_signature, {**signed, "origin": "elsewhere"},
                          "domain", get_verify_key(self.key), V4)

    def test_vectors_verify(self) -> None:
        verify_key = get_verify_key(self.key)
        verify_event_signature(MINIMAL_EVENT_SIGNED, "domain", verify_key, V1)
        verify_event_signature(REDACTABLE_EVENT_SIGNED, "domain", verify_key, V1)


class SignAndVerifyTest(unittest.TestCase):
    def setUp(self) -> None:
        self.key = generate_signing_key("abc")
        self.verify_key = get_verify_key(self.key)
        self.event = {
            "room_id": "!r:a.example", "sender": "@u:a.example", "origin_server_ts": 5, "type": "m.room.message",
            "content": {"body": "hi"}, "prev_events": [], "auth_events": [], "depth": 2,
            "hashes": {}, "signatures": {},
        }

    def test_does_not_mutate_input(self) -> None:
        before = copy.deepcopy(self.event)
        sign_event(self.event, "a.example", self.key, V4)
        self.assertEqual(self.event, before)

    def test_round_trip_and_tampering(self) -> None:
        signed = sign_event(self.event, "a.example", self.key, V4)
        self.assertIn("ed25519:abc", signed["signatures"]["a.example"])
        verify_event_signature(signed, "a.example", self.verify_key, V4)
        # Essential keys are covered by the signature.
        for key, value in [("type", "m.other"), ("sender", "@evil:a.example"), ("depth", 9),
                           ("hashes", {"sha256": "AAAA"})]:
            self.assertRaises(EventSignatureError, verify_event_signature, {**signed, key: value},
                              "a.example", self.verify_key, V4)
        # Redactable content is covered by the hash only: signature holds, hash check fails.
        tampered = {**signed, "content": {"body": "changed"}}
        verify_event_signature(tampered, "a.example", self.verify_key, V4)
        self.assertFalse(check_content_hash(tampered))
        # A redacted copy still verifies.
        verify_event_signature(redact(signed, V4), "a.example", self.verify_key, V4)

    def test_wrong_key_or_server(self) -> None:
        signed = sign_event(self.event, "a.example", self.key, V4)
        other = generate_signing_key("abc")
        self.assertRaises(EventSignatureError, verify_event_signature, signed, "a.example",
                          get_verify_key(other), V4)
        self.assertRaises(EventSignatureError, verify_event_signature, signed, "b.example", self.verify_key, V4)
        self.assertRaises(EventSignatureError, verify_event_signature, signed, "a.example",
                          get_verify_key(generate_signing_key("zzz")), V4)
        garbled = {**signed, "signatures": {"a.example": {"ed25519:abc": "@@@"}}}
        self.assertRaises(EventSignatureError, verify_event_signature, garbled, "a.example", self.verify_key, V4)

    def test_existing_hash_and_signatures_kept(self) -> None:
        first = sign_event(self.event, "a.example", self.key, V12)
        second_key = generate_signing_key("k2")
        both = sign_event(first, "b.example", second_key, V12)
        self.assertEqual(both["hashes"], first["hashes"])
        self.assertEqual(both["signatures"]["a.example"], first["signatures"]["a.example"])
        verify_event_signature(both, "a.example", self.verify_key, V12)
        verify_event_signature(both, "b.example", get_verify_key(second_key), V12)
        self.assertNotIn("b.example", first["signatures"])

    def test_check_signed_by(self) -> None:
        signed = sign_event(self.event, "a.example", self.key, V4)
        check_signed_by(signed, "a.example", {"ed25519:abc": self.verify_key, "ed25519:old": self.verify_key}, V4)
        # Signatures under key IDs we do not know are ignored ...
        extra = copy.deepcopy(signed)
        extra["signatures"]["a.example"]["ed25519:unknown"] = "garbage"
        check_signed_by(extra, "a.example", {"ed25519:abc": self.verify_key}, V4)
        # ... but there must be one under a known key, and every known one must verify.
        self.assertRaises(EventSignatureError, check_signed_by, signed, "a.example",
                          {"ed25519:other": self.verify_key}, V4)
        self.assertRaises(EventSignatureError, check_signed_by, signed, "b.example",
                          {"ed25519:abc": self.verify_key}, V4)
        bad = copy.deepcopy(signed)
        bad["signatures"]["a.example"]["ed25519:abc"] = signed["signatures"]["a.example"]["ed25519:abc"][:-4] + "AAAA"
        self.assertRaises(EventSignatureError, check_signed_by, bad, "a.example",
                          {"ed25519:abc": self.verify_key}, V4)

    def test_servers_required_to_sign(self) -> None:
        self.assertEqual(servers_required_to_sign(self.event, V4), {"a.example"})
        v1_event = {**self.event, "event_id": "$1:b.example"}
        self.assertEqual(servers_required_to_sign(v1_event, V1), {"a.example", "b.example"})
        self.assertRaises(EventSignatureError, servers_required_to_sign, {**self.event, "sender": "x"}, V4)
