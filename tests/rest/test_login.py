"""/login (password, token), refresh tokens, logout."""

from tests.server import HomeserverTestCase

LOGIN = "/_matrix/client/v3/login"
WHOAMI = "/_matrix/client/v3/account/whoami"


class LoginTest(HomeserverTestCase):
    config_overrides = {"login_via_existing_session": {"enabled": True}}

    async def test_flows(self) -> None:
        r = await self.get(LOGIN)
        types = [f["type"] for f in r.json["flows"]]
        self.assertEqual(types, ["m.login.password", "m.login.token"])
        self.assertEqual(r.json["flows"][1]["get_login_token"], True)

    async def test_password_login_with_identifier_and_legacy_user(self) -> None:
        await self.register("alice", password="pw")
        r = await self.login("alice", "pw", device_id="MYDEVICE", initial_device_display_name="Laptop")
        self.assertEqual(r["user_id"], "@alice:test")
        self.assertEqual(r["device_id"], "MYDEVICE")
        self.assertEqual(r["well_known"], {"m.homeserver": {"base_url": "https://matrix.test/"}})
        self.assertNotIn("refresh_token", r)
        r2 = await self.post(LOGIN, {"type": "m.login.password", "user": "@alice:test", "password": "pw"})
        self.assertEqual(r2.code, 200)
        who = await self.get(WHOAMI, token=r["access_token"])
        self.assertEqual(who.json["device_id"], "MYDEVICE")

    async def test_relogin_on_same_device_replaces_its_tokens(self) -> None:
        await self.register("alice", password="pw")
        first = await self.login("alice", "pw", device_id="DEV")
        second = await self.login("alice", "pw", device_id="DEV")
        self.assert_error(await self.get(WHOAMI, token=first["access_token"]), 401, "M_UNKNOWN_TOKEN")
        self.assertEqual((await self.get(WHOAMI, token=second["access_token"])).code, 200)

    async def test_wrong_password_and_unknown_user(self) -> None:
        await self.register("alice", password="pw")
        body = {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": "alice"}, "password": "no"}
        await self.assert_rejected_without_change("POST", LOGIN, body, 403, "M_FORBIDDEN")
        body["identifier"]["user"] = "nobody"
        await self.assert_rejected_without_change("POST", LOGIN, body, 403, "M_FORBIDDEN")
        body["identifier"]["user"] = "@alice:elsewhere"
        await self.assert_rejected_without_change("POST", LOGIN, body, 403, "M_FORBIDDEN")

    async def test_bad_login_requests(self) -> None:
        await self.assert_rejected_without_change("POST", LOGIN, {"type": "m.login.magic"}, 400, "M_UNKNOWN")
        await self.assert_rejected_without_change("POST", LOGIN, {"password": "x"}, 400, "M_MISSING_PARAM")
        await self.assert_rejected_without_change(
            "POST", LOGIN, {"type": "m.login.password", "password": "x"}, 400, "M_MISSING_PARAM")
        await self.assert_rejected_without_change(
            "POST", LOGIN, {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": "a"}},
            400, "M_MISSING_PARAM")
        await self.assert_rejected_without_change(
            "POST", LOGIN, {"type": "m.login.password", "identifier": {"type": "m.id.thirdparty",
                                                                        "medium": "email", "address": "a@b"},
                            "password": "x"}, 403, "M_FORBIDDEN")

    async def test_login_token_from_get_token(self) -> None:
        user = await self.register("alice", password="pw")
        url = "/_matrix/client/v1/login/get_token"
        first = await self.post(url, {}, token=user["access_token"])
        self.assertEqual(first.code, 401)
        self.assertEqual(first.json["flows"], [{"stages": ["m.login.password"]}])
        wrong = await self.post(url, {"auth": {"type": "m.login.password", "session": first.json["session"],
                                               "identifier": {"type": "m.id.user", "user": "alice"},
                                               "password": "wrong"}}, token=user["access_token"])
        self.assert_error(wrong, 401, "M_FORBIDDEN")
        ok = await self.post(url, {"auth": {"type": "m.login.password", "session": first.json["session"],
                                            "identifier": {"type": "m.id.user", "user": "alice"},
                                            "password": "pw"}}, token=user["access_token"])
        self.assertEqual(ok.code, 200, ok.json)
        self.assertEqual(ok.json["expires_in_ms"], 300_000)
        r = await self.post(LOGIN, {"type": "m.login.token", "token": ok.json["login_token"]})
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual(r.json["user_id"], "@alice:test")
        # Single use.
        r = await self.post(LOGIN, {"type": "m.login.token", "token": ok.json["login_token"]})
        self.assert_error(r, 403, "M_FORBIDDEN")

    async def test_login_token_expires(self) -> None:
        user = await self.register("alice", password="pw")
        first = await self.post("/_matrix/client/v1/login/get_token", {}, token=user["access_token"])
        ok = await self.post("/_matrix/client/v1/login/get_token",
                             {"auth": {"type": "m.login.password", "session": first.json["session"],
                                       "password": "pw"}}, token=user["access_token"])
        self.advance(301)
        await self.assert_rejected_without_change(
            "POST", LOGIN, {"type": "m.login.token", "token": ok.json["login_token"]}, 403, "M_FORBIDDEN")

    async def test_logout(self) -> None:
        await self.register("alice", password="pw")
        a = await self.login("alice", "pw")
        b = await self.login("alice", "pw")
        r = await self.post("/_matrix/client/v3/logout", {}, token=a["access_token"])
        self.assertEqual(r.code, 200)
        self.assert_error(await self.get(WHOAMI, token=a["access_token"]), 401, "M_UNKNOWN_TOKEN")
        devices = await self.get("/_matrix/client/v3/devices", token=b["access_token"])
        self.assertNotIn(a["device_id"], [d["device_id"] for d in devices.json["devices"]])

    async def test_logout_all(self) -> None:
        user = await self.register("alice", password="pw")
        a = await self.login("alice", "pw")
        r = await self.post("/_matrix/client/v3/logout/all", {}, token=a["access_token"])
        self.assertEqual(r.code, 200)
        for token in (a["access_token"], user["access_token"]):
            self.assert_error(await self.get(WHOAMI, token=token), 401, "M_UNKNOWN_TOKEN")
        self.assertEqual((await self.snapshot())["devices"], [])


class RefreshTokenTest(HomeserverTestCase):
    config_overrides = {"refreshable_access_token_lifetime": "1m"}

    async def test_refresh_flow(self) -> None:
        await self.register("alice", password="pw")
        r = await self.login("alice", "pw", refresh_token=True)
        self.assertEqual(r["expires_in_ms"], 60_000)
        access, refresh = r["access_token"], r["refresh_token"]
        self.assertEqual((await self.get(WHOAMI, token=access)).code, 200)

        self.advance(61)
        expired = await self.get(WHOAMI, token=access)
        self.assert_error(expired, 401, "M_UNKNOWN_TOKEN")
        self.assertIs(expired.json["soft_logout"], True)

        new = await self.post("/_matrix/client/v3/refresh", {"refresh_token": refresh})
        self.assertEqual(new.code, 200, new.json)
        self.assertEqual(new.json["expires_in_ms"], 60_000)
        # Until the new tokens are used, the old refresh token still works (the client may have
        # lost the answer); using it again discards the unused new pair.
        retry = await self.post("/_matrix/client/v3/refresh", {"refresh_token": refresh})
        self.assertEqual(retry.code, 200)
        self.assert_error(await self.get(WHOAMI, token=new.json["access_token"]), 401, "M_UNKNOWN_TOKEN")
        who = await self.get(WHOAMI, token=retry.json["access_token"])
        self.assertEqual(who.json["device_id"], r["device_id"])
        # Now the new access token has been used: the old refresh token is revoked.
        again = await self.post("/_matrix/client/v3/refresh", {"refresh_token": refresh})
        self.assert_error(again, 401, "M_UNKNOWN_TOKEN")
        # The chain goes on.
        nxt = await self.post("/_matrix/client/v3/refresh", {"refresh_token": retry.json["refresh_token"]})
        self.assertEqual(nxt.code, 200)

    async def test_unknown_refresh_token(self) -> None:
        await self.assert_rejected_without_change("POST", "/_matrix/client/v3/refresh", {"refresh_token": "x"},
                                                  401, "M_UNKNOWN_TOKEN")
        await self.assert_rejected_without_change("POST", "/_matrix/client/v3/refresh", {}, 400, "M_MISSING_PARAM")


class RefreshTokenLifetimeTest(HomeserverTestCase):
    config_overrides = {"refresh_token_lifetime": "10m", "nonrefreshable_access_token_lifetime": "1h"}

    async def test_refresh_token_expires_and_plain_tokens_expire(self) -> None:
        await self.register("alice", password="pw")
        plain = await self.login("alice", "pw")
        self.assertEqual(plain["expires_in_ms"], 3_600_000)
        r = await self.login("alice", "pw", refresh_token=True)
        self.advance(601)
        expired = await self.post("/_matrix/client/v3/refresh", {"refresh_token": r["refresh_token"]})
        self.assert_error(expired, 401, "M_UNKNOWN_TOKEN")
        self.assertIs(expired.json["soft_logout"], True)
        self.advance(3600)
        self.assert_error(await self.get(WHOAMI, token=plain["access_token"]), 401, "M_UNKNOWN_TOKEN")


class LoginRateLimitTest(HomeserverTestCase):
    def make_config_overrides(self):
        return {"rc_login": {"address": {"per_second": 0.1, "burst_count": 2},
                             "account": {"per_second": 1000, "burst_count": 1000},
                             "failed_attempts": {"per_second": 1000, "burst_count": 1000}}}

    async def test_rate_limited_per_address(self) -> None:
        await self.register("alice", password="pw")
        await self.login("alice", "pw")
        await self.login("alice", "pw")
        before = await self.snapshot()
        r = await self.post(LOGIN, {"type": "m.login.password", "user": "alice", "password": "pw"})
        self.assert_error(r, 429, "M_LIMIT_EXCEEDED")
        self.assertGreater(r.json["retry_after_ms"], 0)
        self.assertEqual(r.headers["retry-after"], str(-(-r.json["retry_after_ms"] // 1000)))
        self.assertEqual(await self.snapshot(), before)
        self.advance(11)
        await self.login("alice", "pw")


class FailedLoginRateLimitTest(HomeserverTestCase):
    def make_config_overrides(self):
        return {"rc_login": {"address": {"per_second": 1000, "burst_count": 1000},
                             "account": {"per_second": 1000, "burst_count": 1000},
                             "failed_attempts": {"per_second": 0.1, "burst_count": 2}}}

    async def test_failed_attempts_per_account(self) -> None:
        await self.register("alice", password="pw")
        body = {"type": "m.login.password", "user": "alice", "password": "wrong"}
        for _ in range(2):
            self.assert_error(await self.post(LOGIN, body), 403, "M_FORBIDDEN")
        r = await self.post(LOGIN, dict(body, password="pw"))
        self.assert_error(r, 429, "M_LIMIT_EXCEEDED")
