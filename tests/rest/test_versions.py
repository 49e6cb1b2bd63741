from tests.server import HomeserverTestCase


class VersionsTest(HomeserverTestCase):
    async def test_versions(self) -> None:
        r = await self.get("/_matrix/client/versions")
        self.assertEqual(r.code, 200)
        self.assertIn("v1.1", r.json["versions"])
        self.assertEqual(r.headers["access-control-allow-origin"], "*")

    async def test_capabilities_need_auth_and_list_room_versions(self) -> None:
        r = await self.get("/_matrix/client/v3/capabilities")
        self.assert_error(r, 401, "M_MISSING_TOKEN")
        user = await self.register("alice")
        r = await self.get("/_matrix/client/v3/capabilities", token=user["access_token"])
        caps = r.json["capabilities"]
        self.assertEqual(caps["m.change_password"], {"enabled": True})
        self.assertEqual(caps["m.room_versions"]["default"], "12")
        self.assertEqual(caps["m.room_versions"]["available"]["12"], "stable")
        self.assertEqual(caps["m.3pid_changes"], {"enabled": False})
        self.assertEqual(caps["m.set_displayname"], {"enabled": True})
        self.assertEqual(caps["m.set_avatar_url"], {"enabled": True})

    async def test_well_known(self) -> None:
        r = await self.get("/.well-known/matrix/client")
        self.assertEqual(r.json, {"m.homeserver": {"base_url": "https://matrix.test/"}})
        r = await self.get("/.well-known/matrix/server")
        self.assert_error(r, 404, "M_NOT_FOUND")


class ServerWellKnownTest(HomeserverTestCase):
    config_overrides = {"serve_server_wellknown": True, "extra_well_known_client_content": {"org.example": 1}}

    async def test_server_well_known(self) -> None:
        r = await self.get("/.well-known/matrix/server")
        self.assertEqual(r.json, {"m.server": "test:443"})
        r = await self.get("/.well-known/matrix/client")
        self.assertEqual(r.json["org.example"], 1)
