"""Third-party lookups with no application service (so no protocol) on the server."""

from urllib.parse import quote

from tests.server import HomeserverTestCase

V3 = "/_matrix/client/v3"


class ThirdPartyTest(HomeserverTestCase):
    async def test_no_protocols(self) -> None:
        token = (await self.register("alice"))["access_token"]
        r = await self.get(f"{V3}/thirdparty/protocols", token=token)
        self.assertEqual((r.code, r.json), (200, {}))
        for path in ("/thirdparty/protocol/irc", "/thirdparty/location/irc?network=libera&channel=%23matrix",
                     "/thirdparty/user/irc?nickname=alice", "/thirdparty/location/irc", "/thirdparty/user/gitter"):
            self.assert_error(await self.get(f"{V3}{path}", token=token), 404, "M_NOT_FOUND")

    async def test_reverse_lookups_find_nothing(self) -> None:
        token = (await self.register("alice"))["access_token"]
        r = await self.get(f"{V3}/thirdparty/location?alias={quote('#room:test')}", token=token)
        self.assertEqual((r.code, r.json), (200, []))
        r = await self.get(f"{V3}/thirdparty/user?userid={quote('@alice:test')}", token=token)
        self.assertEqual((r.code, r.json), (200, []))
        self.assert_error(await self.get(f"{V3}/thirdparty/location", token=token), 400, "M_MISSING_PARAM")
        self.assert_error(await self.get(f"{V3}/thirdparty/user", token=token), 400, "M_MISSING_PARAM")

    async def test_needs_an_access_token(self) -> None:
        for path in ("/thirdparty/protocols", "/thirdparty/protocol/irc", "/thirdparty/location?alias=%23a:test",
                     "/thirdparty/user/irc"):
            self.assert_error(await self.get(f"{V3}{path}"), 401, "M_MISSING_TOKEN")
