"""POST /users/{userId}/report (spec v1.14)."""

from urllib.parse import quote

from tests.server import HomeserverTestCase

V3 = "/_matrix/client/v3"


class ReportUserTest(HomeserverTestCase):
    async def test_report_user(self) -> None:
        await self.register("alice")
        bob = (await self.register("bob"))["access_token"]
        # The reporter need share no room with the user.
        r = await self.post(f"{V3}/users/{quote('@alice:test')}/report", {"reason": "spam"}, token=bob)
        self.assertEqual((r.code, r.json), (200, {}))
        r = await self.post(f"{V3}/users/{quote('@mallory:elsewhere.example')}/report", {"reason": ""}, token=bob)
        self.assertEqual((r.code, r.json), (200, {}))  # a remote user cannot be checked: the report is kept
        reports = await self.hs.room_extras_store.get_user_reports("@alice:test")
        self.assertEqual([(x["user_id"], x["reason"]) for x in reports], [("@bob:test", "spam")])
        self.assertEqual(len(await self.hs.room_extras_store.get_user_reports("@mallory:elsewhere.example")), 1)

        await self.assert_rejected_without_change("POST", f"{V3}/users/{quote('@nobody:test')}/report",
                                                  {"reason": "x"}, 404, "M_NOT_FOUND", token=bob)
        await self.assert_rejected_without_change("POST", f"{V3}/users/{quote('@alice:test')}/report", {},
                                                  400, "M_MISSING_PARAM", token=bob)
        await self.assert_rejected_without_change("POST", f"{V3}/users/{quote('@alice:test')}/report",
                                                  {"reason": 5}, 400, "M_BAD_JSON", token=bob)
        await self.assert_rejected_without_change("POST", f"{V3}/users/alice/report", {"reason": "x"},
                                                  400, "M_INVALID_PARAM", token=bob)
        await self.assert_rejected_without_change("POST", f"{V3}/users/{quote('@alice:test')}/report",
                                                  {"reason": "x"}, 401, "M_MISSING_TOKEN")
