"""POST /register with user-interactive auth, /register/available, registration tokens."""

from tests.server import HomeserverTestCase

REGISTER = "/_matrix/client/v3/register"


class OpenRegistrationTest(HomeserverTestCase):
    async def test_uia_dummy_flow(self) -> None:
        first = await self.post(REGISTER, {"username": "alice", "password": "pw"})
        self.assertEqual(first.code, 401)
        self.assertEqual(first.json["flows"], [{"stages": ["m.login.dummy"]}])
        self.assertIn("session", first.json)
        self.assertEqual(first.json["params"], {})
        second = await self.post(REGISTER, {
            "username": "alice", "password": "pw", "initial_device_display_name": "Phone",
            "auth": {"type": "m.login.dummy", "session": first.json["session"]},
        })
        self.assertEqual(second.code, 200, second.json)
        self.assertEqual(second.json["user_id"], "@alice:test")
        self.assertEqual(second.json["home_server"], "test")
        token = second.json["access_token"]
        r = await self.get("/_matrix/client/v3/account/whoami", token=token)
        self.assertEqual(r.json, {"user_id": "@alice:test", "device_id": second.json["device_id"], "is_guest": False})
        r = await self.get("/_matrix/client/v3/devices", token=token)
        self.assertEqual([d["display_name"] for d in r.json["devices"]], ["Phone"])
        # The session is used up.
        again = await self.post(REGISTER, {"username": "alice2", "password": "pw",
                                           "auth": {"type": "m.login.dummy", "session": first.json["session"]}})
        self.assert_error(again, 400, "M_UNKNOWN")

    async def test_auth_in_first_request_without_session(self) -> None:
        r = await self.post(REGISTER, {"username": "bob", "password": "pw", "auth": {"type": "m.login.dummy"}})
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual(r.json["user_id"], "@bob:test")

    async def test_username_is_lowercased_and_password_login_works(self) -> None:
        user = await self.register("Carol", password="s3cret")
        self.assertEqual(user["user_id"], "@carol:test")
        await self.login("CAROL", "s3cret")

    async def test_generated_username(self) -> None:
        first = await self.post(REGISTER, {"password": "pw"})
        r = await self.post(REGISTER, {"password": "pw", "auth": {"type": "m.login.dummy",
                                                                  "session": first.json["session"]}})
        self.assertEqual(r.code, 200)
        self.assertRegex(r.json["user_id"], r"^@[a-z0-9]+:test$")

    async def test_inhibit_login(self) -> None:
        user = await self.register("dave", inhibit_login=True)
        self.assertEqual(set(user), {"user_id", "home_server"})
        self.assertEqual((await self.snapshot())["devices"], [])

    async def test_refresh_token_on_register(self) -> None:
        user = await self.register("erin", refresh_token=True)
        self.assertIn("refresh_token", user)
        self.assertEqual(user["expires_in_ms"], 300_000)

    async def test_user_in_use(self) -> None:
        await self.register("frank")
        await self.assert_rejected_without_change("POST", REGISTER, {"username": "frank", "password": "x"},
                                                  400, "M_USER_IN_USE")
        await self.assert_rejected_without_change("POST", REGISTER, {"username": "FRANK", "password": "x"},
                                                  400, "M_USER_IN_USE")

    async def test_invalid_usernames(self) -> None:
        for bad in ["", "has space", "émile", "_reserved", "12345", "a:b", "x" * 300]:
            await self.assert_rejected_without_change("POST", REGISTER, {"username": bad, "password": "x"},
                                                      400, "M_INVALID_USERNAME")

    async def test_guest_registration_is_forbidden(self) -> None:
        await self.assert_rejected_without_change("POST", REGISTER + "?kind=guest", {}, 403,
                                                  "M_GUEST_ACCESS_FORBIDDEN")

    async def test_unknown_session_and_unoffered_stage(self) -> None:
        await self.assert_rejected_without_change(
            "POST", REGISTER, {"username": "g", "auth": {"type": "m.login.dummy", "session": "nope"}},
            400, "M_UNKNOWN")
        first = await self.post(REGISTER, {"username": "g", "password": "pw"})
        await self.assert_rejected_without_change(
            "POST", REGISTER,
            {"username": "g", "auth": {"type": "m.login.recaptcha", "session": first.json["session"]}},
            400, "M_UNRECOGNIZED")

    async def test_available(self) -> None:
        r = await self.get("/_matrix/client/v3/register/available?username=henry")
        self.assertEqual(r.json, {"available": True})
        await self.register("henry")
        r = await self.get("/_matrix/client/v3/register/available?username=henry")
        self.assert_error(r, 400, "M_USER_IN_USE")
        r = await self.get("/_matrix/client/v3/register/available?username=bad%20name")
        self.assert_error(r, 400, "M_INVALID_USERNAME")

    async def test_get_register_lists_flows(self) -> None:
        r = await self.get(REGISTER)
        self.assertEqual(r.json["flows"], [{"stages": ["m.login.dummy"]}])


class RegistrationDisabledTest(HomeserverTestCase):
    config_overrides = {"enable_registration": False}

    async def test_forbidden(self) -> None:
        await self.assert_rejected_without_change("POST", REGISTER, {"username": "alice", "password": "pw"},
                                                  403, "M_FORBIDDEN")
        r = await self.get("/_matrix/client/v1/register/m.login.registration_token/validity?token=abc")
        self.assert_error(r, 403, "M_FORBIDDEN")


class PasswordPolicyTest(HomeserverTestCase):
    config_overrides = {"password_config": {"argon2_opslimit": 1, "argon2_memlimit": 8192,
                                            "policy": {"enabled": True, "minimum_length": 8, "require_digit": True}}}

    async def test_weak_password(self) -> None:
        await self.assert_rejected_without_change("POST", REGISTER, {"username": "al", "password": "short"},
                                                  400, "M_WEAK_PASSWORD")
        await self.register("al", password="long enough 1")


class TokenRegistrationTest(HomeserverTestCase):
    config_overrides = {"enable_registration_without_verification": False, "registration_requires_token": True}

    async def _admin_token(self) -> str:
        r = await self.request("GET", "/_synapse/admin/v1/register")
        nonce = r.json["nonce"]
        import hashlib
        import hmac

        mac = hmac.new(b"shared-secret", b"\x00".join([nonce.encode(), b"root", b"rootpw", b"admin"]),
                       hashlib.sha1).hexdigest()
        r = await self.post("/_synapse/admin/v1/register",
                            {"nonce": nonce, "username": "root", "password": "rootpw", "admin": True, "mac": mac})
        self.assertEqual(r.code, 200, r.json)
        return r.json["access_token"]

    async def test_token_flow(self) -> None:
        admin = await self._admin_token()
        r = await self.post("/_synapse/admin/v1/registration_tokens/new", {"token": "abcd", "uses_allowed": 1},
                            token=admin)
        self.assertEqual(r.json, {"token": "abcd", "uses_allowed": 1, "pending": 0, "completed": 0,
                                  "expiry_time": None})
        r = await self.get("/_matrix/client/v1/register/m.login.registration_token/validity?token=abcd")
        self.assertEqual(r.json, {"valid": True})
        r = await self.get("/_matrix/client/v1/register/m.login.registration_token/validity?token=zzzz")
        self.assertEqual(r.json, {"valid": False})

        first = await self.post(REGISTER, {"username": "ivy", "password": "pw"})
        self.assertEqual(first.json["flows"], [{"stages": ["m.login.registration_token"]}])
        session = first.json["session"]
        bad = await self.post(REGISTER, {"username": "ivy", "password": "pw",
                                         "auth": {"type": "m.login.registration_token", "token": "zzzz",
                                                  "session": session}})
        self.assert_error(bad, 401, "M_UNAUTHORIZED")
        self.assertEqual(bad.json["session"], session)
        dummy = await self.post(REGISTER, {"username": "ivy", "password": "pw",
                                           "auth": {"type": "m.login.dummy", "session": session}})
        self.assert_error(dummy, 400, "M_UNRECOGNIZED")
        ok = await self.post(REGISTER, {"username": "ivy", "password": "pw",
                                        "auth": {"type": "m.login.registration_token", "token": "abcd",
                                                 "session": session}})
        self.assertEqual(ok.code, 200, ok.json)
        r = await self.get("/_synapse/admin/v1/registration_tokens/abcd", token=admin)
        self.assertEqual((r.json["pending"], r.json["completed"]), (0, 1))
        # Used up.
        r = await self.get("/_matrix/client/v1/register/m.login.registration_token/validity?token=abcd")
        self.assertEqual(r.json, {"valid": False})
        first = await self.post(REGISTER, {"username": "jack", "password": "pw"})
        r = await self.post(REGISTER, {"username": "jack", "password": "pw",
                                       "auth": {"type": "m.login.registration_token", "token": "abcd",
                                                "session": first.json["session"]}})
        self.assert_error(r, 401, "M_UNAUTHORIZED")

    async def test_expired_token(self) -> None:
        admin = await self._admin_token()
        now_ms = int(self.fake_time.seconds() * 1000)
        await self.post("/_synapse/admin/v1/registration_tokens/new",
                        {"token": "soon", "expiry_time": now_ms + 1000}, token=admin)
        r = await self.get("/_matrix/client/v1/register/m.login.registration_token/validity?token=soon")
        self.assertEqual(r.json, {"valid": True})
        self.advance(2)
        r = await self.get("/_matrix/client/v1/register/m.login.registration_token/validity?token=soon")
        self.assertEqual(r.json, {"valid": False})
