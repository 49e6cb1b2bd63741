"""Shared-secret registration (the Synapse admin API) against the real server, then matrix-nio
logging in as the users it created."""

from __future__ import annotations

from nio import LoginResponse, WhoamiResponse

from tests.clients.nio_support import NioTestCase, user_id
from tests.clients.server_process import registration_mac


class SharedSecretRegistrationTestCase(NioTestCase):
    async def login_and_whoami(self, server, localpart, password):
        client = self.client(server, localpart)
        resp = await client.login(password, device_name="nio")
        self.assert_nio_ok(resp, LoginResponse, f"login {localpart}")
        self.assertEqual(resp.user_id, user_id(localpart))
        who = await client.whoami()
        self.assert_nio_ok(who, WhoamiResponse, f"whoami {localpart}")
        self.assertEqual((who.user_id, who.device_id), (user_id(localpart), resp.device_id))
        return client

    def test_register_admin_and_non_admin_then_login(self):
        # Registration closed to the public: shared-secret registration must still work.
        server = self.start_server({"enable_registration": False})

        async def scenario():
            for localpart, admin in (("root", True), ("plain", False)):
                body = server.register_admin_via_shared_secret(localpart, f"{localpart} pw", admin=admin)
                self.assertEqual(body.get("user_id"), user_id(localpart), repr(body))
                self.assertIsInstance(body.get("access_token"), str, repr(body))
                self.assertIsInstance(body.get("device_id"), str, repr(body))

                # The token from the registration response is a real one.
                probe = self.client(server)
                await self.assert_token_works(probe, body["access_token"], user_id(localpart),
                                              f"{localpart}'s registration token")

                client = await self.login_and_whoami(server, localpart, f"{localpart} pw")

                # The admin flag took effect: only the admin may use an admin-only API.
                status, listing = await self.raw(client, "GET", "/_synapse/admin/v1/registration_tokens")
                if admin:
                    self.assertEqual(status, 200, f"admin {localpart} refused: {listing!r}")
                    self.assertIsInstance(listing.get("registration_tokens"), list, repr(listing))
                else:
                    self.assertEqual((status, listing.get("errcode")), (403, "M_FORBIDDEN"),
                                     f"non-admin {localpart} on an admin API: {listing!r}")

        self.run_scenario(scenario)

    def test_wrong_mac_is_forbidden(self):
        server = self.start_server()

        async def scenario():
            nonce = server.get_registration_nonce()
            bad_mac = registration_mac("not the shared secret", nonce, "mallory", "pw", False)
            status, body = server.shared_secret_register("mallory", "pw", nonce=nonce, mac=bad_mac)
            self.assertEqual((status, body.get("errcode")), (403, "M_FORBIDDEN"), repr(body))

            # A MAC for different fields (claims admin=False, asks admin=True) is just as wrong.
            nonce = server.get_registration_nonce()
            mac = registration_mac(server.registration_shared_secret, nonce, "mallory", "pw", False)
            status, body = server.shared_secret_register("mallory", "pw", admin=True,
                                                         nonce=nonce, mac=mac)
            self.assertEqual((status, body.get("errcode")), (403, "M_FORBIDDEN"), repr(body))

            # Nobody was created.
            resp = await self.client(server, "mallory").login("pw")
            self.assertFalse(isinstance(resp, LoginResponse), "mallory exists after refused registrations")
            self.assert_nio_error(resp, 403, "M_FORBIDDEN", "login as never-registered mallory")

        self.run_scenario(scenario)

    def test_nonce_cannot_be_reused(self):
        server = self.start_server()

        async def scenario():
            nonce = server.get_registration_nonce()
            status, body = server.shared_secret_register("first", "pw one", nonce=nonce)
            self.assertEqual(status, 200, repr(body))

            status, body = server.shared_secret_register("second", "pw two", nonce=nonce)
            self.assertTrue(400 <= status < 500, f"nonce reuse accepted: {status} {body!r}")
            self.assertIsInstance(body, dict, repr(body))
            self.assertIsInstance(body.get("errcode"), str, f"not a Matrix error body: {body!r}")

            resp = await self.client(server, "second").login("pw two")
            self.assert_nio_error(resp, 403, "M_FORBIDDEN", "login as the user of the reused nonce")
            await self.login_and_whoami(server, "first", "pw one")

        self.run_scenario(scenario)

    def test_nonce_is_single_use_even_after_a_bad_mac(self):
        """A nonce burnt by a failed attempt cannot then be used with a correct MAC (otherwise a
        client could try MACs against one nonce indefinitely)."""
        server = self.start_server()

        async def scenario():
            nonce = server.get_registration_nonce()
            status, body = server.shared_secret_register("eve", "pw", nonce=nonce, mac="00" * 20)
            self.assertEqual((status, body.get("errcode")), (403, "M_FORBIDDEN"), repr(body))
            status, body = server.shared_secret_register("eve", "pw", nonce=nonce)
            self.assertTrue(400 <= status < 500, f"burnt nonce accepted: {status} {body!r}")

        self.run_scenario(scenario)
