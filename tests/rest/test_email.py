"""E-mail on the client-server API, with the mailer's transport faked: requestToken (one mail per
send_attempt, the spec's errors), the mailed link (validates once, expires, next_link), sign-up
with the m.login.email.identity stage, password reset, adding, listing and deleting addresses,
and login with an address."""

from __future__ import annotations

from typing import Any

from homeserver.handlers.uia import EMAIL_IDENTITY
from tests.mail.fakes import EMAIL_CONFIG, link_params, mail_link, parse_mail
from tests.server import HomeserverTestCase

V3 = "/_matrix/client/v3"


class EmailTestCase(HomeserverTestCase):
    config_overrides: dict[str, Any] = {"email": EMAIL_CONFIG}

    async def _set_up(self) -> None:
        await super()._set_up()
        self.transport = self.hs.mailer.transport

    async def request_token(self, prefix: str, address: str, secret: str = "secret", attempt: int = 1,
                            **extra: Any) -> Any:
        return await self.post(f"{V3}/{prefix}/email/requestToken",
                               {"client_secret": secret, "email": address, "send_attempt": attempt, **extra})

    async def next_mail(self, count: int = 1) -> bytes:
        await self.pump_until(lambda: len(self.transport.sent) >= count)
        return self.transport.sent[count - 1][2]

    async def open_link(self, link: str, method: str = "GET") -> Any:
        path = link.removeprefix("https://matrix.test")
        return await self.request(method, path)

    async def validated_session(self, prefix: str, address: str, secret: str = "secret") -> str:
        r = await self.request_token(prefix, address, secret)
        self.assertEqual(r.code, 200, r.json)
        mail = await self.next_mail(len(self.transport.sent) + 1)
        link = mail_link(mail)
        if "password_reset" in link:
            self.assertEqual((await self.open_link(link, "POST")).code, 200)
        else:
            self.assertEqual((await self.open_link(link)).code, 200)
        return r.json["sid"]

    async def register_with_email(self, username: str, address: str, secret: str = "secret") -> Any:
        sid = await self.validated_session("register", address, secret)
        body: dict[str, Any] = {"username": username, "password": "password"}
        first = await self.post(f"{V3}/register", body)
        self.assertEqual(first.code, 401)
        body["auth"] = {"type": EMAIL_IDENTITY, "session": first.json["session"],
                        "threepid_creds": {"sid": sid, "client_secret": secret}}
        return await self.post(f"{V3}/register", body)


class RequestTokenTest(EmailTestCase):
    async def test_one_mail_per_send_attempt(self) -> None:
        r = await self.request_token("register", "Alice@Example.org")
        self.assertEqual(r.code, 200, r.json)
        sid = r.json["sid"]
        mail = parse_mail(await self.next_mail())
        self.assertEqual(self.transport.sent[0][1], "alice@example.org")
        self.assertEqual(mail["Subject"], "[test] Validate your email")
        first_link = mail_link(self.transport.sent[0][2])
        self.assertTrue(first_link.startswith(
            "https://matrix.test/_matrix/client/unstable/registration/email/submit_token?"), first_link)
        self.assertEqual(link_params(first_link)["sid"], sid)
        # The same attempt again (a retried request): same session, no second mail.
        r = await self.request_token("register", "alice@example.org")
        self.assertEqual(r.json, {"sid": sid})
        await self.pump()
        self.assertEqual(len(self.transport.sent), 1)
        # A new attempt: a new mail for the same session, whose link replaces the first one.
        r = await self.request_token("register", "alice@example.org", attempt=2)
        self.assertEqual(r.json, {"sid": sid})
        second_link = mail_link(await self.next_mail(2))
        self.assertNotEqual(first_link, second_link)
        self.assertEqual((await self.open_link(first_link)).code, 400)
        self.assertEqual((await self.open_link(second_link)).code, 200)
        # Another client secret is another session.
        r = await self.request_token("register", "alice@example.org", secret="other")
        self.assertNotEqual(r.json["sid"], sid)

    async def test_bad_input_changes_nothing(self) -> None:
        for prefix in ("register", "account/password", "account/3pid"):
            for body, errcode in [
                ({"client_secret": "s", "email": "not-an-address", "send_attempt": 1}, "M_INVALID_PARAM"),
                ({"client_secret": "s p a c e", "email": "a@example.org", "send_attempt": 1}, "M_INVALID_PARAM"),
                ({"client_secret": "s", "email": "a@example.org", "send_attempt": 1,
                  "next_link": "javascript:alert(1)"}, "M_INVALID_PARAM"),
                ({"client_secret": "s", "email": "a@example.org"}, "M_MISSING_PARAM"),
                ({"client_secret": "s", "email": "a@example.org", "send_attempt": "1"}, "M_BAD_JSON"),
            ]:
                await self.assert_rejected_without_change("POST", f"{V3}/{prefix}/email/requestToken", body,
                                                          400, errcode)
        await self.pump()
        self.assertEqual(self.transport.sent, [])

    async def test_in_use_and_not_found(self) -> None:
        r = await self.register_with_email("alice", "alice@example.org")
        self.assertEqual(r.code, 200, r.json)
        sent = len(self.transport.sent)
        for prefix in ("register", "account/3pid"):
            await self.assert_rejected_without_change(
                "POST", f"{V3}/{prefix}/email/requestToken",
                {"client_secret": "x", "email": "ALICE@example.org", "send_attempt": 1}, 400, "M_THREEPID_IN_USE")
        await self.assert_rejected_without_change(
            "POST", f"{V3}/account/password/email/requestToken",
            {"client_secret": "x", "email": "nobody@example.org", "send_attempt": 1}, 400, "M_THREEPID_NOT_FOUND")
        await self.pump()
        self.assertEqual(len(self.transport.sent), sent)

    async def test_capability(self) -> None:
        token = (await self.register("bob"))["access_token"]
        r = await self.get(f"{V3}/capabilities", token=token)
        self.assertEqual(r.json["capabilities"]["m.3pid_changes"], {"enabled": True})


class AllowedThreepidsTest(EmailTestCase):
    config_overrides = {"email": EMAIL_CONFIG,
                        "allowed_local_3pids": [{"medium": "email", "pattern": r"[^@]+@example\.org"}]}

    async def test_denied(self) -> None:
        for prefix in ("register", "account/3pid"):
            await self.assert_rejected_without_change(
                "POST", f"{V3}/{prefix}/email/requestToken",
                {"client_secret": "x", "email": "eve@elsewhere.net", "send_attempt": 1}, 403, "M_THREEPID_DENIED")
        self.assertEqual((await self.request_token("register", "ok@example.org")).code, 200)


class LinkTest(EmailTestCase):
    async def test_link_validates_once(self) -> None:
        await self.request_token("register", "alice@example.org")
        link = mail_link(await self.next_mail())
        r = await self.open_link(link)
        self.assertEqual(r.code, 200)
        self.assertIn(b"confirmed", r.body)
        self.assertTrue(r.headers["content-type"].startswith("text/html"))
        r = await self.open_link(link)
        self.assertEqual(r.code, 400)
        self.assertIn(b"used already", r.body)

    async def test_wrong_secret_or_token(self) -> None:
        await self.request_token("register", "alice@example.org")
        link = mail_link(await self.next_mail())
        for bad in (link.replace("client_secret=secret", "client_secret=guess"),
                    link.replace("token=", "token=x"), link.replace("/registration/", "/add_threepid/"),
                    link.split("?")[0]):
            r = await self.open_link(bad)
            self.assertEqual(r.code, 400, bad)
        self.assertEqual((await self.open_link(link)).code, 200)

    async def test_expired(self) -> None:
        await self.request_token("register", "alice@example.org")
        link = mail_link(await self.next_mail())
        self.advance(3600)  # validation_token_lifetime: 1h by default
        r = await self.open_link(link)
        self.assertEqual(r.code, 400)
        self.assertIn(b"expired", r.body)

    async def test_next_link(self) -> None:
        await self.request_token("register", "alice@example.org", next_link="https://app.example.org/done")
        r = await self.open_link(mail_link(await self.next_mail()))
        self.assertEqual((r.code, r.headers["location"]), (302, "https://app.example.org/done"))


class RegistrationTest(EmailTestCase):
    config_overrides = {"email": EMAIL_CONFIG, "enable_registration_without_verification": False,
                        "registrations_require_3pid": ["email"]}

    async def test_email_required(self) -> None:
        r = await self.post(f"{V3}/register", {"username": "alice", "password": "password"})
        self.assertEqual(r.code, 401)
        self.assertEqual(r.json["flows"], [{"stages": [EMAIL_IDENTITY]}])
        # m.login.dummy is not enough.
        r2 = await self.post(f"{V3}/register", {"auth": {"type": "m.login.dummy", "session": r.json["session"]}})
        self.assert_error(r2, 400, "M_UNRECOGNIZED")

    async def test_unvalidated_session_refused(self) -> None:
        r = await self.request_token("register", "alice@example.org")
        sid = r.json["sid"]
        first = await self.post(f"{V3}/register", {"username": "alice", "password": "password"})
        body = {"auth": {"type": EMAIL_IDENTITY, "session": first.json["session"],
                         "threepid_creds": {"sid": sid, "client_secret": "secret"}}}
        r = await self.post(f"{V3}/register", body)
        self.assertEqual((r.code, r.json["errcode"]), (401, "M_UNAUTHORIZED"))
        self.assertNotIn("completed", r.json)
        r = await self.post(f"{V3}/register", {"auth": {**body["auth"], "threepid_creds": {
            "sid": sid, "client_secret": "wrong"}}})
        self.assertEqual(r.code, 401)
        self.assertEqual(await self.hs.users_store.user_exists("@alice:test"), False)

    async def test_register_binds_address_and_login_by_email(self) -> None:
        r = await self.register_with_email("alice", "Alice@Example.org")
        self.assertEqual(r.code, 200, r.json)
        r = await self.get(f"{V3}/account/3pid", token=r.json["access_token"])
        self.assertEqual([(t["medium"], t["address"]) for t in r.json["threepids"]],
                         [("email", "alice@example.org")])
        self.assertIsInstance(r.json["threepids"][0]["validated_at"], int)
        self.assertIsInstance(r.json["threepids"][0]["added_at"], int)
        for body in ({"identifier": {"type": "m.id.thirdparty", "medium": "email", "address": "ALICE@example.org"}},
                     {"medium": "email", "address": "alice@example.org"}):
            r = await self.post(f"{V3}/login", {"type": "m.login.password", "password": "password", **body})
            self.assertEqual((r.code, r.json.get("user_id")), (200, "@alice:test"), r.json)
        r = await self.post(f"{V3}/login", {"type": "m.login.password", "password": "wrong", "identifier": {
            "type": "m.id.thirdparty", "medium": "email", "address": "alice@example.org"}})
        self.assert_error(r, 403, "M_FORBIDDEN")
        r = await self.post(f"{V3}/login", {"type": "m.login.password", "password": "password", "identifier": {
            "type": "m.id.thirdparty", "medium": "email", "address": "nobody@example.org"}})
        self.assert_error(r, 403, "M_FORBIDDEN")
        r = await self.post(f"{V3}/login", {"type": "m.login.password", "password": "password", "identifier": {
            "type": "m.id.thirdparty", "medium": "email"}})
        self.assert_error(r, 400, "M_MISSING_PARAM")

    async def test_validated_session_used_once(self) -> None:
        sid = await self.validated_session("register", "alice@example.org")
        creds = {"sid": sid, "client_secret": "secret"}
        for username, code in (("alice", 200), ("alice2", 401)):
            first = await self.post(f"{V3}/register", {"username": username, "password": "password"})
            r = await self.post(f"{V3}/register", {"username": username, "password": "password", "auth": {
                "type": EMAIL_IDENTITY, "session": first.json["session"], "threepid_creds": creds}})
            self.assertEqual(r.code, code, r.json)

    async def test_session_of_another_purpose_refused(self) -> None:
        sid = await self.validated_session("account/3pid", "alice@example.org")
        first = await self.post(f"{V3}/register", {"username": "alice", "password": "password"})
        r = await self.post(f"{V3}/register", {"username": "alice", "password": "password", "auth": {
            "type": EMAIL_IDENTITY, "session": first.json["session"],
            "threepid_creds": {"sid": sid, "client_secret": "secret"}}})
        self.assert_error(r, 403, "M_FORBIDDEN")
        self.assertFalse(await self.hs.users_store.user_exists("@alice:test"))


class PasswordResetTest(EmailTestCase):
    async def test_reset(self) -> None:
        r = await self.register_with_email("alice", "alice@example.org")
        self.assertEqual(r.code, 200, r.json)
        old_token = r.json["access_token"]
        r = await self.request_token("account/password", "alice@example.org", secret="reset")
        sid = r.json["sid"]
        mail = await self.next_mail(2)
        self.assertEqual(parse_mail(mail)["Subject"], "[test] Password reset")
        link = mail_link(mail)
        self.assertIn("/password_reset/email/submit_token?", link)
        # Opening the link only asks for confirmation: nothing is validated yet.
        page = await self.open_link(link)
        self.assertEqual(page.code, 200)
        self.assertIn(b'<form method="post">', page.body)
        creds = {"sid": sid, "client_secret": "reset"}
        body = {"new_password": "new-password", "auth": {"type": EMAIL_IDENTITY, "threepid_creds": creds}}
        r = await self.post(f"{V3}/account/password", body)
        self.assertEqual((r.code, r.json["errcode"]), (401, "M_UNAUTHORIZED"))
        self.assertEqual((await self.open_link(link, "POST")).code, 200)
        r = await self.post(f"{V3}/account/password", body)
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual((await self.get(f"{V3}/account/whoami", token=old_token)).code, 401)  # logged out
        await self.login("alice", "new-password")
        # The validation is used up.
        r = await self.post(f"{V3}/account/password", {**body, "new_password": "third"})
        self.assertEqual(r.code, 401)
        await self.login("alice", "new-password")

    async def test_password_flows_offer_email(self) -> None:
        r = await self.post(f"{V3}/account/password", {"new_password": "x"})
        self.assertEqual(r.code, 401)
        self.assertIn({"stages": [EMAIL_IDENTITY]}, r.json["flows"])

    async def test_registration_session_cannot_reset(self) -> None:
        await self.register_with_email("alice", "alice@example.org")
        sid = await self.validated_session("register", "bob@example.org", secret="s2")
        r = await self.post(f"{V3}/account/password", {"new_password": "hacked", "auth": {
            "type": EMAIL_IDENTITY, "threepid_creds": {"sid": sid, "client_secret": "s2"}}})
        self.assertIn(r.code, (401, 403))
        await self.login("alice", "password")


class AddAndDeleteTest(EmailTestCase):
    async def add(self, token: str, sid: str, secret: str = "secret", password: str = "password") -> Any:
        body: dict[str, Any] = {"sid": sid, "client_secret": secret}
        first = await self.post(f"{V3}/account/3pid/add", body, token=token)
        self.assertEqual(first.code, 401, first.json)
        body["auth"] = {"type": "m.login.password", "session": first.json["session"], "password": password,
                        "identifier": {"type": "m.id.user", "user": "bob"}}
        return await self.post(f"{V3}/account/3pid/add", body, token=token)

    async def test_add_list_delete(self) -> None:
        token = (await self.register("bob"))["access_token"]
        sid = await self.validated_session("account/3pid", "bob@example.org")
        r = await self.add(token, sid)
        self.assertEqual(r.code, 200, r.json)
        r = await self.get(f"{V3}/account/3pid", token=token)
        self.assertEqual([t["address"] for t in r.json["threepids"]], ["bob@example.org"])
        # The session is used up.
        self.assert_error(await self.add(token, sid), 400, "M_THREEPID_AUTH_FAILED")
        r = await self.post(f"{V3}/account/3pid/delete", {"medium": "email", "address": "BOB@example.org"},
                            token=token)
        self.assertEqual((r.code, r.json), (200, {"id_server_unbind_result": "no-support"}))
        self.assertEqual((await self.get(f"{V3}/account/3pid", token=token)).json, {"threepids": []})
        r = await self.post(f"{V3}/login", {"type": "m.login.password", "password": "password",
                                            "medium": "email", "address": "bob@example.org"})
        self.assert_error(r, 403, "M_FORBIDDEN")

    async def test_password_stage_names_the_user_by_address(self) -> None:
        r = await self.register_with_email("carol", "carol@example.org")
        token = r.json["access_token"]
        sid = await self.validated_session("account/3pid", "carol2@example.org")
        body: dict[str, Any] = {"sid": sid, "client_secret": "secret"}
        first = await self.post(f"{V3}/account/3pid/add", body, token=token)
        body["auth"] = {"type": "m.login.password", "session": first.json["session"], "password": "password",
                        "identifier": {"type": "m.id.thirdparty", "medium": "email", "address": "Carol@example.org"}}
        r = await self.post(f"{V3}/account/3pid/add", body, token=token)
        self.assertEqual(r.code, 200, r.json)

    async def test_add_refused(self) -> None:
        token = (await self.register("bob"))["access_token"]
        r = await self.request_token("account/3pid", "bob@example.org")
        sid = r.json["sid"]
        await self.next_mail()
        # Not validated yet.
        self.assert_error(await self.add(token, sid), 400, "M_THREEPID_AUTH_FAILED")
        self.assertEqual((await self.get(f"{V3}/account/3pid", token=token)).json, {"threepids": []})
        # Wrong password: the UIA stage fails.
        link = mail_link(self.transport.sent[0][2])
        await self.open_link(link)
        self.assertEqual((await self.add(token, sid, password="wrong")).code, 401)
        # Someone else bound the address meanwhile.
        await self.register_with_email("carol", "bob@example.org", secret="c")
        self.assert_error(await self.add(token, sid), 400, "M_THREEPID_IN_USE")
        self.assertEqual((await self.get(f"{V3}/account/3pid", token=token)).json, {"threepids": []})

    async def test_delete_of_unbound_changes_nothing(self) -> None:
        token = (await self.register("bob"))["access_token"]
        await self.register_with_email("carol", "carol@example.org")
        before = await self.snapshot()
        r = await self.post(f"{V3}/account/3pid/delete", {"medium": "email", "address": "carol@example.org"},
                            token=token)
        self.assertEqual(r.code, 200)
        self.assertEqual(await self.snapshot(), before)

    async def test_deactivation_frees_the_address(self) -> None:
        r = await self.register_with_email("carol", "carol@example.org")
        token = r.json["access_token"]
        first = await self.post(f"{V3}/account/deactivate", {}, token=token)
        r = await self.post(f"{V3}/account/deactivate", {"auth": {
            "type": "m.login.password", "session": first.json["session"], "password": "password",
            "identifier": {"type": "m.id.user", "user": "carol"}}}, token=token)
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual((await self.request_token("register", "carol@example.org", secret="again")).code, 200)


class NoEmailTest(HomeserverTestCase):
    async def test_without_email_section(self) -> None:
        token = (await self.register("bob"))["access_token"]
        r = await self.get(f"{V3}/capabilities", token=token)
        self.assertEqual(r.json["capabilities"]["m.3pid_changes"], {"enabled": False})
        r = await self.post(f"{V3}/register", {"username": "x"})
        self.assertEqual(r.json["flows"], [{"stages": ["m.login.dummy"]}])
        r = await self.post(f"{V3}/account/password", {"new_password": "x"}, token=token)
        self.assertEqual(r.json["flows"], [{"stages": ["m.login.password"]}])


class RateLimitTest(EmailTestCase):
    config_overrides = {"email": EMAIL_CONFIG, "rc_3pid_validation": {"per_second": 0.001, "burst_count": 2}}

    async def test_mails_per_address_and_per_ip(self) -> None:
        for attempt in (1, 2):
            self.assertEqual((await self.request_token("register", "alice@example.org", attempt=attempt)).code, 200)
        await self.next_mail(2)
        # A third mail to the address is refused (and nothing is sent), even from elsewhere...
        self.hs.threepid_validation_limiter._buckets.pop("ip:127.0.0.1", None)  # as if from another client
        r = await self.request_token("register", "alice@example.org", secret="other")
        self.assert_error(r, 429, "M_LIMIT_EXCEEDED")
        # ...and a client address has a number of requests, whatever the address (a refused request
        # cost it nothing).
        for address in ("bob@example.org", "carol@example.org"):
            self.assertEqual((await self.request_token("register", address)).code, 200)
        r = await self.request_token("register", "dave@example.org")
        self.assert_error(r, 429, "M_LIMIT_EXCEEDED")
        await self.next_mail(4)
        await self.pump()
        self.assertEqual([to for _, to, _ in self.transport.sent],
                         ["alice@example.org", "alice@example.org", "bob@example.org", "carol@example.org"])
