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


class ServerNameWithPortWellKnownTest(HomeserverTestCase):
    """A server name with its own port and no public_baseurl (issue 12 item 11): the port is not
    appended a second time, neither to the client's base URL nor to the delegated server."""

    config_overrides = {"server_name": "127.0.0.1:8448", "public_baseurl": None, "serve_server_wellknown": True}

    async def test_base_url_is_https_server_name(self) -> None:
        r = await self.get("/.well-known/matrix/client")
        self.assertEqual(r.json, {"m.homeserver": {"base_url": "https://127.0.0.1:8448/"}})
        r = await self.post("/_matrix/client/v3/register", {"username": "alice", "password": "pw"})
        r = await self.post("/_matrix/client/v3/register", {
            "username": "alice", "password": "pw", "auth": {"type": "m.login.dummy", "session": r.json["session"]}})
        self.assertEqual(r.json["user_id"], "@alice:127.0.0.1:8448")
        r = await self.post("/_matrix/client/v3/login", {
            "type": "m.login.password", "identifier": {"type": "m.id.user", "user": "alice"}, "password": "pw"})
        self.assertEqual(r.json["well_known"], {"m.homeserver": {"base_url": "https://127.0.0.1:8448/"}})

    async def test_server_well_known_keeps_the_names_port(self) -> None:
        r = await self.get("/.well-known/matrix/server")
        self.assertEqual(r.json, {"m.server": "127.0.0.1:8448"})
