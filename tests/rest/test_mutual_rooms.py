"""GET /v1/mutual_rooms and GET /v1/room_summary/{roomIdOrAlias}."""

from urllib.parse import quote

from homeserver.handlers import mutual_rooms
from tests.rest.test_old_sync import OldSyncTestCase

V1 = "/_matrix/client/v1"
V3 = "/_matrix/client/v3"


class MutualRoomsTest(OldSyncTestCase):
    async def test_shared_joined_rooms_in_pages(self) -> None:
        self.patch(mutual_rooms, "PAGE_SIZE", 2)
        await self.users()
        shared = []
        for _ in range(3):
            room_id = await self.create(self.alice, preset="public_chat")
            self.assertEqual((await self.post(f"{V3}/rooms/{quote(room_id)}/join", {}, token=self.bob)).code, 200)
            shared.append(room_id)
        await self.create(self.alice)  # Bob is not in this one
        await self.create(self.alice, invite=["@bob:test"])  # invited is not joined
        left = await self.create(self.alice, preset="public_chat")
        await self.post(f"{V3}/rooms/{quote(left)}/join", {}, token=self.bob)
        await self.post(f"{V3}/rooms/{quote(left)}/leave", {}, token=self.bob)

        first = await self.ok(f"{V1}/mutual_rooms?user_id=@bob:test", self.alice)
        self.assertEqual((len(first["joined"]), first["count"]), (2, 3))
        second = await self.ok(f"{V1}/mutual_rooms?user_id=@bob:test&from={quote(first['next_batch'])}", self.alice)
        self.assertNotIn("next_batch", second)
        self.assertEqual(first["joined"] + second["joined"], sorted(shared))
        # Unknown users share nothing.
        self.assertEqual(await self.ok(f"{V1}/mutual_rooms?user_id=@nobody:test", self.alice),
                         {"joined": [], "count": 0})

    async def test_bad_input(self) -> None:
        await self.users()
        for query, errcode in (("", "M_MISSING_PARAM"), ("user_id=bob", "M_INVALID_PARAM"),
                               ("user_id=@alice:test", "M_INVALID_PARAM"),
                               ("user_id=@bob:test&from=bogus", "M_INVALID_PARAM")):
            r = await self.get(f"{V1}/mutual_rooms?{query}", token=self.alice)
            self.assert_error(r, 400, errcode)
        self.assert_error(await self.get(f"{V1}/mutual_rooms?user_id=@bob:test"), 401, "M_MISSING_TOKEN")


class RoomSummaryTest(OldSyncTestCase):
    async def test_summary_by_id_and_alias(self) -> None:
        await self.users()
        room_id = await self.create(self.alice, preset="public_chat", name="Cheese", topic="Tasty",
                                    room_alias_name="cheese")
        body = await self.ok(f"{V1}/room_summary/{quote(room_id)}", self.alice)
        self.assertEqual({k: body[k] for k in ("room_id", "name", "topic", "num_joined_members", "join_rule",
                                               "world_readable", "guest_can_join", "membership")},
                         {"room_id": room_id, "name": "Cheese", "topic": "Tasty", "num_joined_members": 1,
                          "join_rule": "public", "world_readable": False, "guest_can_join": False,
                          "membership": "join"})
        self.assertEqual(body["canonical_alias"], "#cheese:test")
        self.assertIn("room_version", body)
        self.assertNotIn("children_state", body)
        # By alias, by someone who is not in it, and with no access token at all (public room).
        by_alias = await self.ok(f"{V1}/room_summary/{quote('#cheese:test')}", self.bob)
        self.assertEqual(by_alias["room_id"], room_id)
        self.assertNotIn("membership", by_alias)
        r = await self.get(f"{V1}/room_summary/{quote(room_id)}")
        self.assertEqual((r.code, r.json["name"]), (200, "Cheese"))
        self.assertNotIn("membership", r.json)

    async def test_private_rooms_only_for_those_in_them(self) -> None:
        await self.users()
        room_id = await self.create(self.alice, preset="private_chat", invite=["@bob:test"])
        body = await self.ok(f"{V1}/room_summary/{quote(room_id)}", self.bob)
        self.assertEqual(body["membership"], "invite")
        carol = (await self.register("carol"))["access_token"]
        self.assert_error(await self.get(f"{V1}/room_summary/{quote(room_id)}", token=carol), 404, "M_NOT_FOUND")
        self.assert_error(await self.get(f"{V1}/room_summary/{quote(room_id)}"), 404, "M_NOT_FOUND")
        self.assert_error(await self.get(f"{V1}/room_summary/{quote('!unknown:elsewhere')}", token=carol),
                          404, "M_NOT_FOUND")
        self.assert_error(await self.get(f"{V1}/room_summary/{quote('#nope:test')}", token=carol), 404, "M_NOT_FOUND")
        self.assert_error(await self.get(f"{V1}/room_summary/cheese", token=carol), 400, "M_INVALID_PARAM")
        self.assert_error(await self.get(f"{V1}/room_summary/{quote(room_id)}", token="bogus"),
                          401, "M_UNKNOWN_TOKEN")
