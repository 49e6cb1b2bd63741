"""Account lifecycle through matrix-nio against the real server process: registration (UIA),
login, devices, password change, refresh tokens and logout."""

from __future__ import annotations

import asyncio

from nio import (
    DeleteDevicesAuthResponse,
    DeleteDevicesResponse,
    DevicesResponse,
    LoginError,
    LoginResponse,
    LogoutResponse,
    RegisterResponse,
    UpdateDeviceResponse,
    WhoamiError,
    WhoamiResponse,
)

from tests.clients.nio_support import (
    OPEN_REGISTRATION,
    NioTestCase,
    flow_stages,
    password_auth,
    user_id,
)

V3 = "/_matrix/client/v3"


class NioAccountTestCase(NioTestCase):
    # ------------------------------------------------------------------ helpers

    async def register(self, server, localpart, password, device_name="nio test device"):
        """Register through the full UIA dance: an auth-less request for the flows and session,
        then nio's ``register`` completing m.login.dummy with that session."""
        probe = self.client(server)
        status, body = await self.raw(probe, "POST", f"{V3}/register", {
            "username": localpart, "password": password,
        })
        self.assertEqual(status, 401, f"auth-less /register must be a UIA 401; got {status} {body!r}")
        self.assertIsInstance(body.get("session"), str, f"UIA 401 without a session: {body!r}")
        self.assertIn(["m.login.dummy"], flow_stages(body),
                      f"open registration should offer a lone m.login.dummy flow: {body!r}")

        client = self.client(server, localpart)
        resp = await client.register(localpart, password, device_name=device_name,
                                     session_token=body["session"])
        self.assert_nio_ok(resp, RegisterResponse, f"register {localpart}")
        self.assertEqual(resp.user_id, user_id(localpart))
        self.assertTrue(resp.device_id and resp.access_token, repr(resp))
        self.assertEqual(client.access_token, resp.access_token)
        return client

    async def password_login(self, server, localpart, password, device_id=None, device_name=""):
        client = self.client(server, localpart, device_id=device_id)
        resp = await client.login(password, device_name=device_name)
        self.assert_nio_ok(resp, LoginResponse, f"login {localpart} device {device_id}")
        self.assertEqual(resp.user_id, user_id(localpart))
        if device_id is not None:
            self.assertEqual(resp.device_id, device_id, "login must keep the requested device_id")
        return client

    async def device_names(self, client):
        resp = await client.devices()
        if not isinstance(resp, DevicesResponse):
            # nio's schema is stricter than the spec's; show the raw body to tell which side is off.
            status, body = await self.raw(client, "GET", f"{V3}/devices")
            self.fail(f"nio devices() -> {resp!r}; raw GET /devices -> {status} {body!r}")
        return {device.id: device.display_name for device in resp.devices}

    # ------------------------------------------------------------------ registration

    def test_register_with_user_interactive_auth(self):
        server = self.start_server(OPEN_REGISTRATION)

        async def scenario():
            probe = self.client(server)
            status, body = await self.raw(probe, "GET", f"{V3}/register/available?username=alice")
            self.assertEqual((status, body), (200, {"available": True}))

            alice = await self.register(server, "alice", "correct horse", device_name="Alice phone")

            resp = await alice.whoami()
            self.assert_nio_ok(resp, WhoamiResponse, "whoami after register")
            self.assertEqual(resp.user_id, "@alice:localhost")
            self.assertEqual(resp.device_id, alice.device_id)

            names = await self.device_names(alice)
            self.assertEqual(names, {alice.device_id: "Alice phone"})

            status, body = await self.raw(probe, "GET", f"{V3}/register/available?username=alice")
            self.assertEqual((status, body.get("errcode")), (400, "M_USER_IN_USE"), repr(body))

            # Registering the taken name again must fail with M_USER_IN_USE, either straight away
            # or once the dummy stage is completed.
            request = {"username": "alice", "password": "other password"}
            status, body = await self.raw(probe, "POST", f"{V3}/register", request)
            if status == 401:
                request["auth"] = {"type": "m.login.dummy", "session": body.get("session")}
                status, body = await self.raw(probe, "POST", f"{V3}/register", request)
            self.assertEqual((status, body.get("errcode")), (400, "M_USER_IN_USE"),
                             f"re-registering alice: {body!r}")

        self.run_scenario(scenario)

    def test_register_single_request_with_dummy_auth(self):
        """nio's plain ``register()`` sends m.login.dummy straight away without a session, as many
        bots do; Synapse accepts that, so clients rely on it."""
        server = self.start_server(OPEN_REGISTRATION)

        async def scenario():
            client = self.client(server, "bot")
            resp = await client.register("bot", "bot password")
            self.assert_nio_ok(resp, RegisterResponse, "one-shot dummy registration")
            self.assertEqual(resp.user_id, "@bot:localhost")
            who = await client.whoami()
            self.assert_nio_ok(who, WhoamiResponse, "whoami")
            self.assertEqual(who.user_id, "@bot:localhost")

        self.run_scenario(scenario)

    # ------------------------------------------------------------------ devices

    def test_devices_list_rename_and_delete_with_uia(self):
        server = self.start_server(OPEN_REGISTRATION)

        async def scenario():
            alice = await self.register(server, "alice", "s3cret pass", device_name="Phone")
            dev_a = alice.device_id
            laptop = await self.password_login(server, "alice", "s3cret pass",
                                               device_id="LAPTOPDEV", device_name="Laptop")
            token_b = laptop.access_token

            who = await laptop.whoami()
            self.assert_nio_ok(who, WhoamiResponse, "whoami device B")
            self.assertEqual((who.user_id, who.device_id), ("@alice:localhost", "LAPTOPDEV"))

            self.assertEqual(await self.device_names(alice), {dev_a: "Phone", "LAPTOPDEV": "Laptop"})

            resp = await alice.update_device("LAPTOPDEV", {"display_name": "Work laptop"})
            self.assert_nio_ok(resp, UpdateDeviceResponse, "rename device B")
            self.assertEqual(await self.device_names(laptop),
                             {dev_a: "Phone", "LAPTOPDEV": "Work laptop"})
            status, body = await self.raw(alice, "PUT", f"{V3}/devices/NOSUCHDEV",
                                          {"display_name": "ghost"})
            self.assertEqual((status, body.get("errcode")), (404, "M_NOT_FOUND"), repr(body))
            status, body = await self.raw(alice, "GET", f"{V3}/devices/LAPTOPDEV")
            self.assertEqual(status, 200, repr(body))
            self.assertEqual((body.get("device_id"), body.get("display_name")),
                             ("LAPTOPDEV", "Work laptop"))

            # First attempt without auth: the UIA 401 with a session and a password flow.
            resp = await alice.delete_devices(["LAPTOPDEV"])
            self.assertIsInstance(resp, DeleteDevicesAuthResponse, repr(resp))
            self.assertEqual(resp.transport_response.status, 401)
            self.assertIn(["m.login.password"], [f.get("stages") for f in resp.flows], repr(resp))
            session = resp.session

            # A wrong password is a failed stage: 401 with errcode, and the device survives.
            status, body = await self.raw(alice, "POST", f"{V3}/delete_devices", {
                "devices": ["LAPTOPDEV"],
                "auth": password_auth("alice", "wrong password", session),
            })
            self.assertEqual(status, 401, f"wrong password on delete_devices: {status} {body!r}")
            self.assertEqual(body.get("errcode"), "M_FORBIDDEN", repr(body))
            self.assertIn("LAPTOPDEV", await self.device_names(alice))
            await self.assert_token_works(alice, token_b, "@alice:localhost", "device B after failed UIA")

            resp = await alice.delete_devices(["LAPTOPDEV"],
                                              auth=password_auth("alice", "s3cret pass", session))
            self.assert_nio_ok(resp, DeleteDevicesResponse, "delete_devices with password auth")
            self.assertEqual(resp.transport_response.status, 200)

            self.assertEqual(await self.device_names(alice), {dev_a: "Phone"})
            status, body = await self.raw(alice, "GET", f"{V3}/devices/LAPTOPDEV")
            self.assertEqual((status, body.get("errcode")), (404, "M_NOT_FOUND"), repr(body))

            # Device B's token died with its device: a hard logout, not a soft one.
            resp = await laptop.whoami()
            self.assertIsInstance(resp, WhoamiError, repr(resp))
            self.assert_nio_error(resp, 401, "M_UNKNOWN_TOKEN", "whoami with deleted device's token")
            self.assertFalse(resp.soft_logout, "a deleted device is not a soft logout")

            await self.assert_token_works(alice, alice.access_token, "@alice:localhost", "device A")

        self.run_scenario(scenario)

    # ------------------------------------------------------------------ password change

    async def change_password(self, client, localpart, old, new, logout_devices=None):
        body = {"new_password": new}
        if logout_devices is not None:
            body["logout_devices"] = logout_devices
        status, uia = await self.raw(client, "POST", f"{V3}/account/password", body)
        self.assertEqual(status, 401, f"password change without auth must be a UIA 401: {uia!r}")
        self.assertIsInstance(uia.get("session"), str, repr(uia))
        self.assertIn(["m.login.password"], flow_stages(uia), repr(uia))

        body["auth"] = password_auth(localpart, old, uia["session"])
        status, resp = await self.raw(client, "POST", f"{V3}/account/password", body)
        self.assertEqual((status, resp), (200, {}), "password change with auth")

    def test_change_password(self):
        server = self.start_server(OPEN_REGISTRATION)

        async def scenario():
            alice = await self.register(server, "alice", "old password")
            other = await self.password_login(server, "alice", "old password", device_id="OTHER")
            other_token = other.access_token

            # Wrong current password: a failed stage, and the password is unchanged.
            status, uia = await self.raw(alice, "POST", f"{V3}/account/password",
                                         {"new_password": "nope"})
            self.assertEqual(status, 401, repr(uia))
            status, body = await self.raw(alice, "POST", f"{V3}/account/password", {
                "new_password": "nope",
                "auth": password_auth("alice", "not the password", uia.get("session")),
            })
            self.assertEqual((status, body.get("errcode")), (401, "M_FORBIDDEN"), repr(body))

            await self.change_password(alice, "alice", "old password", "new password")

            # The requesting token survives (spec: SHOULD NOT revoke it) ...
            await self.assert_token_works(alice, alice.access_token, "@alice:localhost",
                                          "the token that changed the password")
            # ... the other device is logged out (logout_devices defaults to true) and gone.
            await self.assert_token_rejected(alice, other_token, what="other device after change")
            self.assertNotIn("OTHER", await self.device_names(alice))

            stale = self.client(server, "alice")
            resp = await stale.login("old password")
            self.assertIsInstance(resp, LoginError, repr(resp))
            self.assert_nio_error(resp, 403, "M_FORBIDDEN", "login with the old password")

            fresh = await self.password_login(server, "alice", "new password")
            who = await fresh.whoami()
            self.assert_nio_ok(who, WhoamiResponse, "whoami after new-password login")
            self.assertEqual(who.user_id, "@alice:localhost")

        self.run_scenario(scenario)

    def test_change_password_keeping_other_devices(self):
        server = self.start_server(OPEN_REGISTRATION)

        async def scenario():
            alice = await self.register(server, "alice", "old password")
            other = await self.password_login(server, "alice", "old password", device_id="KEEPME")

            await self.change_password(alice, "alice", "old password", "new password",
                                       logout_devices=False)
            await self.assert_token_works(alice, other.access_token, "@alice:localhost",
                                          "other device with logout_devices=false")
            self.assertIn("KEEPME", await self.device_names(alice))

            resp = await self.client(server, "alice").login("old password")
            self.assert_nio_error(resp, 403, "M_FORBIDDEN", "login with the old password")
            await self.password_login(server, "alice", "new password")

        self.run_scenario(scenario)

    # ------------------------------------------------------------------ refresh tokens

    def test_refresh_tokens(self):
        lifetime_s = 3
        server = self.start_server({**OPEN_REGISTRATION,
                                    "refreshable_access_token_lifetime": f"{lifetime_s}s"})

        async def scenario():
            await self.register(server, "alice", "pw for refresh")
            raw = self.client(server)

            # Registration can hand out a refresh token too.
            request = {"username": "bob", "password": "bob pw", "refresh_token": True}
            status, body = await self.raw(raw, "POST", f"{V3}/register", request)
            self.assertEqual(status, 401, repr(body))
            request["auth"] = {"type": "m.login.dummy", "session": body.get("session")}
            status, body = await self.raw(raw, "POST", f"{V3}/register", request)
            self.assertEqual(status, 200, f"register with refresh_token: {body!r}")
            self.assertIsInstance(body.get("refresh_token"), str, repr(body))
            self.assertIsInstance(body.get("expires_in_ms"), int, repr(body))
            self.assertTrue(0 < body["expires_in_ms"] <= lifetime_s * 1000, repr(body))
            await self.assert_token_works(raw, body["access_token"], "@bob:localhost",
                                          "bob's registration access token")

            status, login = await self.raw(raw, "POST", f"{V3}/login", {
                **password_auth("alice", "pw for refresh"),
                "device_id": "REFRESHDEV",
                "refresh_token": True,
            }, token=None)
            self.assertEqual(status, 200, f"login with refresh_token: {login!r}")
            self.assertEqual((login.get("user_id"), login.get("device_id")),
                             ("@alice:localhost", "REFRESHDEV"))
            self.assertIsInstance(login.get("refresh_token"), str, f"no refresh_token: {login!r}")
            expires = login.get("expires_in_ms")
            self.assertIsInstance(expires, int, f"no integer expires_in_ms: {login!r}")
            self.assertTrue(0 < expires <= lifetime_s * 1000, f"expires_in_ms {expires}")
            first_access, first_refresh = login["access_token"], login["refresh_token"]
            well_known = login.get("well_known")
            if well_known is not None:
                # Clients SHOULD reconfigure themselves from it, so it must point at this server.
                self.assertEqual(well_known.get("m.homeserver", {}).get("base_url", "").rstrip("/"),
                                 server.base_url, f"login well_known: {well_known!r}")

            await self.assert_token_works(raw, first_access, "@alice:localhost", "first access token")

            status, refreshed = await self.raw(raw, "POST", f"{V3}/refresh",
                                               {"refresh_token": first_refresh}, token=None)
            self.assertEqual(status, 200, f"/refresh: {refreshed!r}")
            second_access = refreshed.get("access_token")
            self.assertIsInstance(second_access, str, repr(refreshed))
            self.assertNotEqual(second_access, first_access)
            self.assertIsInstance(refreshed.get("expires_in_ms"), int, repr(refreshed))
            # If no new refresh token is given, the old one stays usable (spec).
            current_refresh = refreshed.get("refresh_token", first_refresh)

            # The new token works through nio, and on the same device.
            nio_client = self.client(server, "alice", device_id="REFRESHDEV",
                                     access_token=second_access)
            who = await nio_client.whoami()
            self.assert_nio_ok(who, WhoamiResponse, "whoami with refreshed token")
            self.assertEqual((who.user_id, who.device_id), ("@alice:localhost", "REFRESHDEV"))

            if current_refresh != first_refresh:
                # The new access token has been used, so the old refresh token is revoked.
                status, body = await self.raw(raw, "POST", f"{V3}/refresh",
                                              {"refresh_token": first_refresh}, token=None)
                self.assertEqual((status, body.get("errcode")), (401, "M_UNKNOWN_TOKEN"),
                                 f"reusing a spent refresh token: {body!r}")

            status, body = await self.raw(raw, "POST", f"{V3}/refresh",
                                          {"refresh_token": "not-a-refresh-token"}, token=None)
            self.assertEqual((status, body.get("errcode")), (401, "M_UNKNOWN_TOKEN"), repr(body))

            await asyncio.sleep(refreshed["expires_in_ms"] / 1000 + 1.0)

            resp = await nio_client.whoami()
            self.assertIsInstance(resp, WhoamiError, f"expired token still accepted: {resp!r}")
            self.assert_nio_error(resp, 401, "M_UNKNOWN_TOKEN", "whoami with expired token")
            self.assertTrue(resp.soft_logout, "an expired access token must be a soft logout")
            await self.assert_token_rejected(raw, first_access, what="first (replaced) access token")

            # The refresh token outlives the access token: refreshing revives the session.
            status, again = await self.raw(raw, "POST", f"{V3}/refresh",
                                           {"refresh_token": current_refresh}, token=None)
            self.assertEqual(status, 200, f"/refresh after expiry: {again!r}")
            body = await self.assert_token_works(raw, again["access_token"], "@alice:localhost",
                                                 "access token refreshed after expiry")
            self.assertEqual(body.get("device_id"), "REFRESHDEV")

            # Logging the device out kills its refresh token too.
            latest_refresh = again.get("refresh_token", current_refresh)
            status, body = await self.raw(raw, "POST", f"{V3}/logout", {}, token=again["access_token"])
            self.assertEqual(status, 200, repr(body))
            status, body = await self.raw(raw, "POST", f"{V3}/refresh",
                                          {"refresh_token": latest_refresh}, token=None)
            self.assertEqual((status, body.get("errcode")), (401, "M_UNKNOWN_TOKEN"),
                             f"refresh token of a logged-out device: {body!r}")

        self.run_scenario(scenario)

    # ------------------------------------------------------------------ logout

    def test_logout_and_logout_all(self):
        server = self.start_server(OPEN_REGISTRATION)

        async def scenario():
            alice = await self.register(server, "alice", "logout pw")
            dev_a, token_a = alice.device_id, alice.access_token
            b = await self.password_login(server, "alice", "logout pw", device_id="DEVB")
            c = await self.password_login(server, "alice", "logout pw", device_id="DEVC")
            token_b, token_c = b.access_token, c.access_token

            status, body = await self.raw(b, "GET", f"{V3}/account/whoami", token=None)
            self.assertEqual((status, body.get("errcode")), (401, "M_MISSING_TOKEN"), repr(body))

            resp = await alice.logout()
            self.assert_nio_ok(resp, LogoutResponse, "logout")
            self.assertEqual(resp.transport_response.status, 200)
            body = await self.assert_token_rejected(b, token_a, what="logged-out token")
            self.assertFalse(body.get("soft_logout", False), f"logout is not a soft logout: {body!r}")
            # The device goes with the token; the others are untouched.
            self.assertEqual(set(await self.device_names(b)), {"DEVB", "DEVC"})
            self.assertNotIn(dev_a, await self.device_names(c))
            await self.assert_token_works(b, token_c, "@alice:localhost", "device C")

            resp = await b.logout(all_devices=True)
            self.assert_nio_ok(resp, LogoutResponse, "logout/all")
            for token, what in ((token_b, "device B"), (token_c, "device C")):
                await self.assert_token_rejected(c, token, what=f"{what} after logout/all")

            # The account itself is fine: a new login works and is the only device left.
            d = await self.password_login(server, "alice", "logout pw", device_id="DEVD")
            self.assertEqual(set(await self.device_names(d)), {"DEVD"})

        self.run_scenario(scenario)
