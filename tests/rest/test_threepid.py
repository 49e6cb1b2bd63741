"""Third-party identifiers on a server that sends no email or SMS and uses no identity server:
each endpoint answers with the spec's error for that (or, for removals, `no-support`), never a
404, and changes nothing."""

from tests.server import HomeserverTestCase

V3 = "/_matrix/client/v3"
EMAIL = {"client_secret": "secret", "email": "alice@example.org", "send_attempt": 1}
MSISDN = {"client_secret": "secret", "country": "GB", "phone_number": "07700900001", "send_attempt": 1}


class ThreepidTest(HomeserverTestCase):
    async def test_request_token_endpoints(self) -> None:
        for prefix in ("register", "account/password", "account/3pid"):
            await self.assert_rejected_without_change("POST", f"{V3}/{prefix}/email/requestToken", EMAIL,
                                                      400, "M_THREEPID_MEDIUM_NOT_SUPPORTED")
            await self.assert_rejected_without_change("POST", f"{V3}/{prefix}/msisdn/requestToken", MSISDN,
                                                      400, "M_THREEPID_MEDIUM_NOT_SUPPORTED")
            r = await self.post(f"{V3}/{prefix}/email/requestToken", {"email": "alice@example.org"})
            self.assert_error(r, 400, "M_MISSING_PARAM")
            r = await self.post(f"{V3}/{prefix}/msisdn/requestToken", {**MSISDN, "send_attempt": "1"})
            self.assert_error(r, 400, "M_BAD_JSON")

    async def test_add_bind_and_remove(self) -> None:
        token = (await self.register("alice"))["access_token"]
        await self.assert_rejected_without_change("POST", f"{V3}/account/3pid/add",
                                                  {"client_secret": "s", "sid": "1"}, 400,
                                                  "M_THREEPID_MEDIUM_NOT_SUPPORTED", token=token)
        await self.assert_rejected_without_change("POST", f"{V3}/account/3pid",
                                                  {"three_pid_creds": {"sid": "1", "client_secret": "s"}}, 400,
                                                  "M_THREEPID_MEDIUM_NOT_SUPPORTED", token=token)
        await self.assert_rejected_without_change(
            "POST", f"{V3}/account/3pid/bind",
            {"client_secret": "s", "sid": "1", "id_server": "id.example.org", "id_access_token": "t"},
            400, "M_SERVER_NOT_TRUSTED", token=token)
        self.assert_error(await self.post(f"{V3}/account/3pid/bind", {"sid": "1"}, token=token), 400, "M_MISSING_PARAM")
        for action in ("delete", "unbind"):
            before = await self.snapshot()
            r = await self.post(f"{V3}/account/3pid/{action}", {"medium": "email", "address": "a@example.org"},
                                token=token)
            self.assertEqual((r.code, r.json), (200, {"id_server_unbind_result": "no-support"}))
            self.assertEqual(await self.snapshot(), before)
            r = await self.post(f"{V3}/account/3pid/{action}", {"medium": "fax", "address": "1"}, token=token)
            self.assert_error(r, 400, "M_INVALID_PARAM")
            self.assert_error(await self.post(f"{V3}/account/3pid/{action}", {"medium": "email", "address": "a@b"}),
                              401, "M_MISSING_TOKEN")
        self.assert_error(await self.post(f"{V3}/account/3pid/add", {"client_secret": "s", "sid": "1"}),
                          401, "M_MISSING_TOKEN")
        r = await self.get(f"{V3}/account/3pid", token=token)
        self.assertEqual((r.code, r.json), (200, {"threepids": []}))
