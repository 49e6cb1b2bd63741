"""OpenID: POST /user/{userId}/openid/request_token and GET /_matrix/federation/v1/openid/userinfo."""

import hashlib
from urllib.parse import quote

from tests.server import HomeserverTestCase

V3 = "/_matrix/client/v3"
USERINFO = "/_matrix/federation/v1/openid/userinfo"


class OpenIdTest(HomeserverTestCase):
    async def request_token(self, token: str, user_id: str = "@alice:test") -> dict:
        r = await self.post(f"{V3}/user/{quote(user_id)}/openid/request_token", {}, token=token)
        self.assertEqual(r.code, 200, r.json)
        return r.json

    async def userinfo(self, openid_token: str):
        return await self.get(f"{USERINFO}?access_token={quote(openid_token)}")

    async def test_round_trip_and_expiry(self) -> None:
        alice = (await self.register("alice"))["access_token"]
        body = await self.request_token(alice)
        self.assertEqual(set(body), {"access_token", "token_type", "matrix_server_name", "expires_in"})
        self.assertEqual((body["token_type"], body["matrix_server_name"], body["expires_in"]),
                         ("Bearer", "test", 3600))
        r = await self.userinfo(body["access_token"])
        self.assertEqual((r.code, r.json), (200, {"sub": "@alice:test"}))
        # Only its hash is stored.
        rows = await self.hs.database.execute("rows", "SELECT token_hash, user_id FROM openid_tokens")
        self.assertEqual(rows, [(hashlib.sha256(body["access_token"].encode()).hexdigest(), "@alice:test")])
        # It is not an access token.
        r = await self.get(f"{V3}/account/whoami", token=body["access_token"])
        self.assert_error(r, 401, "M_UNKNOWN_TOKEN")
        r = await self.post(f"{V3}/user/{quote('@alice:test')}/openid/request_token", {}, token=body["access_token"])
        self.assert_error(r, 401, "M_UNKNOWN_TOKEN")
        # Still good just before it expires, gone after.
        self.advance(3599)
        self.assertEqual((await self.userinfo(body["access_token"])).code, 200)
        self.advance(1)
        self.assert_error(await self.userinfo(body["access_token"]), 401, "M_UNKNOWN_TOKEN")
        # Housekeeping deletes expired tokens, and only those.
        fresh = await self.request_token(alice)
        await self.hs.openid_handler.delete_expired_tokens()
        rows = await self.hs.database.execute("rows", "SELECT token_hash FROM openid_tokens")
        self.assertEqual(rows, [(hashlib.sha256(fresh["access_token"].encode()).hexdigest(),)])
        self.assertEqual((await self.userinfo(fresh["access_token"])).json, {"sub": "@alice:test"})

    async def test_only_for_yourself(self) -> None:
        alice = (await self.register("alice"))["access_token"]
        await self.register("bob")
        await self.assert_rejected_without_change(
            "POST", f"{V3}/user/{quote('@bob:test')}/openid/request_token", {}, 403, "M_FORBIDDEN", token=alice)
        await self.assert_rejected_without_change(
            "POST", f"{V3}/user/{quote('@alice:test')}/openid/request_token", {}, 401, "M_MISSING_TOKEN")
        await self.assert_rejected_without_change(
            "POST", f"{V3}/user/{quote('@alice:test')}/openid/request_token", None, 400, "M_BAD_JSON",
            token=alice, raw_body=b"[]")

    async def test_unknown_and_missing_tokens(self) -> None:
        alice = (await self.register("alice"))["access_token"]
        self.assert_error(await self.userinfo("made-up"), 401, "M_UNKNOWN_TOKEN")
        # An access token is not an OpenID token.
        self.assert_error(await self.userinfo(alice), 401, "M_UNKNOWN_TOKEN")
        self.assert_error(await self.get(USERINFO), 400, "M_MISSING_PARAM")

    async def test_deactivated_user(self) -> None:
        alice = (await self.register("alice"))["access_token"]
        body = await self.request_token(alice)
        r = await self.post(f"{V3}/account/deactivate", {
            "auth": {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": "alice"},
                     "password": "password"}}, token=alice)
        self.assertEqual(r.code, 200, r.json)
        self.assert_error(await self.userinfo(body["access_token"]), 401, "M_UNKNOWN_TOKEN")
