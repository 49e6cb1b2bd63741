from twisted.trial import unittest

from homeserver.api.errors import MatrixError
from homeserver.api.identifiers import UserID, check_new_localpart, generate_localpart


class IdentifiersTest(unittest.TestCase):
    def test_parse_user_id(self) -> None:
        u = UserID.parse("@alice:example.com:8448")
        self.assertEqual((u.localpart, u.domain), ("alice", "example.com:8448"))
        for bad in ["alice", "@:x", "@alice", "@alice:"]:
            self.assertRaises(MatrixError, UserID.parse, bad)

    def test_localpart_rules(self) -> None:
        for good in ["alice", "a.b_c=d-e/f+g", "x1"]:
            check_new_localpart(good, "example.com")
        for bad in ["", "Alice", "a b", "_bridge", "007", "a" * 250]:
            with self.assertRaises(MatrixError) as cm:
                check_new_localpart(bad, "example.com")
            self.assertEqual(cm.exception.errcode, "M_INVALID_USERNAME")

    def test_generated_localparts_are_valid(self) -> None:
        for _ in range(50):
            check_new_localpart(generate_localpart(), "example.com")
