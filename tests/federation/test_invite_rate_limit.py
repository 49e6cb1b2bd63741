"""rc_invites.per_user for invites arriving over federation: the invited user's server refuses the
ones beyond it with 429, and the invite does not reach the user."""

from __future__ import annotations

from urllib.parse import quote

from tests.federation.two_servers import TwoServerTestCase

V3 = "/_matrix/client/v3"


class FederatedInviteLimitTest(TwoServerTestCase):
    async def test_invites_to_one_user_beyond_per_user_are_refused(self) -> None:
        alice, token_a = await self.register_on(self.site, "alice")
        bob, _ = await self.register_on(self.site_b, "bob")
        limiter = self.hs_b.membership_limiters.invite_per_user  # B's rc_invites.per_user: 1, then one per 10 s
        limiter.per_second, limiter.burst_count = 0.1, 1.0
        rooms = []
        for _ in range(2):
            r = await self.post(f"{V3}/createRoom", {"preset": "private_chat"}, token=token_a)
            self.assertEqual(r.code, 200, r.json)
            rooms.append(r.json["room_id"])

        async def invite(room_id: str):
            return await self.post(f"{V3}/rooms/{quote(room_id)}/invite", {"user_id": bob}, token=token_a)

        self.assertEqual((await invite(rooms[0])).code, 200)
        r = await invite(rooms[1])
        self.assertEqual((r.code, r.json.get("errcode")), (429, "M_LIMIT_EXCEEDED"), r.json)  # passed on by A
        self.assertIsNone(await self.hs_b.events_store.get_membership(rooms[1], bob))
        self.assertIsNone(await self.hs.events_store.get_membership(rooms[1], bob))
        self.advance(10)
        self.assertEqual((await invite(rooms[1])).code, 200)
        self.assertEqual((await self.hs_b.events_store.get_membership(rooms[1], bob))[0], "invite")
