"""X-Matrix headers: what we send parses back and verifies; what other servers may send (spacing,
case, token values, escapes, unknown parameters) parses; anything else is refused."""

from __future__ import annotations

from signedjson.key import generate_signing_key, get_verify_key
from twisted.trial import unittest

from homeserver.federation.request_auth import (
    AuthHeaderError,
    authorization_header,
    parse_authorization_header,
    verify_request,
)


class RequestAuthTest(unittest.TestCase):
    def setUp(self) -> None:
        self.key = generate_signing_key("k1")
        self.verify_key = get_verify_key(self.key)

    def test_round_trip(self) -> None:
        content = {"pdus": [], "edus": [{"edu_type": "m.typing"}]}
        header = authorization_header("origin.test:8448", self.key, "dest.test", "PUT",
                                      "/_matrix/federation/v1/send/1?x=y", content)
        auth = parse_authorization_header(header)
        self.assertEqual((auth.origin, auth.destination, auth.key_id), ("origin.test:8448", "dest.test", "ed25519:k1"))
        self.assertTrue(verify_request(auth, self.verify_key, "dest.test", "PUT",
                                       "/_matrix/federation/v1/send/1?x=y", content))
        for method, uri, body, dest in (("POST", "/_matrix/federation/v1/send/1?x=y", content, "dest.test"),
                                        ("PUT", "/_matrix/federation/v1/send/2?x=y", content, "dest.test"),
                                        ("PUT", "/_matrix/federation/v1/send/1?x=y", {"pdus": []}, "dest.test"),
                                        ("PUT", "/_matrix/federation/v1/send/1?x=y", content, "other.test")):
            self.assertFalse(verify_request(auth, self.verify_key, dest, method, uri, body))
        other = get_verify_key(generate_signing_key("k1"))
        self.assertFalse(verify_request(auth, other, "dest.test", "PUT", "/_matrix/federation/v1/send/1?x=y", content))

    def test_get_without_content(self) -> None:
        header = authorization_header("o.test", self.key, "d.test", "GET", "/_matrix/federation/v1/version")
        auth = parse_authorization_header(header)
        self.assertTrue(verify_request(auth, self.verify_key, "d.test", "GET", "/_matrix/federation/v1/version", None))
        self.assertFalse(verify_request(auth, self.verify_key, "d.test", "GET", "/_matrix/federation/v1/version", {}))

    def test_liberal_parsing(self) -> None:
        for value in (
            'X-Matrix origin="o.test",destination="d.test",key="ed25519:k1",sig="abc"',
            'X-Matrix   ORIGIN = "o.test" , Destination="d.test",\tkey="ed25519:k1", sig=abc, extra="x"',
            'x-matrix origin=o.test,key=ed25519:k1,sig="abc",destination=d.test',
            'X-Matrix origin="o.\\test",destination="d.test",key="ed25519:k1",sig="a\\bc"',
        ):
            auth = parse_authorization_header(value)
            self.assertEqual((auth.origin, auth.key_id, auth.sig), ("o.test", "ed25519:k1", "abc"), value)
        auth = parse_authorization_header('X-Matrix origin="o.test",key="ed25519:k1",sig="abc"')
        self.assertIsNone(auth.destination)

    def test_refused(self) -> None:
        for value in (
            "Bearer abc",
            'X-Matrix origin="o.test",key="ed25519:k1"',
            'X-Matrix origin="o.test" key="ed25519:k1",sig="abc"',
            'X-Matrix origin="o.test,key="ed25519:k1",sig="abc"',
            'X-Matrix origin="",key="ed25519:k1",sig="abc"',
            "X-Matrix " + "a=b," * 2000,
            "",
        ):
            with self.assertRaises(AuthHeaderError, msg=value):
                parse_authorization_header(value)
