"""Client requests that need a server this one does not federate with (outside
federation_domain_whitelist, or not a valid server name) are refused with 403 M_FORBIDDEN: that is
this server's policy, not a failure of the other side, so never a 502. (Found by the spec fuzz test,
tests/clients/test_fuzz_client_api.py, which runs with federation switched off.)"""

from __future__ import annotations

from urllib.parse import quote

from tests.server import HomeserverTestCase


class FederationRefusedTest(HomeserverTestCase):
    config_overrides = {"federation_domain_whitelist": [], "enable_registration": True,
                        "enable_registration_without_verification": True}

    _token: str | None = None

    async def token(self) -> str:
        if self._token is None:
            self._token = (await self.register("alice"))["access_token"]
        return self._token

    async def assert_refused(self, method: str, path: str, body: object = None) -> None:
        token = await self.token()
        r = await self.request(method, path, body, token=token)
        self.assert_error(r, 403, "M_FORBIDDEN")
        self.assertIn("does not federate with", r.json["error"])

    async def test_remote_profile(self) -> None:
        await self.assert_refused("GET", "/_matrix/client/v3/profile/@bob:remote.example")

    async def test_remote_alias(self) -> None:
        await self.assert_refused("GET", "/_matrix/client/v3/directory/room/" + quote("#a:remote.example", safe=""))

    async def test_remote_public_rooms(self) -> None:
        await self.assert_refused("GET", "/_matrix/client/v3/publicRooms?server=remote.example")
        await self.assert_refused("POST", "/_matrix/client/v3/publicRooms?server=remote.example", {})

    async def test_join_and_knock_through_remote_servers(self) -> None:
        room = quote("!room:remote.example", safe="")
        await self.assert_refused("POST", f"/_matrix/client/v3/join/{room}?via=remote.example&via=other.example", {})
        await self.assert_refused("POST", f"/_matrix/client/v3/rooms/{room}/join", {})
        await self.assert_refused("POST", f"/_matrix/client/v3/knock/{room}?via=remote.example", {})

    async def test_invite_of_a_remote_user(self) -> None:
        token = await self.token()
        room_id = (await self.post("/_matrix/client/v3/createRoom", {}, token=token)).json["room_id"]
        r = await self.post(f"/_matrix/client/v3/rooms/{room_id}/invite", {"user_id": "@bob:remote.example"},
                            token=token)
        self.assert_error(r, 403, "M_FORBIDDEN")

    async def test_remote_media(self) -> None:
        await self.assert_refused("GET", "/_matrix/client/v1/media/download/remote.example/abcdef")
        await self.assert_refused("GET", "/_matrix/client/v1/media/download/remote.example/abcdef/a.txt")
