"""Identifiers are checked against their whole grammar (issue 12 item 1): with `re.match` and
`^...$`, `$` matched before a final newline, so "name-\n" passed for "name-"."""

from __future__ import annotations

import hashlib
import hmac
import os
import re

from twisted.trial import unittest

from homeserver.api.errors import MatrixError
from homeserver.api.identifiers import UserID, check_new_localpart, is_valid_server_name
from homeserver.handlers.directory import parse_alias
from homeserver.handlers.e2e_keys import split_key_id
from homeserver.handlers.media.repository import check_media_id, check_server_name
from tests.rest.e2e_support import E2ETestCase, SigningKey
from tests.rest.test_rooms import V3

REGISTER = f"{V3}/register"


class GrammarTest(unittest.TestCase):
    def test_a_trailing_newline_fails_every_grammar(self) -> None:
        refused = [
            lambda: check_new_localpart("name-\n", "test"),
            lambda: UserID.parse("@alice:test\n"),
            lambda: UserID.parse("@alice\n:test"),
            lambda: check_media_id("abcDEF\n"),
            lambda: check_server_name("test\n"),
            lambda: split_key_id("signed_curve25519\n:AAAA", "one_time_keys"),
            lambda: parse_alias("#room:test\n"),
        ]
        for check in refused:
            self.assertRaises(MatrixError, check)
        self.assertFalse(is_valid_server_name("example.com:8448\n"))
        # and the same identifiers without the newline are fine
        check_new_localpart("name-", "test")
        self.assertEqual(UserID.parse("@alice:test:8448").domain, "test:8448")
        check_media_id("abcDEF")
        check_server_name("[::1]:8448")
        self.assertEqual(split_key_id("signed_curve25519:AAAA", "x"), ("signed_curve25519", "AAAA"))


class TrailingNewlineRegistrationTest(E2ETestCase):
    async def _admin_token(self) -> str:
        nonce = (await self.get("/_synapse/admin/v1/register")).json["nonce"]
        mac = hmac.new(b"shared-secret", b"\x00".join([nonce.encode(), b"root", b"rootpw", b"admin"]),
                       hashlib.sha1).hexdigest()
        r = await self.post("/_synapse/admin/v1/register",
                            {"nonce": nonce, "username": "root", "password": "rootpw", "admin": True, "mac": mac})
        self.assertEqual(r.code, 200, r.json)
        return r.json["access_token"]

    async def test_register_refuses_a_username_with_a_trailing_newline(self) -> None:
        body = {"username": "name-\n", "password": "password"}
        await self.assert_rejected_without_change("POST", REGISTER, body, 400, "M_INVALID_USERNAME")
        # Also once a UIA session is under way.
        first = await self.post(REGISTER, {"username": "name-", "password": "password"})
        body["auth"] = {"type": "m.login.dummy", "session": first.json["session"]}
        await self.assert_rejected_without_change("POST", REGISTER, body, 400, "M_INVALID_USERNAME")
        r = await self.get(f"{V3}/register/available?username=name-%0A")
        self.assert_error(r, 400, "M_INVALID_USERNAME")
        self.assertFalse(await self.hs.users_store.user_exists("@name-\n:test"))
        # The shared-secret admin registration checks the same grammar.
        nonce = (await self.get("/_synapse/admin/v1/register")).json["nonce"]
        mac = hmac.new(b"shared-secret", b"\x00".join([nonce.encode(), b"name-\n", b"pw", b"notadmin"]),
                       hashlib.sha1).hexdigest()
        await self.assert_rejected_without_change(
            "POST", "/_synapse/admin/v1/register",
            {"nonce": nonce, "username": "name-\n", "password": "pw", "admin": False, "mac": mac},
            400, "M_INVALID_USERNAME")

    async def test_login_with_a_trailing_newline_is_refused(self) -> None:
        await self.register("alice")
        for user in ("alice\n", "@alice:test\n"):
            r = await self.post(f"{V3}/login", {"type": "m.login.password", "password": "password",
                                                 "identifier": {"type": "m.id.user", "user": user}})
            self.assertIn(r.code, (400, 403), r.json)

    async def test_admin_registration_token_with_a_trailing_newline(self) -> None:
        admin = await self._admin_token()
        await self.assert_rejected_without_change("POST", "/_synapse/admin/v1/registration_tokens/new",
                                                  {"token": "abcd\n"}, 400, "M_INVALID_PARAM", token=admin)


class TrailingNewlineIdentifiersTest(E2ETestCase):
    async def test_profile_field_names_and_user_ids(self) -> None:
        reg = await self.register("alice")
        token = reg["access_token"]
        await self.assert_rejected_without_change("PUT", f"{V3}/profile/@alice:test/org.example.field%0A",
                                                  {"org.example.field\n": "x"}, 400, "M_INVALID_PARAM", token=token)
        await self.assert_rejected_without_change("PUT", f"{V3}/profile/@alice:test%0A/displayname",
                                                  {"displayname": "x"}, 400, "M_INVALID_PARAM", token=token)
        r = await self.get(f"{V3}/profile/@alice:test%0A", token=token)
        self.assert_error(r, 400, "M_INVALID_PARAM")

    async def test_e2e_key_ids_and_public_keys(self) -> None:
        reg, device = await self.account("alice")
        token = reg["access_token"]
        otk = device.one_time_keys(1)
        (key_id, key), = otk.items()
        await self.assert_rejected_without_change(
            "POST", f"{V3}/keys/upload", {"one_time_keys": {key_id.replace(":", "\n:"): key}},
            400, "M_INVALID_PARAM", token=token)
        keys = dict(device.device_keys()["keys"])
        keys[f"ed25519:{device.device_id}"] += "\n"
        await self.assert_rejected_without_change(
            "POST", f"{V3}/keys/upload", {"device_keys": device.device_keys(keys=keys)}, 400, "M_INVALID_PARAM",
            token=token)

    async def test_cross_signing_public_key(self) -> None:
        reg, _ = await self.account("alice")
        master = SigningKey()
        public = master.public + "\n"
        body = {"master_key": {"user_id": "@alice:test", "usage": ["master"], "keys": {f"ed25519:{public}": public}}}
        await self.assert_rejected_without_change("POST", f"{V3}/keys/device_signing/upload", body,
                                                  400, "M_INVALID_PARAM", token=reg["access_token"])

    async def test_room_alias_and_media_ids(self) -> None:
        reg = await self.register("alice")
        token = reg["access_token"]
        r = await self.post(f"{V3}/createRoom", {}, token=token)
        room_id = r.json["room_id"]
        await self.assert_rejected_without_change("PUT", f"{V3}/directory/room/%23room:test%0A",
                                                  {"room_id": room_id}, 400, "M_INVALID_PARAM", token=token)
        r = await self.get("/_matrix/client/v1/media/download/test%0A/abcdef", token=token)
        self.assert_error(r, 404, "M_NOT_FOUND")


class NoPartialMatchesTest(unittest.TestCase):
    """The same mistake elsewhere: the server's code checks grammars with `fullmatch`, and its JSON
    Schema patterns (searched with Python's `re`) end with `\\Z`, never `$`."""

    def test_no_re_match_and_no_dollar_anchored_schema_patterns(self) -> None:
        root = os.path.join(os.path.dirname(__file__), "..", "..", "homeserver")
        allowed = {"self._router.match(", "_PARAM.match(rest, pos)"}  # a router; a scanner at a position
        found = []
        for dirpath, _, names in os.walk(root):
            for name in names:
                if not name.endswith((".py", ".yaml")):
                    continue
                path = os.path.join(dirpath, name)
                with open(path, encoding="utf-8") as f:
                    for number, line in enumerate(f, 1):
                        if ".match(" in line and not any(a in line for a in allowed):
                            found.append(f"{path}:{number}: {line.strip()}")
                        if re.search(r"""pattern["']?\s*:\s*["'][^"']*\$["']""", line):
                            found.append(f"{path}:{number}: {line.strip()}")
        self.assertEqual(found, [])
