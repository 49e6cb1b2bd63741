"""The UIA stage fallback pages and the login fallback page."""

from urllib.parse import urlencode

from tests.server import HomeserverTestCase

REGISTER = "/_matrix/client/v3/register"


class AuthFallbackTest(HomeserverTestCase):
    async def form_post(self, path: str, fields: dict) -> object:
        return await self.request("POST", path, raw_body=urlencode(fields).encode(),
                                  headers={"Content-Type": "application/x-www-form-urlencoded"})

    async def test_dummy_stage_in_browser_then_resubmit_with_session_only(self) -> None:
        first = await self.post(REGISTER, {"username": "alice", "password": "pw"})
        session = first.json["session"]
        url = f"/_matrix/client/v3/auth/m.login.dummy/fallback/web?session={session}"
        page = await self.get(url)
        self.assertEqual(page.code, 200)
        self.assertTrue(page.headers["content-type"].startswith("text/html"))
        self.assertIn(session.encode(), page.body)
        done = await self.form_post(url, {"session": session})
        self.assertIn(b'postMessage("authDone", "*")', done.body)
        r = await self.post(REGISTER, {"username": "alice", "password": "pw", "auth": {"session": session}})
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual(r.json["user_id"], "@alice:test")

    async def test_password_stage_for_a_logged_in_user(self) -> None:
        me = await self.register("alice", password="pw")
        first = await self.post("/_matrix/client/v3/account/password", {"new_password": "new"},
                                token=me["access_token"])
        session = first.json["session"]
        url = f"/_matrix/client/v3/auth/m.login.password/fallback/web?session={session}"
        page = await self.get(url)
        self.assertIn(b'name="password"', page.body)
        self.assertNotIn(b'name="username"', page.body)
        wrong = await self.form_post(url, {"session": session, "password": "nope"})
        self.assertIn(b"Invalid username or password", wrong.body)
        self.assertNotIn(b"authDone", wrong.body)
        done = await self.form_post(url, {"session": session, "password": "pw"})
        self.assertIn(b"authDone", done.body)
        r = await self.post("/_matrix/client/v3/account/password", {"new_password": "new", "auth": {"session": session}},
                            token=me["access_token"])
        self.assertEqual(r.code, 200, r.json)
        await self.login("alice", "new")

    async def test_stage_not_offered_or_unknown(self) -> None:
        first = await self.post(REGISTER, {"username": "alice", "password": "pw"})
        session = first.json["session"]
        r = await self.form_post(f"/_matrix/client/v3/auth/m.login.password/fallback/web?session={session}",
                                 {"session": session, "password": "x"})
        self.assert_error(r, 400, "M_UNRECOGNIZED")
        r = await self.get(f"/_matrix/client/v3/auth/m.login.recaptcha/fallback/web?session={session}")
        self.assert_error(r, 404, "M_UNRECOGNIZED")
        r = await self.get("/_matrix/client/v3/auth/m.login.dummy/fallback/web?session=unknown")
        self.assert_error(r, 400, "M_UNKNOWN")
        r = await self.get("/_matrix/client/v3/auth/m.login.dummy/fallback/web")
        self.assert_error(r, 400, "M_MISSING_PARAM")


class LoginFallbackTest(HomeserverTestCase):
    async def test_page(self) -> None:
        r = await self.get("/_matrix/static/client/login/")
        self.assertEqual(r.code, 200)
        self.assertTrue(r.headers["content-type"].startswith("text/html"))
        self.assertIn(b"window.matrixLogin.onLogin(json)", r.body)
        self.assertIn(b"/_matrix/client/v3/login", r.body)
