"""Shared-secret registration and the admin API."""

import hashlib
import hmac

from tests.server import HomeserverTestCase

URL = "/_synapse/admin/v1/register"


def mac(nonce: str, user: str, password: str, admin: bool, secret: bytes = b"shared-secret") -> str:
    msg = b"\x00".join([nonce.encode(), user.encode(), password.encode(), b"admin" if admin else b"notadmin"])
    return hmac.new(secret, msg, hashlib.sha1).hexdigest()


class SharedSecretRegistrationTest(HomeserverTestCase):
    async def _nonce(self) -> str:
        r = await self.get(URL)
        self.assertEqual(r.code, 200)
        return r.json["nonce"]

    async def test_register_admin_and_user(self) -> None:
        nonce = await self._nonce()
        r = await self.post(URL, {"nonce": nonce, "username": "root", "password": "pw", "admin": True,
                                  "mac": mac(nonce, "root", "pw", True)})
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual(r.json["user_id"], "@root:test")
        self.assertIn("device_id", r.json)
        self.assertTrue(await self.hs.auth_handler.is_admin("@root:test"))
        nonce = await self._nonce()
        r = await self.post(URL, {"nonce": nonce, "username": "joe", "password": "pw",
                                  "mac": mac(nonce, "joe", "pw", False)})
        self.assertEqual(r.code, 200, r.json)
        self.assertFalse(await self.hs.auth_handler.is_admin("@joe:test"))
        await self.login("joe", "pw")

    async def test_bad_mac_and_reused_nonce(self) -> None:
        nonce = await self._nonce()
        body = {"nonce": nonce, "username": "x", "password": "pw", "mac": mac(nonce, "x", "pw", True)}
        await self.assert_rejected_without_change("POST", URL, body, 403, "M_FORBIDDEN")
        nonce = await self._nonce()
        body = {"nonce": nonce, "username": "x", "password": "pw", "mac": mac(nonce, "x", "pw", False, b"bad")}
        await self.assert_rejected_without_change("POST", URL, body, 403, "M_FORBIDDEN")
        nonce = await self._nonce()
        body = {"nonce": nonce, "username": "x", "password": "pw", "mac": mac(nonce, "x", "pw", False)}
        self.assertEqual((await self.post(URL, body)).code, 200)
        await self.assert_rejected_without_change("POST", URL, body, 400, "M_UNKNOWN")

    async def test_nonce_expires(self) -> None:
        nonce = await self._nonce()
        self.advance(61)
        body = {"nonce": nonce, "username": "x", "password": "pw", "mac": mac(nonce, "x", "pw", False)}
        await self.assert_rejected_without_change("POST", URL, body, 400, "M_UNKNOWN")

    async def test_admin_api_needs_admin(self) -> None:
        user = await self.register("alice")
        r = await self.get("/_synapse/admin/v1/registration_tokens", token=user["access_token"])
        self.assert_error(r, 403, "M_FORBIDDEN")

    async def test_admin_login_token(self) -> None:
        nonce = await self._nonce()
        admin = (await self.post(URL, {"nonce": nonce, "username": "root", "password": "pw", "admin": True,
                                       "mac": mac(nonce, "root", "pw", True)})).json
        await self.register("alice")
        r = await self.post("/_synapse/admin/v1/users/@alice:test/login_token", {}, token=admin["access_token"])
        self.assertEqual(r.code, 200, r.json)
        login = await self.post("/_matrix/client/v3/login", {"type": "m.login.token", "token": r.json["login_token"]})
        self.assertEqual(login.json["user_id"], "@alice:test")
        r = await self.post("/_synapse/admin/v1/users/@nobody:test/login_token", {}, token=admin["access_token"])
        self.assert_error(r, 404, "M_NOT_FOUND")


class NoSharedSecretTest(HomeserverTestCase):
    config_overrides = {"registration_shared_secret": None}

    async def test_disabled(self) -> None:
        self.assert_error(await self.get(URL), 400, "M_UNKNOWN")
