"""The user directory includes other servers' users who share a room with the searcher (spec:
client-server "User directory"; issue 15): found by the name in their join event, whether they
joined one of our rooms or one of ours joined theirs; not found by users who share no room."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from tests.federation.two_servers import TwoServerTestCase

V3 = "/_matrix/client/v3"


class RemoteUserDirectoryTest(TwoServerTestCase):
    async def search(self, token: str, term: str) -> list[str]:
        r = await self.post(f"{V3}/user_directory/search", {"search_term": term}, token=token)
        self.assertEqual(r.code, 200, r.json)
        return [u["user_id"] for u in r.json["results"]]

    async def named_user_b(self, name: str, display_name: str) -> tuple[str, str]:
        user_id, token = await self.register_on(self.site_b, name)
        r = await self.request("PUT", f"{V3}/profile/{quote(user_id)}/displayname", {"displayname": display_name},
                               token=token, site=self.site_b)
        self.assertEqual(r.code, 200, r.json)
        return user_id, token

    async def join_b(self, token: str, room_id: str) -> Any:
        r = await self.request("POST", f"{V3}/join/{quote(room_id)}", {}, token=token, site=self.site_b)
        self.assertEqual(r.code, 200, r.json)

    async def test_a_remote_user_who_joined_our_room(self) -> None:
        alice, token_a = await self.register_on(self.site, "alice")
        _, token_eve = await self.register_on(self.site, "eve")
        bob, token_b = await self.named_user_b("bob", "Bob Builder")
        r = await self.post(f"{V3}/createRoom", {"preset": "private_chat", "invite": [bob]}, token=token_a)
        await self.join_b(token_b, r.json["room_id"])
        self.assertEqual(await self.search(token_a, "builder"), [bob])
        self.assertEqual(await self.search(token_a, "bob"), [bob])
        self.assertEqual(await self.search(token_eve, "builder"), [])  # shares no room with bob
        # A new name in a new member event: found by it.
        r = await self.request("PUT", f"{V3}/profile/{quote(bob)}/displayname", {"displayname": "Robert"},
                               token=token_b, site=self.site_b)
        self.assertEqual(r.code, 200, r.json)

        async def renamed() -> bool:
            return await self.search(token_a, "robert") == [bob]

        await self.eventually(renamed)
        self.assertEqual(await self.search(token_a, "builder"), [])

    async def test_members_of_a_room_one_of_ours_joined_on_another_server(self) -> None:
        alice, token_a = await self.register_on(self.site, "alice")
        carol, token_c = await self.named_user_b("carol", "Carol Singer")
        dave, token_d = await self.named_user_b("dave", "Dave Drummer")
        r = await self.request("POST", f"{V3}/createRoom", {"preset": "public_chat"}, token=token_c, site=self.site_b)
        room_id = r.json["room_id"]
        await self.join_b(token_d, room_id)
        r = await self.post(f"{V3}/join/{quote(room_id)}?server_name={quote(carol.partition(':')[2])}", {},
                            token=token_a)
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual(await self.search(token_a, "singer"), [carol])
        self.assertEqual(await self.search(token_a, "drummer"), [dave])
